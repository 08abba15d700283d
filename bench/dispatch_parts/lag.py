"""Scenario `lag`: actions arriving steadily (RATE a second for SECONDS), the
no-op executor, dispatched by a real `celery beat`: how late does each start?"""

from __future__ import annotations

import itertools
import sys
import time
from collections import Counter

import _common as common

from dispatch_parts.data import (
    WARMUP_ACTIONS,
    PhaseResult,
    collect,
    completed_count,
    insert_actions,
    lead_for,
    make_due,
    status_counts,
    wait_until,
)
from dispatch_parts.harness import Window, setup
from dispatch_parts.noop import noop_worker, warm_up
from dispatch_parts.processes import Beat, flush_redis
from dispatch_parts.report import (
    cost_table,
    cpu_table,
    engine_check,
    print_states,
    seconds,
    verdict,
)

WORKER_LABEL = "celery worker (parent + pool)"
BEAT_LABEL = "celery beat"
P99_TARGET = 1.5  # seconds, issue 13
MAX_TARGET = 3.0
WINDOW_SECONDS = 10


def wait_completed(workspace, phase: str, n: int, *, timeout: float, check) -> bool:
    """Poll every 0.5 s (one count) until the phase's N are completed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if completed_count(workspace, phase) >= n:
            return True
        check()
        time.sleep(0.5)
    return completed_count(workspace, phase) >= n


def lag_windows(workspace, phase: str, rate: float) -> list[tuple[int, int, float, float]]:
    """(window start s, actions, p99 lag, max lag) per WINDOW_SECONDS of due times."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT a.item_id::int, EXTRACT(EPOCH FROM min(att.started_at) - a.scheduled_time)"
            " FROM outreach_actionattempt att JOIN outreach_action a ON a.id = att.action_id"
            " WHERE a.workspace_id = %s AND a.list_id = %s GROUP BY a.id",
            [workspace.pk, phase],
        )
        rows = cursor.fetchall()
    buckets: dict[int, list[float]] = {}
    for item, lag in rows:
        start = int(item / rate // WINDOW_SECONDS) * WINDOW_SECONDS
        buckets.setdefault(start, []).append(float(lag))
    return [
        (start, len(lags), common.percentile(lags, 99), max(lags))
        for start, lags in sorted(buckets.items())
    ]


def beat_ticks(beat: Beat, start: float, end: float) -> tuple[int, float, float]:
    """How many dispatch_due ticks beat sent in [start, end] (epoch seconds),
    and the median and largest gap between two of them."""
    stamps = [s for s in beat.dispatch_ticks() if start <= s <= end]
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    if not gaps:
        return len(stamps), float("nan"), float("nan")
    return len(stamps), common.percentile(gaps, 50), max(gaps)


def run(args) -> None:
    began = time.monotonic()
    n = round(args.rate * args.seconds)
    bench = setup(
        args, "bench/dispatch.py --scenario lag: steady arrivals, real beat, no-op executor"
    )
    from django.conf import settings
    from django_celery_beat.models import PeriodicTask

    from config.periodic_tasks import sync_periodic_tasks

    sync_periodic_tasks()  # migrate did it too; the schedule beat reads is this one
    tick = PeriodicTask.objects.select_related("interval").get(name="outreach.dispatch_due")
    worker = noop_worker(bench, args)
    beat = Beat(args.loglevel, bench.data_dir / "beat.log", bench.data_dir / "beat-schedule")
    print(f"worker     PYTHONPATH=bench {' '.join(worker.command[2:])}")
    print(
        f"beat       {' '.join(beat.command[2:])} ({settings.CELERY_BEAT_SCHEDULER});"
        f" outreach.dispatch_due every {tick.interval.every} {tick.interval.period}"
    )
    print(
        f"data       {n:,} send_email actions, action i due at T0 + i / {args.rate:g} s"
        f" ({args.rate:g}/s for {args.seconds:g} s), inserted before T0"
    )
    sys.stdout.flush()

    sampler = bench.start_sampler(slots=args.concurrency + 1)  # + beat's session
    try:
        worker.launch()  # both boot at once
        beat.launch()
        boot = worker.wait_ready()
        beat_boot = beat.wait_ready()

        def beat_dispatches() -> bool:
            return wait_completed(
                bench.workspace, "warmup", WARMUP_ACTIONS, timeout=60, check=beat.check
            )

        warm_up(bench, worker, beat_dispatches)
        print(
            f"up         worker in {boot:.1f} s, beat leading in {beat_boot:.1f} s; warm-up of"
            f" {WARMUP_ACTIONS} actions dispatched by beat, through the no-op"
        )
        sys.stdout.flush()

        insert_actions(bench.workspace, bench.identities, n, "lag")
        t0 = make_due(bench.workspace, "lag", n, lead=lead_for(n), rate=args.rate)
        window = Window(bench, {WORKER_LABEL: worker.pid, BEAT_LABEL: beat.pid})
        window.open()
        wait_until(t0, "lag")
        start_epoch = time.time()
        window.start()
        ok = wait_completed(
            bench.workspace,
            "lag",
            n,
            timeout=args.seconds + args.timeout,
            check=lambda: (worker.check(), beat.check()),
        )
        end_epoch = time.time()
        result = PhaseResult("lag", n, t0)
        window.end(result)
        states, samples = Counter(sampler.states), sampler.samples
    finally:
        beat.stop()
        worker.stop()
        flush_redis()
    window.settle(result)
    collect(result, bench.workspace, lag_from_attempts=True)
    windows = lag_windows(bench.workspace, "lag", args.rate)
    bench.close()
    if not ok:
        sys.exit(
            f"lag: not done within {args.seconds + args.timeout:.0f} s:"
            f" {status_counts(bench.workspace, 'lag')}"
            f"\n--- worker log (last lines) ---\n{worker.tail()}"
        )

    print()
    print(
        f"N = {n:,} actions due from T0 at {args.rate:g}/s; throughput = N / (last executed_at"
        " - T0); lag = attempt.started_at - scheduled_time; done = executed_at - scheduled_time"
    )
    headers = ["run", "processes", "actions", "T0->last done s", "actions/s", "lag p50 s"]
    headers += ["lag p99 s", "lag max s", "done p99 s", "done max s"]
    rows = [
        [
            "engine + beat",
            f"celery prefork x{args.concurrency} + beat",
            f"{n:,}",
            f"{result.wall:.2f}",
            f"{result.throughput:,.0f}",
            seconds(result.lag(50)),
            seconds(result.lag(99)),
            seconds(max(result.lags) if result.lags else float("nan")),
            seconds(result.done_lag(99)),
            seconds(max(result.done_lags) if result.done_lags else float("nan")),
        ]
    ]
    print(common.table(headers, rows, right=range(2, len(headers))))
    p99 = result.lag(99)
    worst = max(result.lags) if result.lags else float("inf")
    print()
    print(
        f"targets (issue 13): lag p99 <= {P99_TARGET:g} s {verdict(p99 <= P99_TARGET)};"
        f" max <= {MAX_TARGET:g} s {verdict(worst <= MAX_TARGET)};"
        f" offered {args.rate:g}/s, completed {result.throughput:,.0f}/s"
    )
    print(
        f"lag by due time, {WINDOW_SECONDS} s windows (p99 / max s): "
        + " | ".join(f"{s}-{s + WINDOW_SECONDS}: {p:.2f}/{m:.2f}" for s, _, p, m in windows)
    )
    count, gap50, gap_max = beat_ticks(beat, start_epoch, end_epoch)
    print(
        f"beat sent outreach.dispatch_due {count} times from T0 to the last completion"
        f" (gap between ticks p50 {gap50:.3f} s, max {gap_max:.3f} s)"
    )
    cost_table(
        [result],
        "the worker pool processes' (dispatch_parts/worker_probe.py), dispatch_due's included;"
        " beat's own lock and schedule statements are not counted (its commits are).",
    )
    cpu_table([result], "bench process = polling for completion once every 0.5 s, the sampler;")
    print()
    print("== what the database sessions were doing (pg_stat_activity, every 50 ms)")
    print_states(
        f"the {args.concurrency} worker pool processes' and beat's sessions", states, samples
    )
    print()
    print("== checks")
    print(engine_check(result, f", {result.noop:,} through the no-op"))
    exact = (
        result.completed == result.noop == result.attempts == result.attempted_actions == result.n
    )
    print()
    print(f"run took {time.monotonic() - began:.0f} s in all")
    if not exact:
        sys.exit("lag: not every action completed exactly once through the no-op")
