"""The benchmark's data: its workspace and identities, the actions of each
phase (told apart by `list_id`), their due times, and one phase's figures read
back from the rows the engine wrote."""

from __future__ import annotations

import datetime as dt
import os
import sys
import time
from dataclasses import dataclass, field

import _common as common

from dispatch_parts.probes import CpuSnapshot, deltas

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/bench_dispatch"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/8"
BENCH_WORKSPACE = "bench-dispatch"
ACTION_TYPE = "send_email"  # the no-op replaces its executor in the noop and lag scenarios
WARMUP_ACTIONS = 50


def prepare_environment() -> None:
    """Before Django is set up: the bench database and Redis db, and DEBUG off
    (as in production: no query log) with throwaway keys."""
    os.environ.setdefault("DATABASE_URL", DEFAULT_DATABASE_URL)
    os.environ.setdefault("REDIS_URL", DEFAULT_REDIS_URL)
    os.environ.setdefault("DEBUG", "0")
    if os.environ["DEBUG"].lower() in {"0", "false", "no", "off"}:
        import secrets

        from cryptography.fernet import Fernet

        os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))
        os.environ.setdefault("FIELD_ENCRYPTION_KEYS", Fernet.generate_key().decode())


def identity_address(number: int) -> str:
    return "bench-dispatch@example.com" if number == 0 else f"bench-dispatch-{number}@example.com"


def bench_setup(identities: int = 1):
    """The bench workspace and its first `identities` email identities (no
    daily limit, no window), emptied of earlier runs' actions. Refuses a
    database with other due actions: the dispatcher would claim them and the
    no-op would "send" them. Returns (workspace, identities, rows deleted, s)."""
    from django.db import connection

    from accounts.models import Workspace
    from outreach.models import Action, ActionStatus, Identity, IdentityChannel

    workspace, _ = Workspace.objects.get_or_create(name=BENCH_WORKSPACE)
    foreign = (
        Action.objects.exclude(workspace=workspace)
        .filter(status__in=[ActionStatus.SCHEDULED, ActionStatus.PROCESSING])
        .count()
    )
    if foreign:
        sys.exit(
            f"{foreign} scheduled or processing actions outside the {BENCH_WORKSPACE!r} workspace:"
            " use a dedicated benchmark database."
        )
    found = [
        Identity.objects.update_or_create(
            workspace=workspace,
            channel=IdentityChannel.EMAIL,
            address=identity_address(number),
            defaults={
                "display_name": f"Bench dispatch {number}",
                "daily_limit": None,
                "window_start": None,
                "window_end": None,
                "is_active": True,
            },
        )[0]
        for number in range(identities)
    ]
    start = time.perf_counter()
    deleted, _ = Action.objects.filter(workspace=workspace).delete()
    with connection.cursor() as cursor:
        for model in ("action", "actionattempt", "actiontransition"):
            cursor.execute(f"VACUUM (ANALYZE) outreach_{model}")
    return workspace, found, deleted, time.perf_counter() - start


def insert_actions(workspace, identities, n: int, phase: str) -> None:
    """N scheduled actions, not yet due (a year from now) so nothing claims
    them before make_due sets their due times. Action i belongs to identity
    i mod len(identities): a batch of consecutive actions spans them all."""
    from django.utils import timezone

    from outreach.models import Action, ActionStatus

    if not isinstance(identities, list | tuple):
        identities = [identities]
    later = timezone.now() + dt.timedelta(days=365)
    Action.objects.bulk_create(
        (
            Action(
                workspace=workspace,
                identity=identities[i % len(identities)],
                type=ACTION_TYPE,
                params={
                    "to": f"lead{i}@bench.example.com",
                    "subject": "Quick question",
                    "body": "Hello, this is a benchmark.",
                },
                status=ActionStatus.SCHEDULED,
                scheduled_time=later,
                list_id=phase,
                item_id=str(i),
            )
            for i in range(n)
        ),
        batch_size=2000,
    )


def make_due(workspace, phase: str, n: int, *, lead: float, rate: float | None = None):
    """Give the phase's rows their due times, from T0 `lead` seconds ahead,
    commit and analyze; the caller then sleeps until T0 (wait_until), so the
    rows become due at known instants with the dispatcher ready. Without
    `rate` all are due at T0; with it action i is due at T0 + i / rate."""
    from django.db import connection
    from django.utils import timezone

    from outreach.models import Action

    t0 = timezone.now() + dt.timedelta(seconds=lead)
    if rate is None:
        Action.objects.filter(workspace=workspace, list_id=phase).update(scheduled_time=t0)
    else:
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE outreach_action SET scheduled_time ="
                " %s + (item_id::int / %s::float8) * interval '1 second'"
                " WHERE workspace_id = %s AND list_id = %s",
                [t0, rate, workspace.pk, phase],
            )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE outreach_action")
    return t0


def lead_for(n: int) -> float:
    """Seconds from setting T0 to T0: the UPDATE, ANALYZE and flush_own_stats."""
    return 2.5 + n / 10_000


def wait_until(t0: dt.datetime, phase: str) -> None:
    from django.utils import timezone

    late = (timezone.now() - t0).total_seconds()
    if late > 0:
        print(f"warning: {phase} started {late:.3f} s after T0")
    else:
        time.sleep(-late)


@dataclass
class PhaseResult:
    name: str
    n: int
    t0: dt.datetime
    wall: float = 0.0  # T0 -> last executed_at
    lags: list[float] = field(default_factory=list)  # start - scheduled_time
    done_lags: list[float] = field(default_factory=list)  # executed_at - scheduled_time
    completed: int = 0
    noop: int = 0
    attempts: int = 0
    attempted_actions: int = 0
    lost: int = 0  # attempts marked lost (a resend may follow)
    batches: int = 0  # distinct lease tokens among the attempts
    transitions: int = 0
    counters: dict[str, float] = field(default_factory=dict)
    cpu: dict[str, float] = field(default_factory=dict)
    components: list[str] = field(default_factory=list)  # CPU rows, in order
    elapsed: float = 0.0  # the CPU window
    statements: int = 0
    worker_statements: int = 0  # of `statements`, those the worker's pool processes sent
    claims: int = 0  # scheduled -> processing transitions
    reclaimed: int = 0  # leases expired and requeued
    per_minute: list[tuple[int, int]] = field(default_factory=list)

    def set_cpu(self, before: CpuSnapshot, after: CpuSnapshot) -> None:
        self.cpu = deltas(before.values, after.values)
        self.elapsed = after.at - before.at
        self.components = [key for key in after.values if not key.startswith("machine")]
        accounted = sum(self.cpu[key] for key in self.components)
        self.cpu["other processes"] = self.cpu["machine busy"] - accounted

    @property
    def kind(self) -> str:
        return self.name.rstrip("0123456789")

    @property
    def throughput(self) -> float:
        return self.n / self.wall if self.wall > 0 else 0.0

    def lag(self, p: float) -> float:
        return common.percentile(self.lags, p) if self.lags else float("nan")

    def done_lag(self, p: float) -> float:
        return common.percentile(self.done_lags, p) if self.done_lags else float("nan")


def collect(result: PhaseResult, workspace, *, lag_from_attempts: bool) -> None:
    from django.db import connection

    phase = [workspace.pk, result.name]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FILTER (WHERE status = 'completed'),"
            " count(*) FILTER (WHERE provider_message_id LIKE 'noop-%%'), max(executed_at)"
            " FROM outreach_action WHERE workspace_id = %s AND list_id = %s",
            phase,
        )
        result.completed, result.noop, last = cursor.fetchone()
        result.wall = (last - result.t0).total_seconds() if last else 0.0
        if lag_from_attempts:  # the first attempt of each action
            cursor.execute(
                "SELECT EXTRACT(EPOCH FROM min(att.started_at) - a.scheduled_time)"
                " FROM outreach_actionattempt att JOIN outreach_action a ON a.id = att.action_id"
                " WHERE a.workspace_id = %s AND a.list_id = %s GROUP BY a.id",
                phase,
            )
        else:  # the floor stamps its claim in updated_at
            cursor.execute(
                "SELECT EXTRACT(EPOCH FROM updated_at - scheduled_time) FROM outreach_action"
                " WHERE workspace_id = %s AND list_id = %s",
                phase,
            )
        result.lags = [float(row[0]) for row in cursor.fetchall()]
        cursor.execute(
            "SELECT EXTRACT(EPOCH FROM executed_at - scheduled_time) FROM outreach_action"
            " WHERE workspace_id = %s AND list_id = %s AND executed_at IS NOT NULL",
            phase,
        )
        result.done_lags = [float(row[0]) for row in cursor.fetchall()]
        cursor.execute(
            "SELECT count(*), count(DISTINCT att.action_id),"
            " count(*) FILTER (WHERE att.outcome = 'lost'), count(DISTINCT att.lease_token)"
            " FROM outreach_actionattempt att JOIN outreach_action a ON a.id = att.action_id"
            " WHERE a.workspace_id = %s AND a.list_id = %s",
            phase,
        )
        result.attempts, result.attempted_actions, result.lost, result.batches = cursor.fetchone()
        cursor.execute(
            "SELECT count(*), count(*) FILTER (WHERE t.to_status = 'processing'),"
            " count(*) FILTER (WHERE t.reason LIKE 'lease expired%%')"
            " FROM outreach_actiontransition t JOIN outreach_action a ON a.id = t.action_id"
            " WHERE a.workspace_id = %s AND a.list_id = %s",
            phase,
        )
        result.transitions, result.claims, result.reclaimed = cursor.fetchone()
        cursor.execute(
            "SELECT floor(EXTRACT(EPOCH FROM executed_at - %s) / 60)::int, count(*)"
            " FROM outreach_action WHERE workspace_id = %s AND list_id = %s"
            " AND executed_at IS NOT NULL GROUP BY 1 ORDER BY 1",
            [result.t0, *phase],
        )
        result.per_minute = cursor.fetchall()


def completed_count(workspace, phase: str) -> int:
    from outreach.models import Action, ActionStatus

    return Action.objects.filter(
        workspace=workspace, list_id=phase, status=ActionStatus.COMPLETED
    ).count()


def status_counts(workspace, phase: str) -> str:
    from django.db.models import Count

    from outreach.models import Action

    rows = (
        Action.objects.filter(workspace=workspace, list_id=phase)
        .values_list("status")
        .annotate(n=Count("id"))
        .order_by("status")
    )
    return ", ".join(f"{status} {n}" for status, n in rows)
