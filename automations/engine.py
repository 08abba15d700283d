"""The hook engine: firing a hook creates a run whose steps are rows.

`hook_fire(...)` stores a HookRun with one HookStep per active link of the hook
(and channel), in ascending priority. Steps run one after another: the
dispatcher's tick claims due pending steps whose earlier steps are all finished
(SELECT … FOR UPDATE SKIP LOCKED on PostgreSQL, a lease on each), and a worker
executes them. `Wait` pushes the later steps' due time, as rows, never a sleep;
`conditionalRules` (JSON Logic over the run's context) can skip a step;
`actionSchedule` defers a step to its next window. A failing step is recorded
and the run goes on with the next one: a failed API call must not stop a Close.
Everything that reaches a person goes through outreach actions, so it shares
the approval queue and the exactly-once execution.

The engine runs what other modules offer through two registries, filled by
`AutomationsConfig.ready` (automations/apps.py), so it imports none of them (they
all import it): a definition type's step executor (automations.step_executors),
and a pipeline stage's handler, which starts the run after a completed run that
named it as its `next_stage` (automations.services.inbound, automations.services.conversations).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from datetime import timedelta
from typing import Any, Protocol

from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from accounts.models import Workspace
from automations.json_logic import RuleError, rule_passes
from automations.models import (
    ActionDefinition,
    ActionDefinitionType,
    Channel,
    HookAction,
    HookRun,
    HookStep,
    RunStatus,
    StepStatus,
    TopicAction,
)
from automations.schedules import next_allowed
from config.queue import PermanentError, TransientError, backoff_seconds, claim_due

logger = logging.getLogger("automations.engine")

STEP_LEASE = timedelta(minutes=5)
STEP_MAX_ATTEMPTS = 5


# --- Registries ----------------------------------------------------------------------------
class StepExecutor(Protocol):
    """Does what a definition type does; returns the step's result (a "context" key
    replaces the run's context). Raises TransientError to retry, PermanentError to fail."""

    def __call__(self, run: HookRun, definition: ActionDefinition) -> dict[str, Any]: ...


class StageHandler(Protocol):
    """Starts the next stage of a pipeline once `run` completed; the run it started, if any."""

    def __call__(self, run: HookRun) -> HookRun | None: ...


STEP_EXECUTORS: dict[str, StepExecutor] = {}
STAGE_HANDLERS: dict[str, StageHandler] = {}


def _register(registry: dict[str, Any], entries: Mapping[str, Any], what: str) -> None:
    for key, entry in entries.items():
        if registry.get(key, entry) is not entry:
            raise RuntimeError(f"Two {what} for {key!r}")
        registry[key] = entry


def step_executors_register(executors: Mapping[str, StepExecutor]) -> None:
    """Definition type → its step executor."""
    _register(STEP_EXECUTORS, executors, "step executors")


def stage_handlers_register(handlers: Mapping[str, StageHandler]) -> None:
    """Pipeline stage (a run's `next_stage`) → its handler."""
    _register(STAGE_HANDLERS, handlers, "stage handlers")


def definition_execute(*, run: HookRun, definition: ActionDefinition) -> dict[str, Any]:
    executor = STEP_EXECUTORS.get(definition.action_type)
    if executor is None:
        raise PermanentError(f"No executor for {definition.action_type}.")
    return executor(run, definition)


def pipeline_advance(*, run_id: int) -> HookRun | None:
    """Start the stage after the run's (called once the run completes)."""
    run = HookRun.objects.select_related("conversation", "workspace").get(pk=run_id)
    handler = STAGE_HANDLERS.get(run.next_stage)
    return handler(run) if handler is not None else None


def _create_run(
    *, workspace, hook_name, links, context, channel, contact, conversation, next_stage=""
):
    now = timezone.now()
    run = HookRun.objects.create(
        workspace=workspace,
        hook_name=hook_name,
        channel=channel,
        contact=contact,
        conversation=conversation,
        context=context,
        next_stage=next_stage,
    )
    HookStep.objects.bulk_create(
        [
            HookStep(
                workspace=workspace,
                run=run,
                position=position,
                definition=link.action,
                definition_name=link.action.name,
                due_at=now,
            )
            for position, link in enumerate(links)
        ]
    )
    if not links:
        _finish_run(run)
    return run


def _links(queryset, channel: Channel | None):
    links = queryset.filter(action__is_active=True).select_related("action")
    links = (
        links.filter(Q(channel__isnull=True) | Q(channel=channel))
        if channel
        else links.filter(channel__isnull=True)
    )
    return list(links.order_by("priority", "id"))


def hook_fire(
    *,
    workspace: Workspace,
    hook_name: str,
    context: dict[str, Any],
    channel: Channel | None = None,
    contact=None,
    conversation=None,
    next_stage: str = "",
) -> HookRun:
    """Store a run of the hook's active links (priority ascending)."""
    links = _links(HookAction.objects.filter(workspace=workspace, hook_name=hook_name), channel)
    return _create_run(
        workspace=workspace,
        hook_name=hook_name,
        links=links,
        context=context,
        channel=channel,
        contact=contact,
        conversation=conversation,
        next_stage=next_stage,
    )


def topic_actions_run(
    *, workspace, topic, context, channel=None, contact=None, conversation=None
) -> HookRun:
    """Store a run of the topic's active links (priority ascending)."""
    links = _links(TopicAction.objects.filter(workspace=workspace, topic=topic), channel)
    return _create_run(
        workspace=workspace,
        hook_name=f"Topic:{topic.name}"[:32],
        links=links,
        context=context,
        channel=channel,
        contact=contact,
        conversation=conversation,
    )


def _finish_run(run: HookRun) -> None:
    run.status = RunStatus.COMPLETED
    run.finished_at = timezone.now()
    run.save(update_fields=["status", "finished_at"])
    if run.next_stage:
        transaction.on_commit(lambda: pipeline_advance(run_id=run.pk))


# --- Claiming and executing steps ---------------------------------------------------------
def steps_claim_due(*, limit: int = 100) -> list[tuple[int, str]]:
    now = timezone.now()
    earlier_unfinished = HookStep.objects.filter(
        run=OuterRef("run"),
        position__lt=OuterRef("position"),
        status__in=[StepStatus.PENDING, StepStatus.PROCESSING],
    )
    with transaction.atomic():
        due = (
            HookStep.objects.filter(status=StepStatus.PENDING, due_at__lte=now)
            .exclude(Exists(earlier_unfinished))
            .order_by("due_at", "id")
        )
        token, rows = claim_due(
            due,
            limit=limit,
            waiting=StepStatus.PENDING,
            claimed=StepStatus.PROCESSING,
            lease_expires_at=now + STEP_LEASE,
        )
        claimed = list(rows.values_list("id", flat=True))
    return [(step_id, token) for step_id in claimed]


def steps_reclaim_expired() -> int:
    return HookStep.objects.filter(
        status=StepStatus.PROCESSING, lease_expires_at__lt=timezone.now()
    ).update(status=StepStatus.PENDING, lease_token=None, lease_expires_at=None)


def steps_dispatch() -> int:
    """One tick: reclaim, claim, execute here (steps are short; provider calls
    that leave the building become outreach actions with their own queue)."""
    steps_reclaim_expired()
    claims = steps_claim_due()
    for step_id, token in claims:
        step_execute(step_id=step_id, lease_token=token)
    return len(claims)


def step_execute(*, step_id: int, lease_token: str) -> str:
    now = timezone.now()
    with transaction.atomic():
        step = (
            HookStep.objects.select_for_update(of=("self",))
            .select_related("run", "definition")
            .filter(pk=step_id)
            .first()
        )
        if (
            step is None
            or step.status != StepStatus.PROCESSING
            or str(step.lease_token) != str(lease_token)
        ):
            return "stale"
        run, definition = step.run, step.definition
        if definition is None or not definition.is_active:
            return _close_step(step, StepStatus.SKIPPED, error="definition inactive or deleted")
        try:
            if not rule_passes(definition.conditional_rules, run.context):
                return _close_step(step, StepStatus.SKIPPED, error="conditionalRules not met")
        except RuleError as exc:
            return _close_step(step, StepStatus.FAILED, error=f"conditionalRules: {exc}")
        tz = definition.action_schedule_time_zone_id or run.workspace.timezone
        when = (
            next_allowed(definition.action_schedule, tz, now)
            if definition.action_schedule
            else None
        )
        if when is not None:
            step.status, step.due_at = StepStatus.PENDING, when
            step.lease_token = step.lease_expires_at = None
            step.save()
            return "deferred"
        step.attempts += 1
        step.save(update_fields=["attempts"])
    try:
        result = definition_execute(run=run, definition=definition)
    except TransientError as exc:
        return _retry(step, str(exc.message))
    except PermanentError as exc:
        return _close_step(step, StepStatus.FAILED, error=exc.message)
    except RecursionError:
        # Input nested past what the step can walk: the same every attempt, so fail it
        # now rather than retry (template nesting itself is a TemplateError, see
        # config.templating).
        logger.exception("automation step %s ran out of stack", step.pk)
        return _close_step(step, StepStatus.FAILED, error="Input nested too deeply.")
    except Exception as exc:
        logger.exception("automation step %s crashed", step.pk)
        return _retry(step, f"{type(exc).__name__}: {exc}")
    with transaction.atomic():
        if definition.action_type == ActionDefinitionType.WAIT and definition.wait_seconds:
            later = timezone.now() + timedelta(seconds=definition.wait_seconds)
            HookStep.objects.filter(run=run, position__gt=step.position).update(due_at=later)
        if result.get("context"):
            HookRun.objects.filter(pk=run.pk).update(context=result.pop("context"))
        step.result = result
        step.outreach_action_id = result.get("outreach_action_pk")
        return _close_step(step, StepStatus.COMPLETED)


def _retry(step: HookStep, message: str) -> str:
    if step.attempts >= STEP_MAX_ATTEMPTS:
        return _close_step(step, StepStatus.FAILED, error=f"Gave up: {message}")
    HookStep.objects.filter(pk=step.pk).update(
        status=StepStatus.PENDING,
        lease_token=None,
        lease_expires_at=None,
        error=message,
        due_at=timezone.now() + timedelta(seconds=backoff_seconds(step.attempts)),
    )
    return "retrying"


def _close_step(step: HookStep, status: str, *, error: str = "") -> str:
    with transaction.atomic():
        step.status = status
        step.error = error
        step.lease_token = step.lease_expires_at = None
        step.finished_at = timezone.now()
        step.save()
        unfinished = HookStep.objects.filter(
            run_id=step.run_id, status__in=[StepStatus.PENDING, StepStatus.PROCESSING]
        ).exists()
        if not unfinished:
            run = HookRun.objects.select_for_update().get(pk=step.run_id)
            if run.status == RunStatus.RUNNING:
                _finish_run(run)
    return status


def definition_run_now(
    *,
    workspace: Workspace,
    definition,
    context: dict[str, Any],
    contact=None,
    conversation=None,
    requires_approval: bool = False,
) -> HookStep:
    """A user trigger (`POST /api/Actions/{id}/run`): a one-step UserTriggered
    run, claimed and executed in the request instead of waiting for the tick.
    `requires_approval` is stored on the run, so outreach it creates waits for
    approval even when the step runs later (deferred by its schedule, retried)."""
    now = timezone.now()
    token = uuid.uuid4()
    with transaction.atomic():
        run = HookRun.objects.create(
            workspace=workspace,
            hook_name="UserTriggered",
            contact=contact,
            conversation=conversation,
            context=context,
            requires_approval=requires_approval,
        )
        step = HookStep.objects.create(
            workspace=workspace,
            run=run,
            position=0,
            definition=definition,
            definition_name=definition.name,
            due_at=now,
            status=StepStatus.PROCESSING,
            lease_token=token,
            lease_expires_at=now + STEP_LEASE,
        )
    step_execute(step_id=step.pk, lease_token=str(token))
    step.refresh_from_db()
    return step
