"""Cadences (sequences): every change to cadences, steps and enrollments.

A **cadence** is an ordered list of **steps**; enrolling a contact creates an
**enrollment** that walks the steps one at a time. Each step becomes one
outreach `Action`, created through `outreach.services.action_create`, so
validation, approval, the audit trail and execution are exactly those of any
other action.

Semantics (decisions where the seeds are silent):

- **Days** are Salesloft's: day 1 is the day of enrollment. A step is due at
  `max(now, started_at + (day - 1) days)`, i.e. at the enrollment's time of day
  on its day; the execution engine then defers it to the identity's sending
  window (outreach.sending_rules), so windows are not re-implemented here.
  Several steps on the same day run one after another.
- **One step at a time**: enrolling schedules the first step (by `order`); the
  next step is scheduled only when the current step's action reaches a final
  state. `completed` → next step; `rejected` or `cancelled` by a person → the
  step is skipped, next step (a reviewer rejecting a draft does not end the
  sequence); `failed` → the enrollment stops with `step_failed` (or `bounced`,
  `unsubscribed`, `do_not_contact` when the engine failed it because the
  contact is suppressed). After the last step the enrollment is `completed`.
- **Stops** (`enrollment_stop`): active → stopped with a reason and note, and
  every `pending_approval`/`scheduled` action of the enrollment is cancelled
  through `outreach.services.action_cancel`, the reason in its audit trail.
  Replies, bounces, unsubscribes and do-not-contact stop every active
  enrollment of the contact (outreach.receivers, automations.services.inbound).
- **Params** are the step's `params_template` rendered per contact in the
  template sandbox (`config.templating.render`, lenient: a missing
  value renders empty) with `contact` (all its properties, plus `id` and
  `name`), `sender` (`name`, `address` of the identity), `cadence` (`name`) and
  `step` (`order`, `day`, `name`, `type`). The recipient defaults to the
  contact (`to` = its email, `recipient_phone` = its phone, `profile_url` = its
  LinkedIn URL; a task's `title` = the step's name); a key the template gives
  wins. Values that render empty are dropped, so an empty optional field is
  absent and an empty required one is "required". Saving a step renders its
  template against a sample contact and validates the result exactly as an
  action's params, so a bad template is a 400 naming `params_template.<key>`;
  so is a variable the vocabulary does not know (`{{ contact.frist_name }}`:
  outreach.step_templates.step_vocabulary, contacts.vocabulary).
- **Identity**: the step's own, else the enrollment user's first active
  identity of the step's channel, else the workspace's first active one. None
  → enrolling is refused (first step) or the enrollment stops (`step_failed`).

Concurrency: `enrollment_advance` runs inside the transaction that finalises
the action (outreach.transitions sends `action_finished`, outreach.receivers
connects it here), so a worker dying afterwards cannot
lose the next step; it locks the enrollment row and acts only while
`current_step` is the action's step, so a second call for the same action does
nothing. Locks are taken in one order everywhere — cadence, then contact, then
enrollment (an action being finalised comes first of all) — and a stop locks
the actions it cancels with SKIP LOCKED: an action someone else holds is left
alone, and the engine cancels it instead of sending it if its enrollment is no
longer active (outreach.execution._start). The contact is locked FOR NO KEY
UPDATE: it serialises enrolling, advancing and stopping with each other and
with the contacts services' FOR UPDATE (a suppression), but does not conflict
with the KEY SHARE lock every timeline event takes on its contact, so two
transactions that each wrote an event first (a worker finishing a step, an
inbound reply) queue for the contact instead of deadlocking on an upgrade.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, connection, transaction
from django.db.models import Max
from django.utils import timezone

from accounts.actors import Actor
from accounts.models import Membership, Workspace
from config.exceptions import (
    Conflict,
    DomainError,
    InvalidTransition,
    NotFound,
    ValidationFailed,
)
from contacts.models import Contact
from contacts.services import event_record
from outreach.models import (
    FINAL_STATUSES,
    STEP_ACTION_TYPES,
    TYPE_CHANNELS,
    WAITING_STATUSES,
    Action,
    ActionStatus,
    Cadence,
    CadenceSharing,
    Enrollment,
    EnrollmentState,
    FailureCode,
    Identity,
    Step,
    StepType,
    StopReason,
)
from outreach.services import action_cancel, action_create
from outreach.signals import enrollment_stopped
from outreach.step_templates import (
    SAMPLE_CONTACT,
    SAMPLE_SENDER,
    contact_context,
    render_step_params,
    step_context,
    step_vocabulary,
)
from outreach.validation import identity_problem

logger = logging.getLogger("outreach.services.cadences")

CADENCES = Actor.system("cadences")
MAX_NAME = 200
MAX_NOTE = 500

# Which suppression flag a stop reason stands for.
SUPPRESSION_STOP_REASONS = {
    "unsubscribed": StopReason.UNSUBSCRIBED,
    "bounced": StopReason.BOUNCED,
    "do_not_contact": StopReason.DO_NOT_CONTACT,
}


# --- Cadences -------------------------------------------------------------------------
def _clean_name(name: Any, errors: dict[str, list[str]]) -> str:
    if not isinstance(name, str) or not name.strip():
        errors["name"] = ["This field is required."]
        return ""
    if len(name.strip()) > MAX_NAME:
        errors["name"] = [f"At most {MAX_NAME} characters."]
    return name.strip()


def _check_sharing(sharing: Any, errors: dict[str, list[str]]) -> None:
    if sharing not in CadenceSharing.values:
        errors["sharing"] = [f"Must be one of: {', '.join(CadenceSharing.values)}."]


def _check_owner(workspace: Workspace, owner: Any, errors: dict[str, list[str]]) -> None:
    if (
        owner is not None
        and not Membership.objects.filter(workspace=workspace, user=owner).exists()
    ):
        errors["owner"] = ["Not a member of this workspace."]


def cadence_create(
    *,
    workspace: Workspace,
    actor: Actor,
    name: str,
    sharing: str = CadenceSharing.TEAM,
    is_active: bool = True,
    owner: AbstractBaseUser | None = None,
) -> Cadence:
    """A new cadence, owned by `owner` (default: the actor's user when a member
    of the workspace, as a superuser in the admin may not be)."""
    member = Membership.objects.filter(workspace=workspace, user=actor.user)
    if owner is None and actor.user is not None and member.exists():
        owner = actor.user
    errors: dict[str, list[str]] = {}
    name = _clean_name(name, errors)
    _check_sharing(sharing, errors)
    _check_owner(workspace, owner, errors)
    if sharing == CadenceSharing.PERSONAL and owner is None:
        errors["sharing"] = ["A personal cadence needs an owner."]
    ValidationFailed.raise_for(errors)
    cadence = Cadence.objects.create(
        workspace=workspace, name=name, sharing=sharing, is_active=bool(is_active), owner=owner
    )
    logger.info("cadence_created cadence=%s actor=%s", cadence.pk, actor.label)
    return cadence


CADENCE_EDITABLE = {"name", "sharing", "is_active", "owner"}


def cadence_update(*, cadence: Cadence, actor: Actor, changes: dict[str, Any]) -> Cadence:
    """Change a cadence. Deactivating it stops its active enrollments
    (`cadence_deactivated`), cancelling their pending actions; reactivating
    restarts nothing."""
    unknown = set(changes) - CADENCE_EDITABLE
    if unknown:
        raise ValidationFailed(fields={k: ["Not editable."] for k in sorted(unknown)})
    errors: dict[str, list[str]] = {}
    if "name" in changes:
        changes["name"] = _clean_name(changes["name"], errors)
    if "sharing" in changes:
        _check_sharing(changes["sharing"], errors)
    if "owner" in changes:
        _check_owner(cadence.workspace, changes["owner"], errors)
    ValidationFailed.raise_for(errors)
    with transaction.atomic():
        # The cadence row is the first lock (enrollment_create takes it too), so an
        # enrollment cannot slip in while the cadence is being deactivated.
        locked = Cadence.objects.select_for_update().get(pk=cadence.pk)
        sharing = changes.get("sharing", locked.sharing)
        owner_id = changes["owner"].pk if changes.get("owner") else None
        if "owner" not in changes:
            owner_id = locked.owner_id
        if sharing == CadenceSharing.PERSONAL and owner_id is None:
            raise ValidationFailed(fields={"sharing": ["A personal cadence needs an owner."]})
        deactivating = locked.is_active and changes.get("is_active") is False
        for field, value in changes.items():
            setattr(locked, field, bool(value) if field == "is_active" else value)
        locked.save()
        if deactivating:
            active = Enrollment.objects.filter(cadence=locked, state=EnrollmentState.ACTIVE)
            for enrollment in active.order_by("id"):
                _stop(
                    enrollment,
                    reason=StopReason.CADENCE_DEACTIVATED,
                    note=f"Cadence {locked.name!r} was deactivated.",
                    actor=actor,
                    missing_ok=True,
                )
    return locked


# --- Steps ----------------------------------------------------------------------------
# In the order forms show them.
STEP_FIELDS = (
    "order",
    "day",
    "type",
    "name",
    "params_template",
    "identity",
    "require_approval",
    "multitouch_group_id",
)


def step_errors(
    cadence: Cadence, values: dict[str, Any], *, vocabulary: dict[str, Any] | None = None
) -> dict[str, list[str]]:
    """Every problem with a step's values (all of STEP_FIELDS), keyed like the API's
    fields (`identity_id`, `params_template.<key>`). Also used by the admin's forms.
    `vocabulary` is step_vocabulary(cadence.workspace_id) when the caller has it (the
    admin checks every step of a cadence: one query for all, not one per step)."""
    errors: dict[str, list[str]] = {}
    step_type = values.get("type")
    if step_type not in StepType.values:
        errors["type"] = [f"Must be one of: {', '.join(StepType.values)}."]
    order, day = values.get("order"), values.get("day")
    if not isinstance(order, int) or isinstance(order, bool) or order < 1:
        errors["order"] = ["Must be a whole number of at least 1."]
    if not isinstance(day, int) or isinstance(day, bool) or not 1 <= day <= 3650:
        errors["day"] = ["Must be a whole number from 1 (the day of enrollment) to 3650."]
    name = values.get("name")
    if not isinstance(name, str) or len(name) > MAX_NAME:
        errors["name"] = [f"A string of at most {MAX_NAME} characters."]
    if not isinstance(values.get("require_approval"), bool):
        errors["require_approval"] = ["Must be true or false."]
    group = values.get("multitouch_group_id")
    if group is not None and (not isinstance(group, int) or isinstance(group, bool)):
        errors["multitouch_group_id"] = ["Must be an integer or null."]
    identity: Identity | None = values.get("identity")
    if identity is not None:
        problem = identity_problem(
            identity,
            workspace_id=cadence.workspace_id,
            action_type=STEP_ACTION_TYPES[step_type] if step_type in StepType.values else None,
            what=f"A {step_type} step",
        )
        if problem is not None:
            errors["identity_id"] = [problem]
    if step_type in StepType.values and "params_template" not in errors:
        sender = (
            {"name": identity.display_name, "address": identity.address}
            if identity is not None
            else SAMPLE_SENDER
        )
        context = step_context(
            contact=SAMPLE_CONTACT,
            sender=sender,
            cadence=cadence,
            step_type=step_type,
            order=order if isinstance(order, int) else 1,
            day=day if isinstance(day, int) else 1,
            name=name if isinstance(name, str) else "",
        )
        _, template_errors = render_step_params(
            step_type=step_type,
            params_template=values.get("params_template"),
            context=context,
            vocabulary=step_vocabulary(cadence.workspace_id) if vocabulary is None else vocabulary,
        )
        errors.update(template_errors)
    return errors


def _save_step(step: Step) -> None:
    try:
        with transaction.atomic():
            step.save()
    except IntegrityError:
        raise Conflict(
            f"The cadence already has a step {step.order}.",
            code="step_order_taken",
            fields={"order": [f"Step {step.order} exists; pick another order."]},
        ) from None


def step_create(
    *,
    cadence: Cadence,
    type: str,
    order: int | None = None,
    day: int = 1,
    name: str = "",
    params_template: dict | None = None,
    identity: Identity | None = None,
    require_approval: bool = False,
    multitouch_group_id: int | None = None,
) -> Step:
    """A step of `cadence`; without `order` it goes last. Orders are unique in a
    cadence (a taken one is a 409)."""
    with transaction.atomic():
        Cadence.objects.select_for_update().filter(pk=cadence.pk).first()  # serialise orders
        if order is None:
            last = cadence.steps.aggregate(last=Max("order"))["last"]
            order = (last or 0) + 1
        values = {
            "type": type,
            "order": order,
            "day": day,
            "name": name,
            "params_template": {} if params_template is None else params_template,
            "identity": identity,
            "require_approval": require_approval,
            "multitouch_group_id": multitouch_group_id,
        }
        ValidationFailed.raise_for(step_errors(cadence, values))
        step = Step(cadence=cadence, workspace_id=cadence.workspace_id, **values)
        _save_step(step)
    return step


def step_update(*, step: Step, changes: dict[str, Any]) -> Step:
    """Change a step; the whole step is validated again (its template rendered
    against the sample contact). Actions already scheduled keep their params;
    later enrollments and later steps use the new version."""
    unknown = set(changes).difference(STEP_FIELDS)
    if unknown:
        raise ValidationFailed(fields={k: ["Not editable."] for k in sorted(unknown)})
    with transaction.atomic():
        locked = Step.objects.select_for_update().select_related("cadence").get(pk=step.pk)
        values = {field: getattr(locked, field) for field in STEP_FIELDS}
        values.update(changes)
        ValidationFailed.raise_for(step_errors(locked.cadence, values))
        for field, value in changes.items():
            setattr(locked, field, value)
        _save_step(locked)
    return locked


def step_delete(*, step: Step) -> None:
    """Remove a step. Refused (409) while an active enrollment is on it: its
    action is out and the enrollment would not know where it stands."""
    with transaction.atomic():
        locked = Step.objects.select_for_update().filter(pk=step.pk).first()
        if locked is None:
            raise NotFound("No such step.")
        if Enrollment.objects.filter(current_step=locked, state=EnrollmentState.ACTIVE).exists():
            raise Conflict(
                f"Step {locked.order} is the current step of active enrollments; stop them "
                "or wait until they move on.",
                code="step_in_use",
            )
        locked.delete()


# --- Scheduling a step ----------------------------------------------------------------
def _identity_for(step: Step, enrollment: Enrollment) -> tuple[Identity | None, str]:
    """(identity, why none)."""
    channels = TYPE_CHANNELS[STEP_ACTION_TYPES[step.type]]
    if step.identity_id is not None:
        identity = step.identity
        if not identity.is_active:
            return None, f"The step's identity {identity.public_id} is deactivated."
        return identity, ""
    active = Identity.objects.filter(workspace_id=enrollment.workspace_id, is_active=True)
    if channels is not None:
        active = active.filter(channel__in=channels)
    identity = None
    if enrollment.user_id is not None:
        identity = active.filter(owner_id=enrollment.user_id).order_by("id").first()
    identity = identity or active.order_by("id").first()
    if identity is None:
        wanted = "/".join(sorted(channels)) if channels else "any"
        return None, f"The workspace has no active {wanted} identity to send step {step.order} as."
    return identity, ""


def _schedule_step(*, enrollment: Enrollment, step: Step, actor: Actor) -> Action:
    """Create the step's action for the enrollment's contact (ValidationFailed
    when it cannot be: no identity, or params invalid for this contact)."""
    identity, problem = _identity_for(step, enrollment)
    if identity is None:
        raise ValidationFailed(problem, code="no_identity", fields={"identity_id": [problem]})
    cadence = enrollment.cadence
    context = step_context(
        contact=contact_context(enrollment.contact),
        sender={"name": identity.display_name, "address": identity.address},
        cadence=cadence,
        step_type=step.type,
        order=step.order,
        day=step.day,
        name=step.name,
    )
    params, errors = render_step_params(
        step_type=step.type, params_template=step.params_template, context=context
    )
    if errors:
        names = ", ".join(sorted(errors))
        raise ValidationFailed(
            f"Step {step.order} ({step.type}) cannot be made for contact "
            f"{enrollment.contact.public_id}: invalid {names}.",
            code="step_invalid_for_contact",
            fields=errors,
        )
    due = max(timezone.now(), enrollment.started_at + dt.timedelta(days=step.day - 1))
    return action_create(
        workspace=enrollment.workspace,
        actor=actor,
        type=STEP_ACTION_TYPES[step.type],
        params=params,
        identity=identity,
        contact=enrollment.contact,
        scheduled_time=due,
        require_approval=step.require_approval,
        description=f"Cadence {cadence.name!r}, step {step.order} (day {step.day})",
        multitouch_group_id=step.multitouch_group_id,
        owner=enrollment.user,
        cadence=cadence,
        step=step,
        enrollment=enrollment,
    )


def _event(enrollment: Enrollment, type: str, actor: Actor, **data: Any) -> None:
    event_record(
        contact=enrollment.contact,
        type=type,
        actor=actor,
        data={"enrollment_id": enrollment.pk, "cadence_id": enrollment.cadence_id, **data},
    )


# --- Enrollments ----------------------------------------------------------------------
def enrollment_create(
    *,
    workspace: Workspace,
    actor: Actor,
    cadence: Cadence,
    contact: Contact,
    user: AbstractBaseUser | None = None,
) -> Enrollment:
    """Put `contact` on `cadence` and schedule its first step. `user` (default:
    the actor's) owns the step actions. Refused: another workspace's cadence or
    contact (404), a suppressed contact (409 `contact_suppressed`), an inactive
    cadence (409 `cadence_inactive`), a cadence without steps (409
    `cadence_has_no_steps`), a contact already active on it (409
    `already_enrolled`), a first step that cannot be made for this contact (400)."""
    if cadence.workspace_id != workspace.pk:
        raise NotFound("No such cadence.")
    if contact.workspace_id != workspace.pk:
        raise NotFound("No such contact.", fields={"contact_id": ["No such contact."]})
    user = user if user is not None else actor.user
    if user is not None and not Membership.objects.filter(workspace=workspace, user=user).exists():
        raise ValidationFailed(fields={"user_guid": ["Not a member of this workspace."]})
    with transaction.atomic():
        # Lock order: cadence, contact, enrollment (see the module docstring).
        locked_cadence = Cadence.objects.select_for_update().get(pk=cadence.pk)
        locked_contact = (
            Contact.objects.select_for_update(of=("self",), no_key=True)
            .select_related("company")
            .get(pk=contact.pk)
        )
        if locked_contact.is_suppressed:
            reason = locked_contact.suppression_reason
            raise Conflict(
                f"Contact {locked_contact.public_id} is suppressed ({reason}); it cannot be "
                "enrolled.",
                code="contact_suppressed",
                fields={"contact_id": [f"Suppressed: {reason}."]},
            )
        if not locked_cadence.is_active:
            raise Conflict(f"Cadence {locked_cadence.name!r} is inactive.", code="cadence_inactive")
        first = locked_cadence.steps.select_related("identity").order_by("order").first()
        if first is None:
            raise Conflict(
                f"Cadence {locked_cadence.name!r} has no steps.", code="cadence_has_no_steps"
            )
        already = Enrollment.objects.filter(
            cadence=locked_cadence, contact=locked_contact, state=EnrollmentState.ACTIVE
        ).exists()
        if already:
            raise Conflict(
                f"Contact {locked_contact.public_id} is already active on this cadence.",
                code="already_enrolled",
            )
        enrollment = Enrollment(
            workspace=workspace,
            cadence=locked_cadence,
            contact=locked_contact,
            user=user,
            state=EnrollmentState.ACTIVE,
            current_step=first,
            started_at=timezone.now(),
        )
        try:
            with transaction.atomic():
                enrollment.save()
        except IntegrityError:  # the partial unique constraint: a concurrent enroll won
            raise Conflict(
                f"Contact {locked_contact.public_id} is already active on this cadence.",
                code="already_enrolled",
            ) from None
        _event(enrollment, "cadence.enrolled", actor, cadence_name=locked_cadence.name)
        _schedule_step(enrollment=enrollment, step=first, actor=actor)
    logger.info(
        "enrollment_created enrollment=%s cadence=%s contact=%s actor=%s",
        enrollment.pk,
        locked_cadence.pk,
        locked_contact.public_id,
        actor.label,
    )
    return enrollment


def _lock_open_actions(enrollment: Enrollment) -> list[Action]:
    """The enrollment's open actions that nobody else holds. One held elsewhere
    (a worker claiming it, a reviewer deciding it) is skipped rather than waited
    for: the engine cancels it before sending if the enrollment is stopped."""
    open_actions = Action.objects.filter(enrollment=enrollment, status__in=WAITING_STATUSES)
    if connection.vendor == "postgresql":
        open_actions = open_actions.select_for_update(skip_locked=True, of=("self",))
    return list(open_actions.order_by("id"))


def _finish(
    enrollment: Enrollment, *, state: str, reason: str = "", note: str = "", actor: Actor
) -> None:
    """Mark a locked, active enrollment completed or stopped; a stop cancels its
    open actions."""
    enrollment.state = state
    enrollment.stop_reason = reason
    enrollment.stop_note = note[:MAX_NOTE]
    enrollment.finished_at = timezone.now()
    enrollment.save(
        update_fields=["state", "stop_reason", "stop_note", "finished_at", "updated_at"]
    )
    if state == EnrollmentState.STOPPED:
        why = f"enrollment stopped: {reason}" + (f": {note}" if note else "")
        for action in _lock_open_actions(enrollment):
            # One that moved on meanwhile (claimed, decided) is the engine's now.
            with contextlib.suppress(InvalidTransition):
                action_cancel(action=action, actor=actor, reason=why[:1000])
        _event(enrollment, "cadence.stopped", actor, reason=reason, note=note[:MAX_NOTE])
        enrollment_stopped.send(sender=Enrollment, enrollment=enrollment, actor=actor)
    else:
        _event(enrollment, "cadence.completed", actor)
    logger.info(
        "enrollment_%s enrollment=%s reason=%s actor=%s",
        state,
        enrollment.pk,
        reason or "-",
        actor.label,
    )


def _lock(enrollment_id: int) -> Enrollment | None:
    return (
        Enrollment.objects.select_for_update(of=("self",))
        .select_related("cadence", "contact", "contact__company", "current_step", "workspace")
        .filter(pk=enrollment_id)
        .first()
    )


def _stop(
    enrollment: Enrollment, *, reason: str, note: str, actor: Actor, missing_ok: bool = False
) -> Enrollment | None:
    # The contact before the enrollment: the order every other path takes.
    Contact.objects.select_for_update(no_key=True).filter(pk=enrollment.contact_id).first()
    locked = _lock(enrollment.pk)
    if locked is None or locked.state != EnrollmentState.ACTIVE:
        if missing_ok:
            return None
        state = locked.state if locked else "deleted"
        raise InvalidTransition(
            f"Enrollment {enrollment.pk} is {state}; only an active enrollment can be stopped.",
            code="enrollment_not_active",
        )
    _finish(locked, state=EnrollmentState.STOPPED, reason=reason, note=note, actor=actor)
    return locked


def enrollment_stop(
    *, enrollment: Enrollment, reason: str, note: str = "", actor: Actor
) -> Enrollment:
    """Active → stopped with `reason`; its pending and scheduled actions are
    cancelled. A completed or stopped enrollment is a 409 (`enrollment_not_active`)."""
    if reason not in StopReason.values:
        raise ValidationFailed(
            fields={"reason": [f"Must be one of: {', '.join(StopReason.values)}."]}
        )
    if not isinstance(note, str) or len(note) > MAX_NOTE:
        raise ValidationFailed(fields={"note": [f"A string of at most {MAX_NOTE} characters."]})
    with transaction.atomic():
        stopped = _stop(enrollment, reason=reason, note=note, actor=actor)
    return stopped


def enrollments_stop_for_contact(
    *, contact: Contact, reason: str, note: str = "", actor: Actor
) -> list[Enrollment]:
    """Stop every active enrollment of `contact` (a reply, a bounce, an
    unsubscribe, do-not-contact). Returns those it stopped."""
    stopped = []
    with transaction.atomic():
        active = Enrollment.objects.filter(contact_id=contact.pk, state=EnrollmentState.ACTIVE)
        for enrollment in active.order_by("id"):
            done = _stop(enrollment, reason=reason, note=note, actor=actor, missing_ok=True)
            if done is not None:
                stopped.append(done)
    return stopped


def _failure_reason(contact: Contact, failure_code: str) -> str:
    """A step the engine failed because the contact is suppressed stops the
    enrollment with that flag's reason; any other failure is `step_failed`."""
    if failure_code == FailureCode.SUPPRESSED:
        for flag in ("do_not_contact", "unsubscribed", "bounced"):
            if getattr(contact, flag):
                return SUPPRESSION_STOP_REASONS[flag]
    return StopReason.STEP_FAILED


def enrollment_advance(*, action: Action, actor: Actor = CADENCES) -> Enrollment | None:
    """Move the enrollment on once its current step's action is final.

    completed, or rejected/cancelled by a person → the next step is scheduled
    (or the enrollment completes after the last); failed → the enrollment
    stops. Idempotent: it acts only while the enrollment is active and its
    current step is the action's, which the first call changes."""
    if action.enrollment_id is None or action.status not in FINAL_STATUSES:
        return None
    with transaction.atomic():
        contact_id = (
            Enrollment.objects.filter(pk=action.enrollment_id)
            .values_list("contact_id", flat=True)
            .first()
        )
        # The contact before the enrollment: the order every other path takes.
        Contact.objects.select_for_update(no_key=True).filter(pk=contact_id).first()
        enrollment = _lock(action.enrollment_id)
        if (
            enrollment is None
            or enrollment.state != EnrollmentState.ACTIVE
            or action.step_id is None
            or enrollment.current_step_id != action.step_id
        ):
            return enrollment  # stopped, finished, or this action was already handled
        step = enrollment.current_step
        if not enrollment.cadence.is_active:
            _finish(
                enrollment,
                state=EnrollmentState.STOPPED,
                reason=StopReason.CADENCE_DEACTIVATED,
                note=f"Cadence {enrollment.cadence.name!r} is inactive.",
                actor=actor,
            )
            return enrollment
        if action.status == ActionStatus.FAILED:
            reason = _failure_reason(enrollment.contact, action.failure_code)
            _finish(
                enrollment,
                state=EnrollmentState.STOPPED,
                reason=reason,
                note=f"Step {step.order} ({action.public_id}) failed: {action.error_message}",
                actor=actor,
            )
            return enrollment
        following = (
            enrollment.cadence.steps.select_related("identity")
            .filter(order__gt=step.order)
            .order_by("order")
            .first()
        )
        if following is None:
            _finish(enrollment, state=EnrollmentState.COMPLETED, actor=actor)
            return enrollment
        enrollment.current_step = following
        enrollment.save(update_fields=["current_step", "updated_at"])
        try:
            with transaction.atomic():  # a savepoint: the finished action's outcome stays
                _schedule_step(enrollment=enrollment, step=following, actor=actor)
        except DomainError as exc:
            detail = "; ".join(f"{k}: {' '.join(v)}" for k, v in sorted(exc.fields.items()))
            _finish(
                enrollment,
                state=EnrollmentState.STOPPED,
                reason=StopReason.STEP_FAILED,
                note=f"Step {following.order} could not be scheduled: {exc.message}"
                + (f" ({detail})" if detail and detail not in exc.message else ""),
                actor=actor,
            )
    return enrollment
