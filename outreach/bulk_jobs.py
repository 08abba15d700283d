"""Bulk approve or reject in the background (job kind `outreach.bulk_decide`).

The approval queue decides up to `BACKGROUND_THRESHOLD` selected actions in
the request; past that ("select all N" across pages included) it captures the
selection's action ids in a job and a worker decides them `BATCH_SIZE` at a
time through `action_bulk_decide`, as the reviewer who started it (re-checked
when the job runs: a reviewer who lost `outreach.approve_action` or their
membership decides nothing). An action decided by someone else meanwhile, or
gone, is the job's error for its row (its place in the selection, oldest due
first), as in the synchronous path's message. Each decided action gets the same
admin history entry as a decision made in the request ("Approved: <comment>",
by that reviewer), written with its batch in one insert.
"""

from __future__ import annotations

from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth.models import AbstractUser
from django.db.models import QuerySet

from accounts.actors import Actor
from accounts.jobs import ItemError, JobRefused, job_kind_register
from accounts.models import BackgroundJob, Workspace
from accounts.selectors import scope_to_member
from accounts.services import background_job_start
from config.exceptions import InvalidTransition
from outreach.models import DECIDED, Action, Decision
from outreach.services import action_bulk_decide

KIND = "outreach.bulk_decide"
BACKGROUND_THRESHOLD = 100
BATCH_SIZE = 100
APPROVE_PERMISSION = "outreach.approve_action"
VERBS = {Decision.APPROVE: "Approve", Decision.REJECT: "Reject"}


def action_bulk_decide_start(
    *, user: AbstractUser, actions: QuerySet[Action], decision: str, comment: str = ""
) -> BackgroundJob:
    """Capture the ids of `actions` (oldest due first) and queue their decision."""
    if decision not in VERBS:
        raise ValueError(decision)
    rows = list(actions.order_by("scheduled_time", "id").values_list("public_id", "workspace_id"))
    workspace_ids = {workspace_id for _, workspace_id in rows}
    # One workspace: the job is that workspace's; several (a superuser's, or a
    # member of two): none, seen by superusers and its creator.
    workspace = (
        Workspace.objects.filter(pk=workspace_ids.pop()).first()
        if len(workspace_ids) == 1
        else None
    )
    verb = VERBS[decision]
    return background_job_start(
        workspace=workspace,
        user=user,
        kind=KIND,
        total=len(rows),
        description=f"{verb} {len(rows):,} actions",
        params={
            "action_ids": [public_id for public_id, _ in rows],
            "decision": decision,
            "comment": comment,
        },
    )


class _OpenBulkDecision:
    def __init__(self, job: BackgroundJob) -> None:
        user = job.created_by
        if user is None or not user.is_active or not user.has_perm(APPROVE_PERMISSION):
            raise JobRefused("The reviewer who started it may no longer approve actions.")
        self.actions = scope_to_member(user=user, queryset=Action.objects.all())
        self.actor = Actor.for_user(user)
        self.user_id = user.pk
        self.ids: list[str] = job.params["action_ids"]
        self.decision: str = job.params["decision"]
        self.comment: str = job.params.get("comment", "")

    def run(self, start: int, stop: int) -> list[ItemError]:
        outcomes = action_bulk_decide(
            actions=self.actions,
            action_ids=self.ids[start:stop],
            actor=self.actor,
            decision=self.decision,
            comment=self.comment,
        )
        decided = [o.action for o in outcomes if o.ok and o.action is not None]
        if decided:
            done = DECIDED[self.decision]
            LogEntry.objects.log_actions(
                user_id=self.user_id,
                queryset=decided,
                action_flag=CHANGE,
                change_message=f"{done}{': ' + self.comment if self.comment else ''}",
            )
        errors: list[ItemError] = []
        failed = [(row, o) for row, o in enumerate(outcomes, start=start + 1) if not o.ok]
        now = dict(
            Action.objects.filter(public_id__in=[o.action_id for _, o in failed]).values_list(
                "public_id", "status"
            )
        )
        for row, outcome in failed:
            if isinstance(outcome.error, InvalidTransition):
                message = (
                    f"Already decided by someone else (it is now {now.get(outcome.action_id)}); "
                    "nothing was changed."
                )
            else:
                message = outcome.error.message if outcome.error else "Not decided."
            errors.append(ItemError(row=row, key=outcome.action_id, message=message))
        return errors


class BulkDecision:
    name = KIND
    label = "Bulk approve / reject"
    key_label = "action"
    batch_size = BATCH_SIZE

    def open(self, job: BackgroundJob) -> _OpenBulkDecision:
        return _OpenBulkDecision(job)


def register() -> None:
    job_kind_register(BulkDecision())
