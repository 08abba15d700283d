"""Reads for contacts."""

from __future__ import annotations

from django.db.models import QuerySet
from django.db.models.functions import Lower

from accounts.models import Workspace
from contacts.models import Contact


def contact_for_recipient(*, workspace: Workspace, params: dict) -> Contact | None:
    """The workspace's contact an action reaches, matched on the recipient's
    email (case-insensitive), phone (E.164) or LinkedIn profile URL."""
    contacts: QuerySet[Contact] = Contact.objects.for_workspace(workspace)
    if params.get("contact_id"):
        return contacts.filter(public_id=params["contact_id"]).first()
    if params.get("thread_id") and not params.get("to"):
        # A reply in a thread reaches the thread's contact.
        return contacts.filter(conversations__public_id=params["thread_id"]).first()
    if params.get("to"):
        return (
            contacts.annotate(email_lower=Lower("email"))
            .filter(email_lower=str(params["to"]).lower())
            .first()
        )
    if params.get("recipient_phone"):
        return contacts.filter(phone=params["recipient_phone"]).order_by("id").first()
    if params.get("profile_url"):
        url = str(params["profile_url"]).rstrip("/")
        return contacts.filter(linkedin_url__in=[url, f"{url}/"]).order_by("id").first()
    return None


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
