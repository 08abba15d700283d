"""The automations admin (seed 004): what can run, when, and what did run.

- **Action definitions** (`definitions.py`): the seed's field groups as
  fieldsets, only those fitting the chosen type shown (the mapping is in that
  module's docstring); JSON settings checked with readable errors on the field;
  the password and token write-only; custom fields inline; a Test button on
  ApiCall definitions that sends the request with a sample context and shows
  it (Authorization redacted) with the answer (`api_test.py`).
- **Topics** and **channels** (`topics.py`), with their topic and hook links
  inline, lowest priority first; keywords and patterns one per line.
- **Topic actions** and **hook actions** (`links.py`): every link in one list,
  e.g. to link a definition to PostTopicDetection.
- **Hook runs** (`runs.py`): read-only, with their steps (status, due time,
  error, result) for debugging.

Every write goes through `automations.services`, validated by a rolled-back dry
run of the same service call first, so errors show on the form and nothing is
half-written (the admin saves the page in one transaction).

Tenancy (accounts.admin.common): a superuser sees every workspace, other staff
only their workspaces. Another workspace's rows are not listed, their pages are
"not found", and no choice (workspace, topic, channel, action) offers them; on
an existing object the choices are limited to its own workspace.
"""

from automations.admin import definitions, links, runs, topics  # noqa: F401  (registers the admins)
