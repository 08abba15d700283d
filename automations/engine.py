"""The hook engine: firing a hook creates a run whose steps are rows.

`fire_hook(...)` stores a HookRun with one HookStep per active link of the hook
(and channel), in ascending priority. Steps run one after another: the
dispatcher's tick claims due pending steps whose earlier steps are all finished
(SELECT … FOR UPDATE SKIP LOCKED on PostgreSQL, a lease on each), and a worker
executes them. `Wait` pushes the later steps' due time, as rows, never a sleep;
`conditionalRules` (JSON Logic over the run's context) can skip a step;
`actionSchedule` defers a step to its next window. A failing step is recorded
and the run goes on with the next one: a failed API call must not stop a Close.
Everything that reaches a person goes through outreach actions, so it shares
the approval queue and the exactly-once execution.
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from accounts.models import Workspace
from automations.models import (
    ActionDefinitionType,
    Channel,
    HookAction,
    HookRun,
    HookStep,
    RunStatus,
    StepStatus,
    TopicAction,
)
from config.queue import PermanentError, TransientError, backoff_seconds, claim_due

logger = logging.getLogger("automations.engine")

STEP_LEASE = timedelta(minutes=5)
STEP_MAX_ATTEMPTS = 5


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


def fire_hook(
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


def run_topic_actions(
    *, workspace, topic, context, channel=None, contact=None, conversation=None
) -> HookRun:
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
        from automations.inbound import advance_pipeline

        transaction.on_commit(lambda: advance_pipeline(run_id=run.pk))


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
    from automations.rules import RuleError, next_allowed, rule_passes
    from automations.step_executors import execute_definition

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
        result = execute_definition(step=step, run=run, definition=definition)
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


def run_definition_now(
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
