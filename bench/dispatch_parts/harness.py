"""What every scenario does around its runs: set Django up on the bench
database, print what it runs on, and measure one window (PostgreSQL's
counters, CPU, the session sampler, the statements sent)."""

from __future__ import annotations

import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import _common as common

from dispatch_parts.data import bench_setup, prepare_environment
from dispatch_parts.probes import (
    CpuSnapshot,
    Sampler,
    deltas,
    flush_own_stats,
    pg_counters,
    pg_params,
    worker_statements,
)
from dispatch_parts.processes import flush_redis, log_to_file


@dataclass
class Bench:
    args: object
    workspace: object
    identities: list
    own_backend: int
    conn: object  # psycopg, autocommit: the counters, not measured
    sampler: Sampler | None = None
    data_dir: Path = field(default_factory=Path)
    probe_dir: Path = field(default_factory=Path)

    def start_sampler(self, slots: int) -> Sampler:
        self.sampler = Sampler(
            slots=slots, own_backend=self.own_backend, exclude={self.conn.info.backend_pid}
        )
        self.sampler.start()
        return self.sampler

    def close(self) -> None:
        if self.sampler is not None:
            self.sampler.close()
        self.conn.close()


def setup(args, title: str, *, identities: int = 1, env: dict[str, str] | None = None) -> Bench:
    """Django on the bench database (created and migrated if needed), the bench
    workspace with `identities` identities and no actions, Redis flushed; the
    header printed. `env` is set before Django reads its settings (and so is
    inherited by the worker and beat)."""
    prepare_environment()
    os.environ.update(env or {})
    if not common.using_postgresql():
        sys.exit("bench/dispatch.py needs PostgreSQL: set DATABASE_URL=postgres://...")
    common.bootstrap("bench-dispatch")
    import psycopg
    from django.conf import settings
    from django.db import connection

    data_dir = Path(settings.DATA_DIR)
    log_to_file(data_dir / "bench.log")
    created = common.ensure_postgres_database()
    migrate_seconds = common.migrate()
    workspace, found, deleted, clean_seconds = bench_setup(identities)
    flush_redis()
    with connection.cursor() as cursor:
        cursor.execute("SELECT version(), current_setting('synchronous_commit')")
        version, sync_commit = cursor.fetchone()
        cursor.execute("SELECT pg_backend_pid()")
        own_backend = cursor.fetchone()[0]
    db = settings.DATABASES["default"]
    print(title)
    print(f"database   {version.split(' on ')[0]}, {db['NAME']}" + " (created)" * created)
    print(f"           synchronous_commit={sync_commit}; migrate {migrate_seconds:.1f} s;")
    print(f"           cleaned {deleted:,} rows of earlier runs in {clean_seconds:.1f} s")
    print(f"broker     {settings.CELERY_BROKER_URL} (flushed)")
    print(f"machine    {os.cpu_count()} CPUs; DEBUG={int(settings.DEBUG)}")
    engine = [
        f"DISPATCH_BATCH_SIZE={settings.DISPATCH_BATCH_SIZE}",
        f"DISPATCH_MAX_IN_FLIGHT={getattr(settings, 'DISPATCH_MAX_IN_FLIGHT', '-')}",
        f"ACTION_LEASE_SECONDS={settings.ACTION_LEASE_SECONDS}",
    ]
    if hasattr(settings, "WORKER_SEND_CONCURRENCY"):
        engine.append(f"WORKER_SEND_CONCURRENCY={settings.WORKER_SEND_CONCURRENCY}")
    print(f"engine     {', '.join(engine)}")
    if getattr(args, "tick", 0) is None:  # the bench as beat: beat's own period
        from config.periodic_tasks import PERIODIC_TASKS

        args.tick = PERIODIC_TASKS["outreach.dispatch_due"].every_seconds
    probe_dir = Path(tempfile.mkdtemp(prefix="probe-", dir=data_dir))
    conn = psycopg.connect(autocommit=True, **pg_params())
    return Bench(args, workspace, found, own_backend, conn, None, data_dir, probe_dir)


# PostgreSQL 15 publishes an idle backend's pending counters 10 s after its
# last report (PGSTAT_IDLE_INTERVAL) when it reported less than a second ago,
# and at once when the backend exits.
PGSTAT_IDLE_SECONDS = 10.5


def quiet_worker_stats(since: float) -> None:
    """Wait until the worker's sessions, idle since `since` (monotonic), have
    published what they did before (the warm-up), so it is not counted in the
    window opened next."""
    time.sleep(max(0.0, since + PGSTAT_IDLE_SECONDS - time.monotonic()))


@dataclass
class Window:
    """One measured stretch: open() before T0 (counters), start() at T0 (CPU,
    sampler), end() when the work is done (CPU, the worker's statements), and
    settle() once the processes of the run have stopped: their backends then
    exit and publish their last counters. close() is end() and settle(), for a
    run in this process. `trees` are the processes whose CPU counts, by label
    (their children included)."""

    bench: Bench
    trees: dict[str, int | None]
    counters: dict[str, float] = field(default_factory=dict)
    statements: int = 0
    cpu_before: CpuSnapshot | None = None
    cpu_after: CpuSnapshot | None = None
    samples: int = 0

    def open(self) -> None:
        flush_own_stats()
        self.counters = pg_counters(self.bench.conn)
        self.statements = worker_statements(self.bench.probe_dir)

    def start(self) -> None:
        self.cpu_before = CpuSnapshot.take(self.trees)
        if self.bench.sampler is not None:
            self.bench.sampler.measure()

    def end(self, result) -> None:
        """CPU and the worker's statements (added to what `result.statements`
        already holds, e.g. the dispatcher's own)."""
        self.cpu_after = CpuSnapshot.take(self.trees)
        if self.bench.sampler is not None:
            self.bench.sampler.pause()
            self.samples = self.bench.sampler.samples
        result.set_cpu(self.cpu_before, self.cpu_after)
        time.sleep(0.3)  # worker_probe writes its counts every 0.2 s
        result.worker_statements = worker_statements(self.bench.probe_dir) - self.statements
        result.statements += result.worker_statements

    def settle(self, result) -> None:
        """PostgreSQL's counters over the window, read after the run's processes
        stopped (their sessions' last counters published)."""
        flush_own_stats()
        result.counters = deltas(self.counters, pg_counters(self.bench.conn))
        result.counters["xact_commit"] -= self.samples  # the sampler's own reads

    def close(self, result) -> None:
        self.end(result)
        self.settle(result)


# --- the bench as beat ------------------------------------------------------------------------
@dataclass
class Tick:
    at: float  # seconds after the first call
    claimed: int
    seconds: float


def dispatch_until_done(workspace, phase: str, n: int, *, tick: float, timeout: float):
    """Play beat from T0: call actions_dispatch() again at once while a call's
    last batch was full, else sleep until `tick` after that call began; stop
    when the phase's N actions are completed. Returns the ticks, whether all
    completed, and the statements the dispatch calls sent."""
    from django.conf import settings
    from django.db import connection

    from dispatch_parts.data import completed_count
    from outreach.execution import actions_dispatch

    batch = settings.DISPATCH_BATCH_SIZE
    ticks: list[Tick] = []
    statements = 0

    def count(execute, sql, params, many, context):
        nonlocal statements
        statements += 1
        return execute(sql, params, many, context)

    start = time.monotonic()
    while True:
        began = time.monotonic()
        with connection.execute_wrapper(count):
            claimed = len(actions_dispatch())
        ticks.append(Tick(began - start, claimed, time.monotonic() - began))
        if claimed and claimed % batch == 0:
            continue  # the last batch was full: more may be due
        if completed_count(workspace, phase) >= n:
            return ticks, True, statements
        if time.monotonic() - start > timeout:
            return ticks, False, statements
        time.sleep(max(0.0, began + tick - time.monotonic()))


def dispatcher_line(ticks: list[Tick], n: int) -> str | None:
    claimed_ticks = [t for t in ticks if t.claimed]
    if not claimed_ticks:
        return None
    last = claimed_ticks[-1]
    busy = sum(t.seconds for t in claimed_ticks)
    return (
        f"dispatcher (this process): {sum(t.claimed for t in ticks):,} claimed and enqueued by"
        f" T0+{last.at + last.seconds:.2f} s in {len(claimed_ticks)} actions_dispatch()"
        f" calls ({busy:.2f} s busy, {n / busy:,.0f} actions/s); {len(ticks)} calls in all"
    )
