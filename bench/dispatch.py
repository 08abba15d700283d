"""Dispatch: throughput and lag of the execution engine, beside plain SQL.

    .venv/bin/python bench/dispatch.py [--actions N] [--concurrency C] [--tick S]

PostgreSQL only (DATABASE_URL, default postgres://postgres@127.0.0.1:5432/
bench_dispatch, created if missing and migrated); Redis at REDIS_URL (default
redis://127.0.0.1:6379/8), which is FLUSHDB'd before and after the run.

1. engine: N `send_email` actions (default 20,000), one identity without a
   daily limit or sending window, no contacts, all due at one instant T0. A
   real Celery worker (`celery -A config worker --concurrency=2 --pool=prefork
   -I noop_executor`: two pool processes, as the Procfile runs it) executes
   them through the registry's executor, replaced by a no-op in the worker
   (bench/noop_executor.py). This process plays beat: from T0 it calls
   `outreach.execution.actions_dispatch()` (reclaim, then up to 20 claims of
   DISPATCH_BATCH_SIZE, each enqueued) again at once while a call's last
   batch came back full, otherwise it sleeps until 1 s (--tick) after that
   call started, as beat's every-second schedule would.
2. services in process (information): a sample of the same actions claimed
   with `action_claim_due` and run with `action_execute` one after another in
   this process: the engine's own code, without Celery and Redis.
3. floor: N fresh rows, claimed and completed in one process with two plain
   SQL statements per batch of DISPATCH_BATCH_SIZE, on the bare DB-API cursor;
   run --floor-repeat times (3), the fastest counts.

Throughput is N / (last `executed_at` - T0). Lag is execution start minus
`scheduled_time` (= T0) per action: the attempt's `started_at` for the engine,
the claim's clock_timestamp() for the floor. Also prints the engine's cost per
action from PostgreSQL's own counters, CPU per component, and what the
workers' database sessions were doing (pg_stat_activity sampled at 20 Hz).
Asserts nothing, but exits non-zero if the engine does not complete every
action exactly once through the no-op within --timeout.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import _common as common

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/bench_dispatch"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/8"
BENCH_WORKSPACE = "bench-dispatch"
ACTION_TYPE = "send_email"  # replaced by bench/noop_executor.py in the worker
BENCH_DIR = Path(__file__).resolve().parent
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
SAMPLE_SECONDS = 0.05
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


# --- CPU from /proc ---------------------------------------------------------------------
def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()  # fields from 3 (state) on


def proc_cpu(pid: int, *, reaped_children: bool = False) -> float:
    """CPU seconds (user + system) of a process; with reaped_children, plus
    those of its children that exited and were waited for."""
    fields = _stat(pid)
    if fields is None:
        return 0.0
    ticks = int(fields[11]) + int(fields[12])
    if reaped_children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / CLOCK_TICKS


def processes() -> list[tuple[int, int, str]]:
    """(pid, ppid, comm) of every process."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            text = (entry / "stat").read_text()
        except OSError:
            continue
        comm = text[text.index("(") + 1 : text.rindex(")")]
        fields = text[text.rindex(")") + 2 :].split()
        found.append((int(entry.name), int(fields[1]), comm))
    return found


def tree_cpu(root: int) -> float:
    """A process, its live children, and its children already reaped."""
    total = proc_cpu(root, reaped_children=True)
    for pid, ppid, _ in processes():
        if ppid == root:
            total += proc_cpu(pid)
    return total


def postgres_cpu() -> float:
    """The whole PostgreSQL cluster: the postmaster, every live child and
    every child already reaped (a backend that lived for one task included)."""
    procs = processes()
    pg = {pid for pid, _, comm in procs if comm == "postgres"}
    masters = [pid for pid, ppid, comm in procs if comm == "postgres" and ppid not in pg]
    return sum(tree_cpu(pid) for pid in masters)


_redis_pid: list[int] = []


def redis_cpu() -> float:
    """The Redis server at REDIS_URL, when it runs on this machine."""
    if not _redis_pid:
        from urllib.parse import urlsplit

        import redis
        from django.conf import settings

        if urlsplit(settings.REDIS_URL).hostname not in {"127.0.0.1", "localhost", "::1"}:
            return 0.0
        _redis_pid.append(
            int(redis.Redis.from_url(settings.REDIS_URL).info("server")["process_id"])
        )
    return proc_cpu(_redis_pid[0])


def system_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    total = sum(values[:8])
    return (total - idle) / CLOCK_TICKS, total / CLOCK_TICKS


CPU_COMPONENTS = [
    "celery worker (parent + pool)",
    "bench process",
    "postgres (cluster)",
    "redis (REDIS_URL)",
]


@dataclass
class CpuSnapshot:
    at: float
    values: dict[str, float]

    @classmethod
    def take(cls, worker_pid: int | None) -> CpuSnapshot:
        busy, total = system_cpu()
        values = {
            "bench process": proc_cpu(os.getpid()),
            "postgres (cluster)": postgres_cpu(),
            "redis (REDIS_URL)": redis_cpu(),
            "machine busy": busy,
            "machine total": total,
        }
        if worker_pid is not None:
            values["celery worker (parent + pool)"] = tree_cpu(worker_pid)
        return cls(time.monotonic(), values)


# --- PostgreSQL ----------------------------------------------------------------------------
def pg_params() -> dict:
    from django.conf import settings

    db = settings.DATABASES["default"]
    return {
        "dbname": db["NAME"],
        "host": db.get("HOST") or None,
        "port": db.get("PORT") or None,
        "user": db.get("USER") or None,
        "password": db.get("PASSWORD") or None,
    }


DB_COUNTERS = [
    "xact_commit",
    "xact_rollback",
    "tup_inserted",
    "tup_updated",
    "tup_deleted",
    "sessions",
    "active_time",
    "idle_in_transaction_time",
]
WAL_COUNTERS = ["wal_records", "wal_bytes", "wal_sync"]


def pg_counters(conn) -> dict[str, float]:
    """This database's counters from pg_stat_database, and the cluster's WAL."""
    columns = ", ".join(DB_COUNTERS)
    row = conn.execute(
        f"SELECT {columns} FROM pg_stat_database WHERE datname = current_database()"
    ).fetchone()
    wal = conn.execute(f"SELECT {', '.join(WAL_COUNTERS)} FROM pg_stat_wal").fetchone()
    return dict(zip(DB_COUNTERS + WAL_COUNTERS, [float(v) for v in (*row, *wal)], strict=True))


def flush_own_stats() -> None:
    """PostgreSQL 15 backends publish their counters at most once a second:
    wait, then end a transaction on this process's connection."""
    from django.db import connection

    time.sleep(1.2)
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


class Sampler(threading.Thread):
    """What each database session of the benchmark is doing, 20 times a
    second, from pg_stat_activity, on a connection of its own."""

    def __init__(self, slots: int, own_backend: int, exclude: set[int]):
        super().__init__(daemon=True)
        import psycopg

        self.conn = psycopg.connect(autocommit=True, **pg_params())
        self.slots = slots  # sessions expected besides this process's own
        self.own_backend = own_backend
        self.exclude = exclude  # sessions of this process that are not measured
        self.running = threading.Event()
        self.stop_event = threading.Event()
        self.states: Counter[str] = Counter()
        self.own_states: Counter[str] = Counter()
        self.samples = 0

    @staticmethod
    def classify(state: str | None, wait_type: str | None, wait: str | None) -> str:
        if state == "active":
            return f"active, waiting {wait_type}:{wait}" if wait_type else "active (running SQL)"
        if state == "idle in transaction":
            return "idle in transaction (client between statements)"
        if state == "idle":
            return "idle (connected, client busy or waiting)"
        return f"{state or 'starting'}"

    def run(self) -> None:
        me = self.conn.info.backend_pid
        while not self.stop_event.is_set():
            if not self.running.is_set():
                self.running.wait(0.2)
                continue
            rows = self.conn.execute(
                "SELECT pid, state, wait_event_type, wait_event FROM pg_stat_activity "
                "WHERE datname = current_database() AND backend_type = 'client backend' "
                "AND pid <> %s",
                [me],
            ).fetchall()
            others = 0
            for pid, state, wait_type, wait in rows:
                if pid in self.exclude:
                    continue
                label = self.classify(state, wait_type, wait)
                if pid == self.own_backend:
                    self.own_states[label] += 1
                else:
                    self.states[label] += 1
                    others += 1
            if self.slots > others:
                self.states["no session (between tasks: Celery, connecting)"] += self.slots - others
            self.samples += 1
            time.sleep(SAMPLE_SECONDS)

    def measure(self) -> None:
        self.states.clear()
        self.own_states.clear()
        self.samples = 0
        self.running.set()

    def pause(self) -> None:
        self.running.clear()
        time.sleep(SAMPLE_SECONDS * 2)

    def close(self) -> None:
        self.stop_event.set()
        self.running.set()
        self.join(timeout=2)
        self.conn.close()


# --- data ----------------------------------------------------------------------------------
def bench_setup():
    """The bench workspace and identity (no daily limit, no window), emptied of
    earlier runs' actions. Refuses a database with other due actions: the
    dispatcher would claim them and the no-op would "send" them."""
    from django.db import connection

    from accounts.models import Workspace
    from outreach.models import Action, ActionStatus, Channel, Identity

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
    identity, _ = Identity.objects.update_or_create(
        workspace=workspace,
        channel=Channel.EMAIL,
        address="bench-dispatch@example.com",
        defaults={
            "display_name": "Bench dispatch",
            "daily_limit": None,
            "window_start": None,
            "window_end": None,
        },
    )
    start = time.perf_counter()
    deleted, _ = Action.objects.filter(workspace=workspace).delete()
    with connection.cursor() as cursor:
        for model in ("action", "actionattempt", "actiontransition"):
            cursor.execute(f"VACUUM (ANALYZE) outreach_{model}")
    return workspace, identity, deleted, time.perf_counter() - start


def insert_actions(workspace, identity, n: int, phase: str) -> None:
    """N scheduled actions, not yet due (a year from now) so nothing claims
    them before make_due sets one due time for all."""
    from django.utils import timezone

    from outreach.models import Action, ActionStatus

    later = timezone.now() + dt.timedelta(days=365)
    Action.objects.bulk_create(
        (
            Action(
                workspace=workspace,
                identity=identity,
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


def make_due(workspace, phase: str, n: int, *, lead: float) -> dt.datetime:
    """Give the phase's rows one due time T0, `lead` seconds ahead, commit and
    analyze; the caller then sleeps until T0 (wait_until): the rows become due
    all at once, at a known instant, with the dispatcher ready."""
    from django.db import connection
    from django.utils import timezone

    from outreach.models import Action

    t0 = timezone.now() + dt.timedelta(seconds=lead)
    Action.objects.filter(workspace=workspace, list_id=phase).update(scheduled_time=t0)
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
    lags: list[float] = field(default_factory=list)
    completed: int = 0
    noop: int = 0
    attempts: int = 0
    attempted_actions: int = 0
    transitions: int = 0
    counters: dict[str, float] = field(default_factory=dict)
    cpu: dict[str, float] = field(default_factory=dict)
    elapsed: float = 0.0  # T0 -> the measurement's end (CPU window)
    statements: int = 0
    claims: int = 0  # scheduled -> processing transitions
    reclaimed: int = 0  # leases expired and requeued
    per_minute: list[tuple[int, int]] = field(default_factory=list)

    def set_cpu(self, before: CpuSnapshot, after: CpuSnapshot) -> None:
        self.cpu = deltas(before.values, after.values)
        self.elapsed = after.at - before.at
        accounted = sum(self.cpu.get(key, 0.0) for key in CPU_COMPONENTS)
        self.cpu["other processes"] = self.cpu["machine busy"] - accounted

    @property
    def kind(self) -> str:
        return self.name.rstrip("0123456789")

    @property
    def throughput(self) -> float:
        return self.n / self.wall if self.wall > 0 else 0.0

    def lag(self, p: float) -> float:
        return common.percentile(self.lags, p) if self.lags else float("nan")


def collect(result: PhaseResult, workspace, *, lag_from_attempts: bool) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FILTER (WHERE status = 'completed'),"
            " count(*) FILTER (WHERE provider_message_id LIKE 'noop-%%'), max(executed_at)"
            " FROM outreach_action WHERE workspace_id = %s AND list_id = %s",
            [workspace.pk, result.name],
        )
        result.completed, result.noop, last = cursor.fetchone()
        result.wall = (last - result.t0).total_seconds() if last else 0.0
        if lag_from_attempts:
            cursor.execute(
                "SELECT EXTRACT(EPOCH FROM att.started_at - a.scheduled_time)"
                " FROM outreach_actionattempt att JOIN outreach_action a ON a.id = att.action_id"
                " WHERE a.workspace_id = %s AND a.list_id = %s",
                [workspace.pk, result.name],
            )
        else:  # the floor stamps its claim in updated_at
            cursor.execute(
                "SELECT EXTRACT(EPOCH FROM updated_at - scheduled_time) FROM outreach_action"
                " WHERE workspace_id = %s AND list_id = %s",
                [workspace.pk, result.name],
            )
        result.lags = [float(row[0]) for row in cursor.fetchall()]
        cursor.execute(
            "SELECT count(*), count(DISTINCT att.action_id) FROM outreach_actionattempt att"
            " JOIN outreach_action a ON a.id = att.action_id"
            " WHERE a.workspace_id = %s AND a.list_id = %s",
            [workspace.pk, result.name],
        )
        result.attempts, result.attempted_actions = cursor.fetchone()
        cursor.execute(
            "SELECT count(*) FROM outreach_actiontransition t"
            " JOIN outreach_action a ON a.id = t.action_id"
            " WHERE a.workspace_id = %s AND a.list_id = %s",
            [workspace.pk, result.name],
        )
        result.transitions = cursor.fetchone()[0]
        cursor.execute(
            "SELECT count(*) FILTER (WHERE t.to_status = 'processing'),"
            " count(*) FILTER (WHERE t.reason LIKE 'lease expired%%')"
            " FROM outreach_actiontransition t JOIN outreach_action a ON a.id = t.action_id"
            " WHERE a.workspace_id = %s AND a.list_id = %s",
            [workspace.pk, result.name],
        )
        result.claims, result.reclaimed = cursor.fetchone()
        cursor.execute(
            "SELECT floor(EXTRACT(EPOCH FROM executed_at - %s) / 60)::int, count(*)"
            " FROM outreach_action WHERE workspace_id = %s AND list_id = %s"
            " AND executed_at IS NOT NULL GROUP BY 1 ORDER BY 1",
            [result.t0, workspace.pk, result.name],
        )
        result.per_minute = cursor.fetchall()


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


def deltas(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {key: after[key] - before[key] for key in before}


# --- the Celery worker --------------------------------------------------------------------
class Worker:
    def __init__(self, concurrency: int, loglevel: str, log_path: Path, db_reuse_max: int | None):
        self.name = f"bench-dispatch@{socket.gethostname()}"
        self.command = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            f"--loglevel={loglevel}",
            f"--concurrency={concurrency}",
            "--pool=prefork",
            "-I",
            "noop_executor",
            "-n",
            self.name,
        ]
        self.log_path = log_path
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            [str(BENCH_DIR), str(common.ROOT), *filter(None, [env.get("PYTHONPATH")])]
        )
        if db_reuse_max:
            env["BENCH_DB_REUSE_MAX"] = str(db_reuse_max)
        self.env = env
        self.process: subprocess.Popen | None = None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def start(self, timeout: float = 60) -> float:
        from config.celery import app

        start = time.perf_counter()
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            self.command,
            cwd=common.ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, stopped by its id
        )
        while time.perf_counter() - start < timeout:
            if self.process.poll() is not None:
                self.fail(f"the worker exited with {self.process.returncode}")
            if app.control.ping(destination=[self.name], timeout=0.5):
                return time.perf_counter() - start
        self.fail(f"the worker did not answer a ping within {timeout:.0f} s")
        return 0.0

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()  # warm shutdown of the worker we started
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join(text[-lines:])

    def fail(self, message: str) -> None:
        self.stop()
        sys.exit(f"{message}\n--- worker log (last lines) ---\n{self.tail()}")


def log_to_file(path: Path) -> None:
    """This process logs as configured (LOG_LEVEL, one line per transition), to
    a file in the temporary DATA_DIR instead of the terminal."""
    import logging

    stream = path.open("a")
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(stream)


def flush_redis() -> None:
    import redis
    from django.conf import settings

    redis.Redis.from_url(settings.REDIS_URL).flushdb()


# --- phases ---------------------------------------------------------------------------------
@dataclass
class Tick:
    at: float  # seconds after T0
    claimed: int
    seconds: float


def dispatch_until_done(workspace, phase: str, n: int, *, tick: float, timeout: float):
    """Play beat from T0: dispatch again at once while a call's last batch was
    full, else sleep until `tick` after that call began; stop when the phase's
    N actions are completed. Returns the ticks and whether all completed."""
    from django.conf import settings

    from outreach.execution import actions_dispatch
    from outreach.models import Action, ActionStatus

    batch = settings.DISPATCH_BATCH_SIZE
    ticks: list[Tick] = []
    start = time.monotonic()
    while True:
        began = time.monotonic()
        claimed = len(actions_dispatch())
        ticks.append(Tick(began - start, claimed, time.monotonic() - began))
        if claimed and claimed % batch == 0:
            continue  # the last batch was full: more may be due
        done = Action.objects.filter(
            workspace=workspace, list_id=phase, status=ActionStatus.COMPLETED
        ).count()
        if done >= n:
            return ticks, True
        if time.monotonic() - start > timeout:
            return ticks, False
        time.sleep(max(0.0, began + tick - time.monotonic()))


def run_engine(args, workspace, identity, sampler: Sampler, worker: Worker, conn):
    insert_actions(workspace, identity, args.actions, "engine")
    t0 = make_due(workspace, "engine", args.actions, lead=lead_for(args.actions))
    flush_own_stats()
    before = pg_counters(conn)
    wait_until(t0, "engine")
    cpu_before = CpuSnapshot.take(worker.pid)
    sampler.measure()
    ticks, ok = dispatch_until_done(
        workspace, "engine", args.actions, tick=args.tick, timeout=args.timeout
    )
    cpu_after = CpuSnapshot.take(worker.pid)
    sampler.pause()
    flush_own_stats()
    result = PhaseResult("engine", args.actions, t0)
    result.counters = deltas(before, pg_counters(conn))
    result.counters["xact_commit"] -= sampler.samples  # the sampler's own reads
    result.set_cpu(cpu_before, cpu_after)
    collect(result, workspace, lag_from_attempts=True)
    return result, ticks, ok


def run_in_process(n: int, workspace, identity, conn) -> PhaseResult:
    """The engine's services, one after another in this process."""
    import noop_executor
    from django.conf import settings
    from django.db import connection

    from outreach.execution import action_claim_due, action_execute

    noop_executor.install()
    insert_actions(workspace, identity, n, "services")
    statements = 0

    def count(execute, sql, params, many, context):
        nonlocal statements
        statements += 1
        return execute(sql, params, many, context)

    t0 = make_due(workspace, "services", n, lead=lead_for(n))
    flush_own_stats()
    before = pg_counters(conn)
    wait_until(t0, "services")
    cpu_before = CpuSnapshot.take(None)
    with connection.execute_wrapper(count):
        while claims := action_claim_due(limit=settings.DISPATCH_BATCH_SIZE):
            for claim in claims:
                action_execute(action_id=claim.action_id, lease_token=claim.lease_token)
    cpu_after = CpuSnapshot.take(None)
    flush_own_stats()
    result = PhaseResult("services", n, t0, statements=statements)
    result.counters = deltas(before, pg_counters(conn))
    result.set_cpu(cpu_before, cpu_after)
    collect(result, workspace, lag_from_attempts=True)
    return result


FLOOR_CLAIM = """
UPDATE outreach_action SET status = 'processing', updated_at = clock_timestamp()
WHERE id IN (
    SELECT id FROM outreach_action
    WHERE status = 'scheduled' AND scheduled_time <= now()
    ORDER BY scheduled_time LIMIT %s FOR UPDATE SKIP LOCKED
) RETURNING id
"""
FLOOR_COMPLETE = (
    "UPDATE outreach_action SET status = 'completed', executed_at = now() WHERE id = ANY(%s)"
)


def run_floor(n: int, workspace, identity, sampler: Sampler, conn, phase: str) -> PhaseResult:
    """Claim and complete with plain SQL, autocommit, one process: the floor."""
    from django.conf import settings
    from django.db import connection

    insert_actions(workspace, identity, n, phase)
    t0 = make_due(workspace, phase, n, lead=lead_for(n))
    flush_own_stats()
    before = pg_counters(conn)
    connection.ensure_connection()
    cursor = connection.create_cursor()  # the bare DB-API cursor, autocommit
    wait_until(t0, phase)
    cpu_before = CpuSnapshot.take(None)
    sampler.measure()
    statements = 0
    try:
        while True:
            cursor.execute(FLOOR_CLAIM, [settings.DISPATCH_BATCH_SIZE])
            ids = [row[0] for row in cursor.fetchall()]
            statements += 1
            if not ids:
                break
            cursor.execute(FLOOR_COMPLETE, [ids])
            statements += 1
    finally:
        cursor.close()
    cpu_after = CpuSnapshot.take(None)
    sampler.pause()
    flush_own_stats()
    result = PhaseResult(phase, n, t0, statements=statements)
    result.counters = deltas(before, pg_counters(conn))
    result.counters["xact_commit"] -= sampler.samples
    result.set_cpu(cpu_before, cpu_after)
    collect(result, workspace, lag_from_attempts=False)
    return result


def explain_claim(workspace, identity, n: int) -> list[str]:
    """The plan of the dispatcher's claim SELECT with N rows due at one
    instant: the engine's own statement, captured from action_claim_due and
    run under EXPLAIN ANALYZE, all inside a rolled-back transaction."""
    from django.db import connection, transaction
    from django.utils import timezone

    from outreach.execution import action_claim_due
    from outreach.models import Action

    lines: list[str] = []
    with transaction.atomic():
        insert_actions(workspace, identity, n, "explain")
        Action.objects.filter(workspace=workspace, list_id="explain").update(
            scheduled_time=timezone.now() - dt.timedelta(seconds=1)
        )
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE outreach_action")
        _, statements = common.capture(lambda: action_claim_due(limit=100))
        select = next(s for s in statements if s.sql.lstrip().upper().startswith("SELECT"))
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN (ANALYZE, COSTS OFF) " + select.sql, select.params)
            lines = [row[0] for row in cursor.fetchall()]
        transaction.set_rollback(True)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE outreach_action")
    return lines


# --- output -------------------------------------------------------------------------------
def seconds(value: float) -> str:
    return f"{value:.3f}"


def report(args, engine, services, floor, ticks, floors) -> None:
    print()
    print(f"N = {args.actions:,} due at T0; throughput = N / (last executed_at - T0);")
    print("lag = execution start - scheduled_time (engine: attempt.started_at; floor: claim time)")
    headers = ["run", "processes", "actions", "T0->last done s", "actions/s"]
    headers += ["lag p50 s", "lag p99 s", "lag max s", "floor/run"]
    rows = []
    runs = [
        (engine, f"celery prefork x{args.concurrency} + dispatcher"),
        (services, "1 (no Celery, no Redis)"),
        (floor, "1 (plain SQL)"),
    ]
    for result, processes_label in runs:
        if result is None:
            continue
        name = {
            "engine": "engine",
            "services": "services in process",
            "floor": f"floor: plain SQL (best of {len(floors)})",
        }[result.kind]
        rows.append(
            [
                name,
                processes_label,
                f"{result.n:,}",
                f"{result.wall:.2f}",
                f"{result.throughput:,.0f}",
                seconds(result.lag(50)),
                seconds(result.lag(99)),
                seconds(max(result.lags) if result.lags else float("nan")),
                f"{floor.throughput / result.throughput:.1f}x" if result.throughput else "-",
            ]
        )
    print(common.table(headers, rows, right=range(2, len(headers))))
    ratio = engine.throughput / floor.throughput if floor.throughput else float("nan")
    print()
    print(
        f"ratio engine/floor = {engine.throughput:,.0f} / {floor.throughput:,.0f} actions/s"
        f" = {ratio:.3f} (the floor is {1 / ratio:.1f}x faster)"
    )
    print(
        "floor runs: "
        + ", ".join(
            f"{f.throughput:,.0f}/s (other processes {f.cpu['other processes'] / f.elapsed:.0%})"
            for f in floors
        )
    )
    minutes = " | ".join(f"{m}-{m + 1}: {count:,}" for m, count in engine.per_minute)
    print(f"engine completions per minute after T0: {minutes}")

    claimed_ticks = [t for t in ticks if t.claimed]
    if claimed_ticks:
        last = claimed_ticks[-1]
        busy = sum(t.seconds for t in claimed_ticks)
        print(
            f"dispatcher: {sum(t.claimed for t in ticks):,} claimed and enqueued by"
            f" T0+{last.at + last.seconds:.2f} s in {len(claimed_ticks)} actions_dispatch()"
            f" calls ({busy:.2f} s busy, {args.actions / busy:,.0f} actions/s);"
            f" {len(ticks)} calls in all"
        )

    print()
    print("== cost per action (PostgreSQL counters; transactions exclude the sampler's reads)")
    headers = ["run", "commits", "rows ins", "rows upd", "sessions", "WAL bytes*", "WAL syncs*"]
    headers += ["stmts", "pg active ms", "idle in tx ms"]
    rows = []
    for result in (engine, services, floor):
        if result is None:
            continue
        c = result.counters
        per = result.n
        rows.append(
            [
                result.kind,
                f"{c['xact_commit'] / per:.2f}",
                f"{c['tup_inserted'] / per:.2f}",
                f"{c['tup_updated'] / per:.2f}",
                f"{c['sessions'] / per:.3f}",
                f"{c['wal_bytes'] / per:,.0f}",
                f"{c['wal_sync'] / per:.2f}",
                f"{result.statements / per:.2f}" if result.statements else "-",
                f"{c['active_time'] / per:.3f}",
                f"{c['idle_in_transaction_time'] / per:.3f}",
            ]
        )
    print(common.table(headers, rows))
    print(
        "* cluster-wide (pg_stat_wal). stmts: counted in this process (engine: not"
        " observable in the worker). pg active / idle in tx: pg_stat_database session"
        " times, summed over sessions."
    )

    print()
    print("== CPU while running: ms of CPU per action, and % of one core over the run")
    runs = [r for r in (engine, services, floor) if r is not None]
    headers = ["component"]
    for result in runs:
        headers += [f"{result.kind} ms/act", f"{result.kind} %"]
    keys = [*CPU_COMPONENTS, "other processes", "machine busy"]
    rows = []
    for key in keys:
        cells = [key]
        for result in runs:
            value = result.cpu.get(key)
            if value is None:
                cells += ["-", "-"]
            else:
                cells += [f"{value * 1000 / result.n:.2f}", f"{value / result.elapsed:.0%}"]
        rows.append(cells)
    cells = ["machine capacity"]
    for result in runs:
        cells += ["", f"{result.cpu['machine total'] / result.elapsed:.0%}"]
    rows.append(cells)
    print(common.table(headers, rows))
    print(
        "bench process = the dispatcher (engine) or the whole run (services, floor), plus the"
        " 20 Hz sampler; postgres = every backend of the cluster, those that exited included;"
        " other processes = anything else running on the machine meanwhile."
    )


def print_states(title: str, states: Counter, samples: int) -> None:
    total = sum(states.values())
    if not total:
        return
    print(f"{title} ({samples:,} samples)")
    for label, count in states.most_common():
        print(f"  {count / total:6.1%}  {label}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--actions", type=int, default=20_000, help="actions per run (20,000)")
    parser.add_argument(
        "--concurrency", type=int, default=2, help="worker pool processes (2, as the Procfile)"
    )
    parser.add_argument(
        "--tick", type=float, default=1.0, help="dispatcher period when idle, as beat (1.0 s)"
    )
    parser.add_argument(
        "--sample",
        type=int,
        default=2_000,
        help="actions for the in-process services run (2,000; 0 skips it)",
    )
    parser.add_argument("--timeout", type=float, default=900, help="give the engine up (900 s)")
    parser.add_argument("--loglevel", default="INFO", help="worker log level (INFO, as Procfile)")
    parser.add_argument(
        "--db-reuse-max",
        type=int,
        default=None,
        help="what-if: the worker runs as if CELERY_DB_REUSE_MAX=N were set (default: unset)",
    )
    parser.add_argument(
        "--floor-repeat", type=int, default=3, help="floor runs; the fastest counts (3)"
    )
    parser.add_argument("--no-explain", action="store_true", help="skip the claim query's plan")
    args = parser.parse_args(argv)
    began = time.monotonic()

    prepare_environment()
    if not common.using_postgresql():
        sys.exit("bench/dispatch.py needs PostgreSQL: set DATABASE_URL=postgres://...")
    common.bootstrap("bench-dispatch")
    import psycopg
    from django.conf import settings
    from django.db import connection

    log_to_file(Path(settings.DATA_DIR) / "bench.log")
    created = common.ensure_postgres_database()
    migrate_seconds = common.migrate()
    workspace, identity, deleted, clean_seconds = bench_setup()
    flush_redis()

    with connection.cursor() as cursor:
        cursor.execute("SELECT version(), current_setting('synchronous_commit')")
        version, sync_commit = cursor.fetchone()
        cursor.execute("SELECT pg_backend_pid()")
        own_backend = cursor.fetchone()[0]
    db = settings.DATABASES["default"]
    print("bench/dispatch.py: due actions to completed, engine vs plain SQL")
    print(f"database   {version.split(' on ')[0]}, {db['NAME']}" + " (created)" * created)
    print(f"           synchronous_commit={sync_commit}; migrate {migrate_seconds:.1f} s;")
    print(f"           cleaned {deleted:,} rows of earlier runs in {clean_seconds:.1f} s")
    print(f"broker     {settings.CELERY_BROKER_URL} (flushed)")
    print(f"machine    {os.cpu_count()} CPUs; DEBUG={int(settings.DEBUG)}")
    print(
        f"batch      DISPATCH_BATCH_SIZE={settings.DISPATCH_BATCH_SIZE},"
        f" ACTION_LEASE_SECONDS={settings.ACTION_LEASE_SECONDS}"
    )

    log_path = Path(settings.DATA_DIR) / "worker.log"
    worker = Worker(args.concurrency, args.loglevel, log_path, args.db_reuse_max)
    print(f"worker     PYTHONPATH=bench {' '.join(worker.command[2:])}")
    if args.db_reuse_max:
        print(f"           what-if: as if CELERY_DB_REUSE_MAX={args.db_reuse_max}")
    print(
        f"dispatch   this process calls actions_dispatch() from T0, again at once while the"
        f" last batch was full, else {args.tick:g} s after the previous call began"
    )
    sys.stdout.flush()

    conn = psycopg.connect(autocommit=True, **pg_params())  # counters, not measured
    exclude = {conn.info.backend_pid}
    sampler = Sampler(slots=args.concurrency, own_backend=own_backend, exclude=exclude)
    sampler.start()
    plan: list[str] = []
    try:
        if not args.no_explain:
            plan = explain_claim(workspace, identity, args.actions)
        boot = worker.start()
        # Warm-up: the pool processes import and connect; the no-op is checked.
        insert_actions(workspace, identity, WARMUP_ACTIONS, "warmup")
        wait_until(make_due(workspace, "warmup", WARMUP_ACTIONS, lead=0.5), "warm-up")
        _, ok = dispatch_until_done(workspace, "warmup", WARMUP_ACTIONS, tick=0.1, timeout=60)
        warm = PhaseResult("warmup", WARMUP_ACTIONS, dt.datetime.now(dt.UTC))
        collect(warm, workspace, lag_from_attempts=True)
        if not ok or warm.noop != WARMUP_ACTIONS:
            worker.fail(
                f"warm-up: {status_counts(workspace, 'warmup')}; {warm.noop} through the no-op"
            )
        print(f"worker up  in {boot:.1f} s; warm-up of {WARMUP_ACTIONS} actions through the no-op")
        sys.stdout.flush()

        engine, ticks, ok = run_engine(args, workspace, identity, sampler, worker, conn)
        engine_states, engine_samples = Counter(sampler.states), sampler.samples
        dispatcher_states = Counter(sampler.own_states)
    finally:
        worker.stop()
        flush_redis()
    if not ok:
        sys.exit(
            f"engine: not done within {args.timeout:.0f} s: {status_counts(workspace, 'engine')}"
            f"\n--- worker log (last lines) ---\n{worker.tail()}"
        )

    services = None
    if args.sample > 0:
        services = run_in_process(min(args.sample, args.actions), workspace, identity, conn)
    floors = []
    for number in range(1, args.floor_repeat + 1):
        result = run_floor(args.actions, workspace, identity, sampler, conn, f"floor{number}")
        floors.append((result, Counter(sampler.own_states), sampler.samples))
    floor, floor_states, floor_samples = max(floors, key=lambda f: f[0].throughput)
    sampler.close()
    conn.close()

    report(args, engine, services, floor, ticks, [f for f, _, _ in floors])

    print()
    print("== what the database sessions were doing (pg_stat_activity, every 50 ms)")
    print_states(
        f"engine: the {args.concurrency} worker pool processes' sessions",
        engine_states,
        engine_samples,
    )
    print_states(
        "engine: the dispatcher's session (this process)", dispatcher_states, engine_samples
    )
    print_states("floor: its one session", floor_states, floor_samples)

    print()
    print("== checks")
    for result in (engine, services):
        if result is None:
            continue
        print(
            f"{result.name}: {result.completed:,}/{result.n:,} completed,"
            f" {result.noop:,} through the no-op, {result.attempts:,} attempts on"
            f" {result.attempted_actions:,} actions, {result.transitions:,} transitions"
            f" ({result.transitions / result.n:.1f} per action); {result.claims:,} claims,"
            f" {result.reclaimed:,} leases expired and requeued"
        )
    for result, _, _ in floors:
        print(
            f"{result.name}: {result.completed:,}/{result.n:,} completed,"
            f" {result.statements:,} statements"
        )
    if engine.reclaimed:
        print(
            f"note: {engine.reclaimed:,} engine leases (ACTION_LEASE_SECONDS="
            f"{settings.ACTION_LEASE_SECONDS}) ran out while their task still waited in the"
            " broker: each was requeued, claimed again and enqueued again; its first message"
            " then found the lease gone (stale) and did nothing"
        )
    if plan:
        print()
        print(f"== the dispatcher's claim SELECT with {args.actions:,} rows due at one instant")
        for line in plan:
            print(f"  {line}")
    exact = (
        engine.completed == engine.noop == engine.attempts == engine.attempted_actions == engine.n
    )
    print()
    print(f"run took {time.monotonic() - began:.0f} s in all")
    if not exact:
        sys.exit("engine: not every action completed exactly once through the no-op")


if __name__ == "__main__":
    main(sys.argv[1:])
