"""Every change to actions goes through here.

Status changes re-read the row with SELECT ... FOR UPDATE inside a transaction
and check the current status before writing, so two reviewers (or a reviewer
and the dispatcher) deciding at once cannot both win: the loser gets
InvalidTransition (409) and nothing is written. On SQLite the IMMEDIATE
transaction mode gives the same serialisation. Every transition is recorded by
outreach.transitions, whose `action_finished` signal moves a cadence on
(outreach/receivers.py): this module does not call outreach.services.cadences.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from accounts.actors import Actor
from accounts.models import Workspace
from config.exceptions import Conflict, DomainError, InvalidTransition, ValidationFailed
from config.metrics import DECISION_SECONDS
from contacts.models import Contact
from contacts.selectors import contact_for_recipient
from outreach.models import (
    WAITING_STATUSES,
    Action,
    ActionStatus,
    ActionType,
    ApprovalDecision,
    Cadence,
    Decision,
    Enrollment,
    Identity,
    Step,
)
from outreach.tasks import dispatch_action
from outreach.transitions import transition_record
from outreach.validation import check_action_fields

BULK_LIMIT = 500


# --- Actions ------------------------------------------------------------------
def _dispatch_after_commit(action: Action) -> None:
    """Run a due-now action right away instead of at the next beat tick."""
    action_id = action.pk
    transaction.on_commit(lambda: dispatch_action.delay(action_id))


def _lock(action: Action) -> Action:
    return Action.objects.select_for_update().get(pk=action.pk)


def action_create(
    *,
    workspace: Workspace,
    actor: Actor,
    type: str,
    params: dict,
    identity: Identity,
    contact: Contact | None = None,
    scheduled_time: dt.datetime | None = None,
    direct: bool = False,
    require_approval: bool = False,
    list_id: str = "",
    item_id: str = "",
    description: str = "",
    multitouch_group_id: int | None = None,
    owner: AbstractBaseUser | None = None,
    cadence: Cadence | None = None,
    step: Step | None = None,
    enrollment: Enrollment | None = None,
) -> Action:
    """`owner` defaults to the actor's user; `cadence`/`step`/`enrollment` mark a
    cadence step's action (outreach.services.cadences schedules those)."""
    cleaned, errors = check_action_fields(
        workspace=workspace, type=type, params=params, identity=identity
    )
    if contact is not None and contact.workspace_id != workspace.pk:
        errors["contact_id"] = ["No such contact in this workspace."]
    if scheduled_time is not None and timezone.is_naive(scheduled_time):
        errors["scheduled_time"] = ["Must include a timezone offset."]
    ValidationFailed.raise_for(errors)

    if contact is None:
        contact = cleaned.get("contact") or contact_for_recipient(
            workspace=workspace, params=cleaned["params"]
        )
    now = timezone.now()
    # `direct` or no time means due now; a time in the past is due now as well.
    due = now if direct or scheduled_time is None else scheduled_time
    with transaction.atomic():
        action = Action.objects.create(
            workspace=workspace,
            type=cleaned["type"],
            params=cleaned["params"],
            identity=cleaned["identity"],
            contact=contact,
            owner=owner if owner is not None else actor.user,
            list_id=list_id,
            item_id=item_id,
            description=description,
            require_approval=require_approval,
            direct=direct,
            status=ActionStatus.PENDING_APPROVAL if require_approval else ActionStatus.SCHEDULED,
            scheduled_time=due,
            multitouch_group_id=multitouch_group_id,
            cadence=cadence,
            step=step,
            enrollment=enrollment,
        )
        transition_record(action, from_status="", actor=actor, reason="created")
        if direct and action.status == ActionStatus.SCHEDULED:
            _dispatch_after_commit(action)
    return action


def _merge_params(current: dict, changes: dict) -> dict:
    """A reviewer's edit is a partial update; a null value removes a key."""
    merged = dict(current)
    for key, value in changes.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


def _check_decision(
    *, decision: str, params: dict | None, scheduled_time: dt.datetime | None
) -> None:
    """The checks a decision's own arguments must pass, before any row is read."""
    if decision not in Decision.values:
        raise ValidationFailed(
            fields={"action": [f"Must be one of: {', '.join(Decision.values)}."]}
        )
    if decision == Decision.EDIT and params is None and scheduled_time is None:
        raise ValidationFailed(
            "An edit needs params and/or scheduled_time.",
            fields={"params": ["Give params and/or scheduled_time to edit."]},
        )
    if decision != Decision.EDIT and (params is not None or scheduled_time is not None):
        raise ValidationFailed(
            "Only an edit takes params or scheduled_time.",
            fields={"action": ["Use 'edit' to change params or scheduled_time."]},
        )
    if scheduled_time is not None and timezone.is_naive(scheduled_time):
        raise ValidationFailed(fields={"scheduled_time": ["Must include a timezone offset."]})


def action_decide(
    *,
    action: Action,
    actor: Actor,
    decision: str,
    comment: str = "",
    params: dict | None = None,
    scheduled_time: dt.datetime | None = None,
    expected_updated_at: dt.datetime | None = None,
) -> Action:
    """Approve, reject, or edit-and-approve an action awaiting approval.

    `expected_updated_at` is the version the reviewer saw: if the action changed
    since (an edit by someone else), the decision is refused with a 409, so a
    reviewer only ever approves exactly what was previewed."""
    _check_decision(decision=decision, params=params, scheduled_time=scheduled_time)

    with transaction.atomic():
        locked = _lock(action)
        if locked.status != ActionStatus.PENDING_APPROVAL:
            raise InvalidTransition(
                f"Action {locked.public_id} is {locked.status}; only actions pending approval "
                "can be approved, rejected or edited."
            )
        if expected_updated_at is not None and locked.updated_at != expected_updated_at:
            raise Conflict(
                f"Action {locked.public_id} changed since it was reviewed; review it again.",
                code="action_changed",
            )
        before_params, before_time = locked.params, locked.scheduled_time
        if decision == Decision.EDIT and params is not None:
            if not isinstance(params, dict):
                raise ValidationFailed(fields={"params": ["Must be an object."]})
            cleaned, errors = check_action_fields(
                workspace=locked.workspace,
                type=locked.type,
                params=_merge_params(locked.params, params),
                check_identity=False,
            )
            ValidationFailed.raise_for(errors)
            locked.params = cleaned["params"]
        if scheduled_time is not None:
            locked.scheduled_time = scheduled_time

        if decision == Decision.REJECT:
            locked.status = ActionStatus.REJECTED
        else:
            locked.status = ActionStatus.SCHEDULED
            if locked.direct:
                locked.scheduled_time = timezone.now()
                _dispatch_after_commit(locked)
        locked.save()
        _record_decision(
            locked,
            actor=actor,
            decision=decision,
            comment=comment,
            params_before=before_params,
            scheduled_time_before=before_time,
        )
    return locked


def _record_decision(
    locked: Action,
    *,
    actor: Actor,
    decision: str,
    comment: str,
    params_before: dict,
    scheduled_time_before: dt.datetime | None,
) -> None:
    """Store a reviewer's decision on a (locked, just saved) action that was
    pending approval, with the before/after params, and audit the transition."""
    waited = (timezone.now() - locked.created_at).total_seconds()
    transaction.on_commit(lambda: DECISION_SECONDS.observe(max(waited, 0.0)))
    ApprovalDecision.objects.create(
        workspace_id=locked.workspace_id,
        action=locked,
        decision=decision,
        reviewer=actor.user,
        reviewer_api_key=actor.api_key,
        reviewer_label=actor.label,
        comment=comment,
        params_before=params_before,
        params_after=locked.params,
        scheduled_time_before=scheduled_time_before,
        scheduled_time_after=locked.scheduled_time,
    )
    transition_record(
        locked,
        from_status=ActionStatus.PENDING_APPROVAL,
        actor=actor,
        reason=f"{decision}: {comment}" if comment else decision,
        decision=decision,
    )


@dataclass
class BulkOutcome:
    action_id: str
    ok: bool
    action: Action | None = None
    error: DomainError | None = None


def action_bulk_decide(
    *,
    actions: QuerySet[Action],
    action_ids: list[str],
    actor: Actor,
    decision: str,
    comment: str = "",
    params: dict | None = None,
    scheduled_time: dt.datetime | None = None,
) -> list[BulkOutcome]:
    """Decide each id on its own: one bad id does not block the others.
    `actions` is the caller's visible queryset, so foreign ids are not found.

    The decision's own arguments are checked once, up front: an `edit` with no
    changes (the seed's bulk body has no params) or an approve with params is
    one 400, not the same error repeated for every id. Per-id changes are
    action_bulk_edit's."""
    if len(action_ids) > BULK_LIMIT:
        raise ValidationFailed(fields={"action_ids": [f"At most {BULK_LIMIT} ids at once."]})
    if decision == Decision.EDIT and params is None and scheduled_time is None:
        raise ValidationFailed(
            "A bulk edit needs changes.",
            fields={
                "items": [
                    "Give items, one per action with its action_id and its own params "
                    "and/or scheduled_time, or params/scheduled_time shared by every id "
                    "in action_ids."
                ]
            },
        )
    _check_decision(decision=decision, params=params, scheduled_time=scheduled_time)
    wanted = list(dict.fromkeys(action_ids))  # de-duplicated, order kept
    found = {a.public_id: a for a in actions.filter(public_id__in=wanted)}
    return _decide_each(
        wanted,
        found,
        lambda action: action_decide(
            action=action,
            actor=actor,
            decision=decision,
            comment=comment,
            params=params,
            scheduled_time=scheduled_time,
        ),
    )


@dataclass(frozen=True)
class BulkEdit:
    """One action's changes in a bulk edit."""

    action_id: str
    params: dict | None = None
    scheduled_time: dt.datetime | None = None


def action_bulk_edit(
    *,
    actions: QuerySet[Action],
    items: list[BulkEdit],
    actor: Actor,
    comment: str = "",
) -> list[BulkOutcome]:
    """Edit-and-approve several actions, each with its own changes.

    Bad input anywhere is one ValidationFailed naming every bad field as
    `items[i].…` (an item with no changes, params its action's type refuses,
    an id listed twice), and nothing is written: an integrator fixes the body
    and resends it whole. Past that, each id is decided on its own as in
    action_bulk_decide: an unknown id or one no longer pending approval is that
    id's error and does not block the others."""
    if not items:
        raise ValidationFailed(fields={"items": ["Give at least one item."]})
    if len(items) > BULK_LIMIT:
        raise ValidationFailed(fields={"items": [f"At most {BULK_LIMIT} items at once."]})
    found = {
        a.public_id: a
        for a in actions.select_related("workspace").filter(
            public_id__in=[item.action_id for item in items]
        )
    }
    errors: dict[str, list[str]] = {}
    seen: set[str] = set()
    for index, item in enumerate(items):
        at = f"items[{index}]"
        if item.action_id in seen:
            errors[f"{at}.action_id"] = ["Listed more than once; give each action one item."]
        seen.add(item.action_id)
        if item.params is None and item.scheduled_time is None:
            errors[f"{at}.params"] = ["Give params and/or scheduled_time to edit."]
        elif item.params is not None and not isinstance(item.params, dict):
            errors[f"{at}.params"] = ["Must be an object."]
        elif item.params is not None and item.action_id in found:
            # Checked against the action's type and its current params, as
            # action_decide will under the lock; an unknown id has no type to
            # check against and is reported as not found below.
            action = found[item.action_id]
            _, field_errors = check_action_fields(
                workspace=action.workspace,
                type=action.type,
                params=_merge_params(action.params, item.params),
                check_identity=False,
            )
            for path, messages in field_errors.items():
                errors[f"{at}.{path}"] = messages
        if item.scheduled_time is not None and timezone.is_naive(item.scheduled_time):
            errors[f"{at}.scheduled_time"] = ["Must include a timezone offset."]
    ValidationFailed.raise_for(errors)
    changes = {item.action_id: item for item in items}
    return _decide_each(
        list(changes),
        found,
        lambda action: action_decide(
            action=action,
            actor=actor,
            decision=Decision.EDIT,
            comment=comment,
            params=changes[action.public_id].params,
            scheduled_time=changes[action.public_id].scheduled_time,
        ),
    )


def _decide_each(
    wanted: list[str], found: dict[str, Action], decide: Callable[[Action], Action]
) -> list[BulkOutcome]:
    outcomes: list[BulkOutcome] = []
    for action_id in wanted:
        action = found.get(action_id)
        if action is None:
            outcomes.append(
                BulkOutcome(
                    action_id, False, error=DomainError("No such action.", code="not_found")
                )
            )
            continue
        try:
            decided = decide(action)
        except DomainError as exc:
            outcomes.append(BulkOutcome(action_id, False, error=exc))
        else:
            outcomes.append(BulkOutcome(action_id, True, action=decided))
    return outcomes


def action_cancel(*, action: Action, actor: Actor, reason: str = "") -> Action:
    with transaction.atomic():
        locked = _lock(action)
        if locked.status not in WAITING_STATUSES:
            raise InvalidTransition(
                f"Action {locked.public_id} is {locked.status}; only pending or scheduled "
                "actions can be cancelled."
            )
        before = locked.status
        locked.status = ActionStatus.CANCELLED
        locked.save(update_fields=["status", "updated_at"])
        transition_record(locked, from_status=before, actor=actor, reason=reason or "cancelled")
    return locked


EXECUTE_APPROVAL_COMMENT = "approved by execute"


@dataclass(frozen=True)
class ExecuteOutcome:
    action: Action
    approved: bool  # this call approved the action (it was pending approval)


def action_execute_now(
    *, action: Action, actor: Actor, approve_pending: bool = False, comment: str = ""
) -> ExecuteOutcome:
    """Make an action due now and dispatch it at once.

    A scheduled action simply becomes due now. An action awaiting approval is
    refused (409 approval_required) unless `approve_pending`: the caller is a
    reviewer (an API key with actions:approve), and executing it is then an
    approval and a send, recorded as an `approve` ApprovalDecision (with
    `comment`, or "approved by execute") followed by the execute. Both happen
    under one row lock in one transaction, so a reviewer deciding at the same
    moment either wins (and this call finds the action decided) or loses with
    a 409: executing never bypasses a review nor races one."""
    with transaction.atomic():
        locked = _lock(action)
        approved = False
        if locked.status == ActionStatus.PENDING_APPROVAL:
            if not approve_pending:
                raise InvalidTransition(
                    f"Action {locked.public_id} is awaiting approval; approve it first, or "
                    "execute it with a key that has the actions:approve scope, which "
                    "approves and executes it in one step.",
                    code="approval_required",
                )
            before_params, before_time = locked.params, locked.scheduled_time
            locked.status = ActionStatus.SCHEDULED
            locked.scheduled_time = timezone.now()
            locked.direct = True
            locked.save(update_fields=["status", "scheduled_time", "direct", "updated_at"])
            _record_decision(
                locked,
                actor=actor,
                decision=Decision.APPROVE,
                comment=comment or EXECUTE_APPROVAL_COMMENT,
                params_before=before_params,
                scheduled_time_before=before_time,
            )
            approved = True
        elif locked.status == ActionStatus.SCHEDULED:
            locked.scheduled_time = timezone.now()
            locked.direct = True
            locked.save(update_fields=["scheduled_time", "direct", "updated_at"])
        else:
            raise InvalidTransition(
                f"Action {locked.public_id} is {locked.status}; only scheduled actions (or, "
                "for a reviewer, actions pending approval) can be executed."
            )
        reason = "execute: due now"
        transition_record(
            locked,
            from_status=ActionStatus.SCHEDULED,
            actor=actor,
            reason=f"{reason}: {comment}" if comment and not approved else reason,
        )
        _dispatch_after_commit(locked)
    return ExecuteOutcome(locked, approved)


def action_complete_task(*, action: Action, actor: Actor, note: str = "") -> Action:
    """A `task` is done by a person: scheduled → completed."""
    with transaction.atomic():
        locked = _lock(action)
        if locked.type != ActionType.TASK:
            raise InvalidTransition(
                f"Action {locked.public_id} is a {locked.type}; only tasks are completed by hand.",
                code="not_a_task",
            )
        if locked.status != ActionStatus.SCHEDULED:
            raise InvalidTransition(
                f"Action {locked.public_id} is {locked.status}; only a scheduled task can be "
                "completed."
            )
        locked.status = ActionStatus.COMPLETED
        locked.executed_at = timezone.now()
        locked.save(update_fields=["status", "executed_at", "updated_at"])
        transition_record(
            locked,
            from_status=ActionStatus.SCHEDULED,
            actor=actor,
            reason=f"completed: {note}" if note else "completed",
        )
    return locked


def action_retry(*, action: Action, actor: Actor) -> Action:
    """A failed action goes back in the queue, due now, with a fresh retry
    budget; its earlier attempts stay in its history."""
    with transaction.atomic():
        locked = _lock(action)
        if locked.status != ActionStatus.FAILED:
            raise InvalidTransition(
                f"Action {locked.public_id} is {locked.status}; only failed actions can be retried."
            )
        locked.status = ActionStatus.SCHEDULED
        locked.scheduled_time = timezone.now()
        locked.retry_count = 0
        locked.error_message = ""
        locked.failure_code = ""
        locked.save(
            update_fields=[
                "status",
                "scheduled_time",
                "retry_count",
                "error_message",
                "failure_code",
                "updated_at",
            ]
        )
        transition_record(
            locked, from_status=ActionStatus.FAILED, actor=actor, reason="retry requested"
        )
        _dispatch_after_commit(locked)
    return locked
