"""Scenario `noop`: N due at one instant through the no-op executor, the
engine beside the in-process services and the plain-SQL floor."""

from __future__ import annotations

import datetime as dt
import sys
import time
from collections import Counter

import _common as common

from dispatch_parts.data import (
    WARMUP_ACTIONS,
    PhaseResult,
    collect,
    insert_actions,
    lead_for,
    make_due,
    status_counts,
    wait_until,
)
from dispatch_parts.harness import (
    Bench,
    Window,
    dispatch_until_done,
    dispatcher_line,
    quiet_worker_stats,
    setup,
)
from dispatch_parts.processes import Worker, flush_redis
from dispatch_parts.report import (
    cost_table,
    cpu_table,
    engine_check,
    print_states,
    seconds,
    verdict,
)

WORKER_LABEL = "celery worker (parent + pool)"


def noop_worker(bench: Bench, args) -> Worker:
    """The real worker with the no-op executor and the statement counter."""
    env = {"BENCH_PROBE_DIR": str(bench.probe_dir)}
    if args.db_reuse_max:
        env["BENCH_DB_REUSE_MAX"] = str(args.db_reuse_max)
    return Worker(
        args.concurrency,
        args.loglevel,
        bench.data_dir / "worker.log",
        includes=["noop_executor", "dispatch_parts.worker_probe"],
        env=env,
    )


def warm_up(bench: Bench, worker: Worker, dispatch) -> None:
    """The pool processes import and connect; the no-op is checked. `dispatch`
    makes the warm-up's actions run (the bench as beat, or beat itself)."""
    insert_actions(bench.workspace, bench.identities, WARMUP_ACTIONS, "warmup")
    wait_until(make_due(bench.workspace, "warmup", WARMUP_ACTIONS, lead=0.5), "warm-up")
    ok = dispatch()
    warm = PhaseResult("warmup", WARMUP_ACTIONS, dt.datetime.now(dt.UTC))
    collect(warm, bench.workspace, lag_from_attempts=True)
    if not ok or warm.noop != WARMUP_ACTIONS:
        worker.fail(
            f"warm-up: {status_counts(bench.workspace, 'warmup')}; {warm.noop} through the no-op"
        )


def run_engine(bench: Bench, worker: Worker, warmed: float):
    """The engine phase; its window is settled by the caller once the worker
    stopped. `warmed`: when the warm-up ended (monotonic)."""
    args = bench.args
    insert_actions(bench.workspace, bench.identities, args.actions, "engine")
    quiet_worker_stats(warmed)
    t0 = make_due(bench.workspace, "engine", args.actions, lead=lead_for(args.actions))
    window = Window(bench, {WORKER_LABEL: worker.pid})
    window.open()
    wait_until(t0, "engine")
    window.start()
    ticks, ok, statements = dispatch_until_done(
        bench.workspace, "engine", args.actions, tick=args.tick, timeout=args.timeout
    )
    result = PhaseResult("engine", args.actions, t0, statements=statements)
    window.end(result)
    return result, window, ticks, ok


def run_in_process(bench: Bench, n: int) -> PhaseResult:
    """The engine's services in this process, without Celery and Redis: each
    batch claimed with action_claim_due and run with actions_execute_batch (an
    engine without it: action_execute per action), one after another."""
    import noop_executor
    from django.conf import settings
    from django.db import connection

    from outreach import execution
    from outreach.execution import action_claim_due, action_execute

    execute_batch = getattr(execution, "actions_execute_batch", None)  # the batch engine

    noop_executor.install()
    insert_actions(bench.workspace, bench.identities, n, "services")
    statements = 0

    def count(execute, sql, params, many, context):
        nonlocal statements
        statements += 1
        return execute(sql, params, many, context)

    t0 = make_due(bench.workspace, "services", n, lead=lead_for(n))
    sampler, bench.sampler = bench.sampler, None  # not sampled: one session, this one
    window = Window(bench, {})
    window.open()
    wait_until(t0, "services")
    window.start()
    with connection.execute_wrapper(count):
        while claims := action_claim_due(limit=settings.DISPATCH_BATCH_SIZE):
            if execute_batch is not None:  # what a worker's task does with one message
                execute_batch(
                    lease_token=claims[0].lease_token, action_ids=[c.action_id for c in claims]
                )
                continue
            for claim in claims:
                action_execute(action_id=claim.action_id, lease_token=claim.lease_token)
    result = PhaseResult("services", n, t0, statements=statements)
    window.close(result)
    bench.sampler = sampler
    collect(result, bench.workspace, lag_from_attempts=True)
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


def run_floor(bench: Bench, n: int, phase: str) -> PhaseResult:
    """Claim and complete with plain SQL, autocommit, one process: the floor."""
    from django.conf import settings
    from django.db import connection

    insert_actions(bench.workspace, bench.identities, n, phase)
    t0 = make_due(bench.workspace, phase, n, lead=lead_for(n))
    window = Window(bench, {})
    window.open()
    connection.ensure_connection()
    cursor = connection.create_cursor()  # the bare DB-API cursor, autocommit
    wait_until(t0, phase)
    window.start()
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
    result = PhaseResult(phase, n, t0, statements=statements)
    window.close(result)
    collect(result, bench.workspace, lag_from_attempts=False)
    return result


def explain_claim(bench: Bench, n: int) -> list[str]:
    """The plan of the dispatcher's claim SELECT with N rows due at one
    instant: the engine's own statement, captured from action_claim_due and
    run under EXPLAIN ANALYZE, all inside a rolled-back transaction."""
    from django.db import connection, transaction
    from django.utils import timezone

    from outreach.execution import action_claim_due
    from outreach.models import Action

    lines: list[str] = []
    with transaction.atomic():
        insert_actions(bench.workspace, bench.identities, n, "explain")
        Action.objects.filter(workspace=bench.workspace, list_id="explain").update(
            scheduled_time=timezone.now() - dt.timedelta(seconds=1)
        )
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE outreach_action")
        _, statements = common.capture(lambda: action_claim_due(limit=100))
        select = next((s for s in statements if s.sql.lstrip().upper().startswith("SELECT")), None)
        if select is not None:
            with connection.cursor() as cursor:
                cursor.execute("EXPLAIN (ANALYZE, COSTS OFF) " + select.sql, select.params)
                lines = [row[0] for row in cursor.fetchall()]
        transaction.set_rollback(True)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE outreach_action")
    return lines


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
        if ratio
        else "ratio engine/floor: -"
    )
    worker_cpu = engine.cpu.get(WORKER_LABEL, 0.0) * 1000 / engine.n
    print(
        f"targets (issue 13): engine >= 2,000 actions/s {verdict(engine.throughput >= 2000)};"
        f" >= 25 % of the floor {verdict(ratio >= 0.25)};"
        f" worker CPU <= 1 ms per action ({worker_cpu:.2f}) {verdict(worker_cpu <= 1)}"
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
    line = dispatcher_line(ticks, args.actions)
    if line:
        print(line)

    results = [r for r in (engine, services, floor) if r is not None]
    cost_table(
        results,
        "the engine's = the dispatcher's (this process) + the worker pool processes'"
        " (dispatch_parts/worker_probe.py); services and floor: this process's.",
    )
    cpu_table(
        results,
        "bench process = the dispatcher (engine) or the whole run (services, floor), plus the"
        " 20 Hz sampler;",
    )


def run(args) -> None:
    began = time.monotonic()
    bench = setup(
        args, "bench/dispatch.py --scenario noop: due actions to completed, engine vs plain SQL"
    )
    from django.conf import settings

    worker = noop_worker(bench, args)
    print(f"worker     PYTHONPATH=bench {' '.join(worker.command[2:])}")
    if args.db_reuse_max:
        print(f"           what-if: as if CELERY_DB_REUSE_MAX={args.db_reuse_max}")
    print(
        f"dispatch   this process calls actions_dispatch() from T0, again at once while the"
        f" last batch was full, else {args.tick:g} s after the previous call began"
    )
    sys.stdout.flush()

    sampler = bench.start_sampler(slots=args.concurrency)
    plan: list[str] = []
    try:
        if not args.no_explain:
            plan = explain_claim(bench, args.actions)
        boot = worker.start()
        warm_up(
            bench,
            worker,
            lambda: dispatch_until_done(
                bench.workspace, "warmup", WARMUP_ACTIONS, tick=0.1, timeout=60
            )[1],
        )
        warmed = time.monotonic()
        print(f"worker up  in {boot:.1f} s; warm-up of {WARMUP_ACTIONS} actions through the no-op")
        sys.stdout.flush()

        engine, window, ticks, ok = run_engine(bench, worker, warmed)
        engine_states, engine_samples = Counter(sampler.states), sampler.samples
        dispatcher_states = Counter(sampler.own_states)
    finally:
        worker.stop()
        flush_redis()
    window.settle(engine)
    collect(engine, bench.workspace, lag_from_attempts=True)
    if not ok:
        sys.exit(
            f"engine: not done within {args.timeout:.0f} s:"
            f" {status_counts(bench.workspace, 'engine')}"
            f"\n--- worker log (last lines) ---\n{worker.tail()}"
        )

    services = None
    if args.sample > 0:
        services = run_in_process(bench, min(args.sample, args.actions))
    floors = []
    for number in range(1, args.floor_repeat + 1):
        result = run_floor(bench, args.actions, f"floor{number}")
        floors.append((result, Counter(sampler.own_states), sampler.samples))
    floor, floor_states, floor_samples = max(floors, key=lambda f: f[0].throughput)
    bench.close()

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
    print(engine_check(engine, f", {engine.noop:,} through the no-op"))
    if services is not None:
        print(engine_check(services, f", {services.noop:,} through the no-op"))
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
