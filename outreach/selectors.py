"""Reads for outreach."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Count, IntegerField, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce

from accounts.models import ApiKey, Workspace
from config.queue import PermanentError
from outreach.models import (
    Action,
    Cadence,
    CadenceSharing,
    Enrollment,
    EnrollmentState,
    Identity,
    IdentityChannel,
    Step,
)


def actions_visible_to(
    *, api_key: ApiKey, actions: QuerySet[Action] | None = None
) -> QuerySet[Action]:
    """Admins see the workspace's actions; members only those they own
    (Salesloft's rule, applied on every facade)."""
    actions = (Action.objects.all() if actions is None else actions).for_workspace(
        api_key.workspace
    )
    actions = actions.select_related("identity", "owner", "contact")
    if not api_key.is_workspace_admin:
        actions = actions.filter(owner=api_key.user)
    return actions


# --- Cadences ----------------------------------------------------------------------
def cadences_visible_to(
    *, workspace: Workspace, user: AbstractBaseUser | None, is_admin: bool
) -> QuerySet[Cadence]:
    """Team cadences and the user's own personal ones; admins see every one."""
    cadences = Cadence.objects.for_workspace(workspace)
    if not is_admin:
        cadences = cadences.filter(Q(sharing=CadenceSharing.TEAM) | Q(owner=user))
    return cadences


def _counted(rows: QuerySet, group: str) -> Coalesce:
    """A correlated COUNT(*) subquery: one per column, never a join that multiplies rows."""
    counted = rows.order_by().values(group).annotate(n=Count("id")).values("n")
    return Coalesce(Subquery(counted, output_field=IntegerField()), 0)


def cadences_with_counts(cadences: QuerySet[Cadence]) -> QuerySet[Cadence]:
    return cadences.select_related("owner").annotate(
        steps_count=_counted(Step.objects.filter(cadence=OuterRef("pk")), "cadence"),
        active_enrollments_count=_counted(
            Enrollment.objects.filter(cadence=OuterRef("pk"), state=EnrollmentState.ACTIVE),
            "cadence",
        ),
    )


def enrollments_visible_to(
    *, workspace: Workspace, user: AbstractBaseUser | None, is_admin: bool
) -> QuerySet[Enrollment]:
    """Admins see the workspace's enrollments; members those whose actions they
    own (the enrollment's user), as for actions."""
    enrollments = Enrollment.objects.for_workspace(workspace)
    if not is_admin:
        enrollments = enrollments.filter(user=user)
    return enrollments


def can_change_cadence(*, cadence: Cadence, user: AbstractBaseUser | None, is_admin: bool) -> bool:
    """Admins change any cadence; members only those they own."""
    return is_admin or (user is not None and cadence.owner_id == user.pk)


def api_key_visibility(api_key: ApiKey) -> dict[str, Any]:
    return {
        "workspace": api_key.workspace,
        "user": api_key.user,
        "is_admin": api_key.is_workspace_admin,
    }


def email_identity_for(*, workspace: Workspace, to_address: str) -> Identity:
    """The active email identity a message was addressed to (a reply goes out from that
    mailbox), else the workspace's first. PermanentError when there is none: a step or
    hand-off that must send cannot, however often it retries."""
    identities = Identity.objects.for_workspace(workspace).filter(
        channel=IdentityChannel.EMAIL, is_active=True
    )
    to = to_address.lower()
    identity = next((i for i in identities if i.address.lower() == to), None)
    identity = identity or identities.order_by("id").first()
    if identity is None:
        raise PermanentError("No active email identity in this workspace to send from.")
    return identity
