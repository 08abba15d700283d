"""What an event's `data` is: the resource exactly as its /v1 read endpoint
returns it, built with that endpoint's serializer and queries, at the moment of
the change (inside its transaction).

- actions: GET /v1/actions/{id}'s `action` (ActionDetailSerializer), for many
  actions in four queries whatever their number;
- contacts: the `contact` of GET /v1/contacts/{id} (ContactSerializer);
- enrollments: GET /v1/enrollments/{id}'s `enrollment` (EnrollmentSerializer
  over the endpoint's `with_details` query).
"""

from __future__ import annotations

from collections.abc import Iterable

from contacts.api.serializers import ContactSerializer
from contacts.models import Contact
from outreach.api.cadences import EnrollmentSerializer, with_details
from outreach.api.serializers import ActionDetailSerializer
from outreach.models import Action, Enrollment


def actions_data(action_ids: Iterable[int]) -> dict[int, dict]:
    """{action pk: its GET /v1/actions/{id} body}, read afresh."""
    actions = (
        Action.objects.filter(pk__in=list(action_ids))
        .select_related("identity", "contact", "owner")
        .prefetch_related("decisions", "attempts")
    )
    return {action.pk: ActionDetailSerializer(action).data for action in actions}


def contact_data(contact: Contact) -> dict:
    return ContactSerializer(contact).data


def enrollment_data(enrollment: Enrollment) -> dict:
    fresh = with_details(Enrollment.objects.filter(pk=enrollment.pk)).first()
    return EnrollmentSerializer(fresh or enrollment).data
