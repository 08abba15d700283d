"""Every change to identities and actions goes through here.

Status changes re-read the row with SELECT ... FOR UPDATE inside a transaction
and check the current status before writing, so two reviewers (or a reviewer
and the dispatcher) deciding at once cannot both win: the loser gets
InvalidTransition (409) and nothing is written. On SQLite the IMMEDIATE
transaction mode gives the same serialisation.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from accounts.actors import Actor
from accounts.models import Workspace
from config.exceptions import Conflict, DomainError, InvalidTransition, ValidationFailed
from contacts.models import Contact
from contacts.selectors import contact_for_recipient
from outreach.models import (
    FINAL_STATUSES,
    Action,
    ActionStatus,
    ActionTransition,
    ActionType,
    ApprovalDecision,
    Cadence,
    Channel,
    Decision,
    Enrollment,
    Identity,
    Step,
)
from outreach.params import LINKEDIN_PROFILE, normalise_email, normalise_phone, summary_of
from outreach.validation import check_action_fields

BULK_LIMIT = 500
logger = logging.getLogger("outreach.actions")


# --- Identities ---------------------------------------------------------------
def identity_clean_address(channel: str, address: str) -> str:
    from rest_framework.serializers import ValidationError

    try:
        if channel == Channel.EMAIL:
            return normalise_email(address)
        if channel in (Channel.SMS, Channel.PHONE):
            return normalise_phone(address)
        if channel == Channel.LINKEDIN:
            if not LINKEDIN_PROFILE.match(address.strip()):
                raise ValidationError(
                    "Must be a LinkedIn profile URL (https://www.linkedin.com/in/…)."
                )
            return address.strip()
    except ValidationError as exc:
        raise ValidationFailed(
            "Invalid identity address.", fields={"address": [str(m) for m in exc.detail]}
        ) from None
    raise ValidationFailed(
        f"Unknown channel {channel!r}.",
        fields={"channel": [f"Valid channels: {', '.join(Channel.values)}."]},
    )


def identity_create(
    *,
    workspace: Workspace,
    channel: str,
    address: str,
    display_name: str = "",
    owner: AbstractBaseUser | None = None,
    daily_limit: int | None = None,
    window_days: list[int] | None = None,
    window_start: dt.time | None = None,
    window_end: dt.time | None = None,
    timezone_name: str = "",
) -> Identity:
    address = identity_clean_address(channel, address)
    identity = Identity(
        workspace=workspace,
        channel=channel,
        address=address,
        display_name=display_name,
        owner=owner,
        daily_limit=daily_limit,
        window_start=window_start,
        window_end=window_end,
        timezone=timezone_name,
    )
    if window_days is not None:
        identity.window_days = sorted(set(window_days))
    try:
        with transaction.atomic():
            identity.save()
    except IntegrityError:
        raise Conflict(
            f"A {channel} identity with address {address} already exists.",
            code="duplicate_identity",
        ) from None
    return identity


IDENTITY_EDITABLE = {
    "display_name",
    "address",
    "daily_limit",
    "window_days",
    "window_start",
    "window_end",
    "timezone",
}


def identity_update(*, identity: Identity, changes: dict[str, Any]) -> Identity:
    unknown = set(changes) - IDENTITY_EDITABLE
    if unknown:
        raise ValidationFailed(fields={k: ["Not editable."] for k in sorted(unknown)})
    if "address" in changes:
        changes["address"] = identity_clean_address(identity.channel, changes["address"])
    if "window_days" in changes and changes["window_days"] is not None:
        changes["window_days"] = sorted(set(changes["window_days"]))
    for field, value in changes.items():
        setattr(identity, field, value)
    try:
        with transaction.atomic():
            identity.save()
    except IntegrityError:
        raise Conflict(
            "Another identity already has this address.", code="duplicate_identity"
        ) from None
    return identity


def identity_deactivate(*, identity: Identity) -> Identity:
    updated = Identity.objects.filter(pk=identity.pk, is_active=True).update(
        is_active=False, updated_at=timezone.now()
    )
    if not updated:
        raise Conflict("This identity is already deactivated.", code="already_deactivated")
    identity.is_active = False
    return identity


# --- Actions ------------------------------------------------------------------
def _record(action: Action, *, from_status: str, actor: Actor, reason: str = "") -> None:
    """Audit a transition; an outcome (a final status) on a contact also goes
    into the contact's timeline, and a cadence step's outcome advances its
    enrollment (outreach.cadences.enrollment_advance)."""
    if action.status in FINAL_STATUSES and action.contact_id:
        from contacts.services import event_record

        event_record(
            contact=action.contact,
            type=f"action.{action.status}",
            actor=actor,
            data={
                "action_id": action.public_id,
                "action_type": action.type,
                "summary": summary_of(action.type, action.params),
                "reason": reason,
            },
        )
    logger.info(
        "action_transition action=%s type=%s from=%s to=%s actor=%s reason=%r",
        action.public_id,
        action.type,
        from_status or "-",
        action.status,
        actor.label,
        reason,
    )
    ActionTransition.objects.create(
        workspace_id=action.workspace_id,
        action=action,
        from_status=from_status,
        to_status=action.status,
        actor=actor.user,
        actor_api_key=actor.api_key,
        actor_label=actor.label,
        reason=reason,
    )
    if action.status in FINAL_STATUSES and action.enrollment_id:
        # Every final transition passes here, so a cadence moves on (next step,
        # completion, or a stop) in the very transaction that finalised its
        # step's action: a worker dying after the commit cannot lose the advance.
        from outreach.cadences import enrollment_advance

        enrollment_advance(action=action)


def _dispatch_after_commit(action: Action) -> None:
    """Run a due-now action right away instead of at the next beat tick."""
    from outreach.tasks import dispatch_action

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
    cadence step's action (outreach.cadences schedules those)."""
    cleaned, errors = check_action_fields(
        workspace=workspace, type=type, params=params, identity=identity
    )
    if contact is not None and contact.workspace_id != workspace.pk:
        errors["contact_id"] = ["No such contact in this workspace."]
    if scheduled_time is not None and timezone.is_naive(scheduled_time):
        errors["scheduled_time"] = ["Must include a timezone offset."]
    if errors:
        raise ValidationFailed(f"Invalid input in: {', '.join(sorted(errors))}.", fields=errors)

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
        _record(action, from_status="", actor=actor, reason="created")
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
            if errors:
                raise ValidationFailed(
                    f"Invalid input in: {', '.join(sorted(errors))}.", fields=errors
                )
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
        ApprovalDecision.objects.create(
            workspace_id=locked.workspace_id,
            action=locked,
            decision=decision,
            reviewer=actor.user,
            reviewer_api_key=actor.api_key,
            reviewer_label=actor.label,
            comment=comment,
            params_before=before_params,
            params_after=locked.params,
            scheduled_time_before=before_time,
            scheduled_time_after=locked.scheduled_time,
        )
        _record(
            locked,
            from_status=ActionStatus.PENDING_APPROVAL,
            actor=actor,
            reason=f"{decision}: {comment}" if comment else decision,
        )
    return locked


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
    `actions` is the caller's visible queryset, so foreign ids are not found."""
    if len(action_ids) > BULK_LIMIT:
        raise ValidationFailed(fields={"action_ids": [f"At most {BULK_LIMIT} ids at once."]})
    wanted = list(dict.fromkeys(action_ids))  # de-duplicated, order kept
    found = {a.public_id: a for a in actions.filter(public_id__in=wanted)}
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
            decided = action_decide(
                action=action,
                actor=actor,
                decision=decision,
                comment=comment,
                params=params,
                scheduled_time=scheduled_time,
            )
        except DomainError as exc:
            outcomes.append(BulkOutcome(action_id, False, error=exc))
        else:
            outcomes.append(BulkOutcome(action_id, True, action=decided))
    return outcomes


def action_cancel(*, action: Action, actor: Actor, reason: str = "") -> Action:
    with transaction.atomic():
        locked = _lock(action)
        if locked.status not in (ActionStatus.PENDING_APPROVAL, ActionStatus.SCHEDULED):
            raise InvalidTransition(
                f"Action {locked.public_id} is {locked.status}; only pending or scheduled "
                "actions can be cancelled."
            )
        before = locked.status
        locked.status = ActionStatus.CANCELLED
        locked.save(update_fields=["status", "updated_at"])
        _record(locked, from_status=before, actor=actor, reason=reason or "cancelled")
    return locked


def action_execute_now(*, action: Action, actor: Actor) -> Action:
    """Make a scheduled action due now. An action awaiting approval is refused:
    executing must never bypass a required review."""
    with transaction.atomic():
        locked = _lock(action)
        if locked.status == ActionStatus.PENDING_APPROVAL:
            raise InvalidTransition(
                f"Action {locked.public_id} is awaiting approval; approve it first.",
                code="approval_required",
            )
        if locked.status != ActionStatus.SCHEDULED:
            raise InvalidTransition(
                f"Action {locked.public_id} is {locked.status}; only scheduled actions can be "
                "executed."
            )
        locked.scheduled_time = timezone.now()
        locked.direct = True
        locked.save(update_fields=["scheduled_time", "direct", "updated_at"])
        _record(locked, from_status=ActionStatus.SCHEDULED, actor=actor, reason="execute: due now")
        _dispatch_after_commit(locked)
    return locked


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
        _record(
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
        locked.save(
            update_fields=["status", "scheduled_time", "retry_count", "error_message", "updated_at"]
        )
        _record(locked, from_status=ActionStatus.FAILED, actor=actor, reason="retry requested")
        _dispatch_after_commit(locked)
    return locked
