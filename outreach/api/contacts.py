"""A contact's actions on its profile (GET /v1/contacts/{id}, contacts.api.views).

contacts sits below outreach and cannot read actions: OutreachConfig.ready sets
`contact_actions_of` as contacts.profile's reader.
"""

from __future__ import annotations

from django.db.models import Count

from contacts.models import Contact
from contacts.profile import ContactActions
from outreach.api.serializers import ActionSerializer
from outreach.models import Action


def contact_actions_of(contact: Contact, limit: int) -> ContactActions:
    """How many of the contact's actions are in each status, and the newest `limit`."""
    actions = Action.objects.filter(contact=contact)
    counts = dict(actions.values_list("status").annotate(n=Count("id")).order_by())
    recent = list(
        actions.select_related("identity", "owner", "contact").order_by("-created_at", "-id")[
            :limit
        ]
    )
    return ContactActions(counts=counts, recent=ActionSerializer(recent, many=True).data)
