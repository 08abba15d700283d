"""Reads for contacts."""

from __future__ import annotations

from django.db.models import F, QuerySet
from django.db.models.functions import Lower

from accounts.models import Workspace
from contacts.models import Contact


def contact_for_recipient(*, workspace: Workspace, params: dict) -> Contact | None:
    """The workspace's contact an action reaches, matched on the recipient's
    email (case-insensitive), phone (E.164) or LinkedIn profile URL."""
    return contacts_for_recipients(lookups=[(workspace.pk, params)])[0]


def _recipient_key(params: dict) -> tuple[str, str] | None:
    """(what to match, its value) for an action's params, in precedence order."""
    if params.get("contact_id"):
        return "public_id", str(params["contact_id"])
    if params.get("thread_id") and not params.get("to"):
        # A reply in a thread reaches the thread's contact.
        return "thread", str(params["thread_id"])
    if params.get("to"):
        return "email", str(params["to"]).lower()
    if params.get("recipient_phone"):
        return "phone", str(params["recipient_phone"])
    if params.get("profile_url"):
        return "linkedin", str(params["profile_url"]).rstrip("/")
    return None


def contacts_for_recipients(*, lookups: list[tuple[int, dict]]) -> list[Contact | None]:
    """contact_for_recipient for many (workspace id, params) at once: one query
    per kind of recipient present (at most five), whatever the number of
    lookups; the oldest contact wins where several match."""
    keys = [_recipient_key(params) for _, params in lookups]
    wanted: dict[str, set[tuple[int, str]]] = {}
    for (workspace_id, _), key in zip(lookups, keys, strict=True):
        if key is not None:
            wanted.setdefault(key[0], set()).add((workspace_id, key[1]))
    found: dict[tuple[str, int, str], Contact] = {}
    for kind, pairs in wanted.items():
        workspaces = {workspace_id for workspace_id, _ in pairs}
        values = {value for _, value in pairs}
        contacts = Contact.objects.filter(workspace_id__in=workspaces).order_by("-id")
        if kind == "public_id":
            rows = ((c, c.public_id) for c in contacts.filter(public_id__in=values))
        elif kind == "thread":
            contacts = contacts.filter(conversations__public_id__in=values).annotate(
                thread=F("conversations__public_id")
            )
            rows = ((c, c.thread) for c in contacts)
        elif kind == "email":
            contacts = contacts.annotate(email_lower=Lower("email")).filter(email_lower__in=values)
            rows = ((c, c.email_lower) for c in contacts)
        elif kind == "phone":
            rows = ((c, c.phone) for c in contacts.filter(phone__in=values))
        else:
            urls = values | {f"{url}/" for url in values}
            rows = ((c, c.linkedin_url.rstrip("/")) for c in contacts.filter(linkedin_url__in=urls))
        for contact, value in rows:  # newest first, so the oldest match is kept
            found[(kind, contact.workspace_id, value)] = contact
    return [
        found.get((key[0], workspace_id, key[1])) if key else None
        for (workspace_id, _), key in zip(lookups, keys, strict=True)
    ]


def contacts_filtered(*, workspace: Workspace, filters: dict) -> QuerySet[Contact]:
    """The list endpoint's query (also measured by bench/contacts.py). `filters`
    are validated values from ContactListParams."""
    contacts = Contact.objects.for_workspace(workspace).select_related("company")
    exact = {
        "status": "enrichment_status",
        "lifecycle_stage": "lifecyclestage",
    }
    for param, column in exact.items():
        if filters.get(param):
            contacts = contacts.filter(**{column: filters[param]})
    for param, column in {
        "lead_status": "lead_status",
        "country": "country",
        "industry": "industry",
        "city": "city",
        "state": "state",
    }.items():
        if filters.get(param):
            contacts = contacts.filter(**{f"{column}__iexact": filters[param]})
    if filters.get("job_title"):
        contacts = contacts.filter(jobtitle__icontains=filters["job_title"])
    if filters.get("has_linkedin") is not None:
        if filters["has_linkedin"]:
            contacts = contacts.exclude(linkedin_url="")
        else:
            contacts = contacts.filter(linkedin_url="")
    if filters.get("company_id"):
        contacts = contacts.filter(company__public_id=filters["company_id"])
    if filters.get("created_after"):
        contacts = contacts.filter(created_at__gt=filters["created_after"])
    if filters.get("created_before"):
        contacts = contacts.filter(created_at__lt=filters["created_before"])
    if filters.get("search"):
        # One LIKE on the denormalised search text; a trigram index serves it on
        # PostgreSQL. Every word must match, in any field.
        # Words under 3 characters cannot use a trigram index: they are dropped
        # when a longer word narrows the search anyway.
        words = filters["search"].lower().split()[:8]
        if any(len(w) >= 3 for w in words):
            words = [w for w in words if len(w) >= 3]
        for word in words:
            contacts = contacts.filter(search_text__contains=word)
    return contacts


SORT_COLUMNS = {
    "email": "email",
    "firstname": "firstname",
    "lastname": "lastname",
    "company": "company__name",
    "createdate": "created_at",
}


def contacts_sorted(contacts: QuerySet[Contact], *, sort_by: str, sort_dir: str):
    sign = "-" if sort_dir == "desc" else ""
    return contacts.order_by(f"{sign}{SORT_COLUMNS[sort_by]}", f"{sign}id")
