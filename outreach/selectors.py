"""Reads for outreach."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import (
    Count,
    DurationField,
    ExpressionWrapper,
    F,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
)
from django.db.models.functions import Coalesce, TruncHour

from accounts.models import ApiKey, Membership, Workspace
from config.queue import PermanentError
from outreach.models import (
    Action,
    ActionStatus,
    ApprovalDecision,
    Cadence,
    CadenceSharing,
    Decision,
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


# --- Reviewers (approval requests) ------------------------------------------------
APPROVE_PERMISSION = "outreach.approve_action"  # as outreach.admin.common decides


def _approve_permission_q(prefix: str = "") -> Q:
    """Holds `outreach.approve_action`: a superuser, or through the user's own
    permissions or a group's (Django's ModelBackend, in SQL)."""
    app_label, codename = APPROVE_PERMISSION.split(".")
    return (
        Q(**{f"{prefix}is_superuser": True})
        | Q(
            **{
                f"{prefix}user_permissions__codename": codename,
                f"{prefix}user_permissions__content_type__app_label": app_label,
            }
        )
        | Q(
            **{
                f"{prefix}groups__permissions__codename": codename,
                f"{prefix}groups__permissions__content_type__app_label": app_label,
            }
        )
    )


def reviewer_memberships() -> QuerySet[Membership]:
    """Memberships whose user may approve the workspace's actions, exactly as the
    admin decides (outreach.admin.common.can_approve, plus admin access): an
    active staff user holding `outreach.approve_action`, a member of the workspace."""
    holders = Membership.objects.filter(user__is_active=True, user__is_staff=True).filter(
        _approve_permission_q("user__")
    )
    return Membership.objects.filter(pk__in=holders.values("pk"))


def is_reviewer(*, user: AbstractBaseUser | None, workspace_id: int) -> Membership | None:
    """The user's membership of the workspace when they may decide its actions now."""
    if user is None or not (user.is_active and user.is_staff):
        return None
    if not user.has_perm(APPROVE_PERMISSION):
        return None
    return (
        Membership.objects.select_related("workspace")
        .filter(user=user, workspace_id=workspace_id)
        .first()
    )


def pending_per_reviewer(*, workspaces: QuerySet[Workspace]) -> list[Membership]:
    """The reviewers of `workspaces`, each with `notified_pending` (actions their
    approval emails told them about that still await a decision) and
    `workspace_pending` (everything awaiting approval in that workspace), in one
    query (the approval queue's "Pending per reviewer")."""
    workspace_pending = (
        Action.objects.filter(
            workspace_id=OuterRef("workspace_id"), status=ActionStatus.PENDING_APPROVAL
        )
        .order_by()
        .values("workspace_id")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return list(
        reviewer_memberships()
        .filter(workspace__in=workspaces)
        .select_related("user", "workspace")
        .annotate(
            notified_pending=Count(
                "approval_notices",
                filter=Q(approval_notices__action__status=ActionStatus.PENDING_APPROVAL),
            ),
            workspace_pending=Coalesce(Subquery(workspace_pending, output_field=IntegerField()), 0),
        )
        .order_by("workspace__name", "user__username")
    )


# --- Admin dashboard (the admin index's charts, outreach/admin/dashboard.py) ----------
# Each read below is one aggregate query over the workspaces given (the admin's
# `visible_workspaces`), whatever the number of actions; the view adds nothing per row.
# A finished action's time is its `updated_at`: the batch that completes or fails an
# action writes it (with `executed_at` on completion) and nothing updates a completed or
# failed row afterwards (a retry moves it out of `failed`). `action_ws_updated_idx`
# (workspace, updated_at) serves the range; decisions use `decision_ws_created_idx`.
DASHBOARD_RANGES: dict[str, int] = {"24h": 24, "7d": 7 * 24}  # hours per range
DASHBOARD_TOP_REVIEWERS = 10
_APPROVING = (Decision.APPROVE, Decision.EDIT)


@dataclass(frozen=True)
class DashboardWindow:
    """The hours a range covers: `hours` one-hour buckets in UTC, the last one the
    current (partial) hour."""

    start: dt.datetime
    hours: int

    @classmethod
    def ending(cls, now: dt.datetime, hours: int) -> DashboardWindow:
        this_hour = now.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)
        return cls(start=this_hour - dt.timedelta(hours=hours - 1), hours=hours)

    def buckets(self) -> list[dt.datetime]:
        return [self.start + dt.timedelta(hours=i) for i in range(self.hours)]

    def index_of(self, hour: dt.datetime) -> int | None:
        i = int((hour - self.start).total_seconds() // 3600)
        return i if 0 <= i < self.hours else None


def dashboard_activity(*, workspaces: QuerySet[Workspace], window: DashboardWindow) -> dict:
    """Actions completed and failed per hour, by type: `{type: {"completed": [n per
    hour], "failed": [...]}}` (types with none left out), in one grouped query."""
    rows = (
        Action.objects.filter(
            workspace__in=workspaces,
            status__in=[ActionStatus.COMPLETED, ActionStatus.FAILED],
            updated_at__gte=window.start,
        )
        .annotate(hour=TruncHour("updated_at", tzinfo=dt.UTC))
        .order_by()  # Action's default ordering would join the GROUP BY
        .values("hour", "type", "status")
        .annotate(n=Count("pk"))
    )
    series: dict[str, dict[str, list[int]]] = {}
    for row in rows:
        i = window.index_of(row["hour"])
        if i is None:
            continue
        counts = series.setdefault(
            row["type"], {"completed": [0] * window.hours, "failed": [0] * window.hours}
        )
        counts[row["status"]][i] += row["n"]
    return series


def dashboard_queue(
    *, workspaces: QuerySet[Workspace], window: DashboardWindow, now: dt.datetime
) -> dict:
    """The approval queue now (depth, overdue) and the decisions of the range: how many
    and the median time from an action's creation (when it entered the queue) to its
    decision. Three queries: the queue's count, the decisions' count, then the one or
    two middle decisions by waiting time (exact, on SQLite and PostgreSQL alike)."""
    queue = Action.objects.filter(
        workspace__in=workspaces, status=ActionStatus.PENDING_APPROVAL
    ).aggregate(depth=Count("pk"), overdue=Count("pk", filter=Q(scheduled_time__lte=now)))
    decisions = ApprovalDecision.objects.filter(
        workspace__in=workspaces, created_at__gte=window.start
    )
    decided = decisions.count()
    middle = (max(decided - 1, 0) // 2, decided // 2 + 1)  # one row when odd, two when even
    waits = list(
        decisions.annotate(
            wait=ExpressionWrapper(
                F("created_at") - F("action__created_at"), output_field=DurationField()
            )
        )
        .order_by("wait", "pk")
        .values_list("wait", flat=True)[middle[0] : middle[1]]
    )
    median = sum(w.total_seconds() for w in waits) / len(waits) if waits else None
    return {**queue, "decided": decided, "median_seconds": median}


def dashboard_reviewers(
    *,
    workspaces: QuerySet[Workspace],
    window: DashboardWindow,
    limit: int = DASHBOARD_TOP_REVIEWERS,
) -> list[dict]:
    """Decisions per reviewer in the range (approved, edited counted as approved, and
    rejected), the `limit` busiest first, in one grouped query. A reviewer is the
    decision's `reviewer_label` (`admin:<username>`, `api:<key> (<username>)`)."""
    return list(
        ApprovalDecision.objects.filter(workspace__in=workspaces, created_at__gte=window.start)
        .order_by()
        .values("reviewer_label")
        .annotate(
            approved=Count("pk", filter=Q(decision__in=_APPROVING)),
            rejected=Count("pk", filter=Q(decision=Decision.REJECT)),
            total=Count("pk"),
        )
        .order_by("-total", "reviewer_label")[:limit]
    )


def dashboard_oldest_waiting(*, workspaces: QuerySet[Workspace]) -> dict | None:
    """The action that has waited longest for approval (created first), or None; one
    query (`action_ws_status_idx`: workspace, status, created_at)."""
    return (
        Action.objects.filter(workspace__in=workspaces, status=ActionStatus.PENDING_APPROVAL)
        .order_by("created_at", "pk")
        .values("pk", "public_id", "type", "created_at", "scheduled_time", "workspace__name")
        .first()
    )


def dashboard_failures(*, workspaces: QuerySet[Workspace], window: DashboardWindow) -> list[dict]:
    """Actions that failed in the range, by `failure_code`, most first; one query."""
    return list(
        Action.objects.filter(
            workspace__in=workspaces,
            status=ActionStatus.FAILED,
            updated_at__gte=window.start,
        )
        .order_by()
        .values("failure_code")
        .annotate(n=Count("pk"))
        .order_by("-n", "failure_code")
    )
