"""The CRM admin: contacts (with CSV import/export) and companies.

- **Contacts**: list with suppression at a glance (badges), filters and search;
  the detail page groups the fields and shows notes (editable), the latest
  timeline events and the conversations. Every write goes through
  `contacts.services` (create, update, suppress, delete, notes), exactly like
  the API, so each change is an event in the contact's timeline and is
  validated by the same rules. CSV import/export: `contacts.resources`.
- **Companies**: list with contact counts; edits through `company_update`.

Tenancy (accounts.admin.common): a superuser sees every workspace, other staff
only the workspaces they are members of (another workspace's contact is not
listed and its page is "not found").
"""

from contacts.admin import companies, contacts  # noqa: F401  (registers the admins)
