"""Dispatch: throughput, lag and exactly-once of the execution engine, three scenarios.

    .venv/bin/python bench/dispatch.py [--scenario noop|smtp|lag] [options]

PostgreSQL only (DATABASE_URL, default postgres://postgres@127.0.0.1:5432/
bench_dispatch, created if missing and migrated; it must hold no due actions
outside the bench's own workspace); Redis at REDIS_URL (default
redis://127.0.0.1:6379/8), which is FLUSHDB'd before and after the run. Django
runs with DEBUG=0 (no query log) in this process and in every child. Each
scenario starts a real Celery worker (`celery -A config worker --concurrency=2
--pool=prefork`, two pool processes, as the Procfile runs it) and checks it
with a warm-up of 50 actions before measuring; the worker loads
bench/dispatch_parts/worker_probe.py (`-I`), which counts the SQL statements
each pool process sends.

noop (default): N `send_email` actions (--actions, 20,000) of one identity
    without a daily limit or sending window, no contacts, all due at one
    instant T0, executed through a no-op loaded into the worker
    (bench/noop_executor.py). This process plays beat: from T0 it calls
    `outreach.execution.actions_dispatch()` (reclaim, then claims of
    DISPATCH_BATCH_SIZE, one Celery message per claimed batch) again at once
    while a call's last batch came back full, otherwise --tick after that call
    started (default: outreach.dispatch_due's period in config/periodic_tasks.py,
    as beat would). Then, side by side: a sample (--sample) claimed with
    `action_claim_due` and run batch by batch with `actions_execute_batch` in
    this process (the engine's code without Celery and Redis), and the floor: N fresh rows
    claimed and completed with two plain SQL statements per batch on the bare
    DB-API cursor, run --floor-repeat times (3), the fastest counts. Prints the
    ratio engine/floor, lag p50/p99/max, statements, commits, rows inserted
    and updated per action, CPU per component, what the database sessions were
    doing (pg_stat_activity at 20 Hz) and the claim SELECT's plan. Targets:
    >= 2,000 actions/s, >= 25 % of the floor, worker CPU <= 1 ms per action.

smtp: N emails (--actions, 20,000) over 50 identities (--identities; round
    robin, no daily limit, no window, no contacts), all due at T0, sent by the
    REAL email executor (no no-op) with EMAIL_URL=smtp://127.0.0.1:<port> to a
    loopback aiosmtpd server in a process of its own
    (bench/dispatch_parts/smtp_sink.py) that answers each message after 100 ms
    (--smtp-delay) and records every Message-ID it accepted. This process
    plays beat as in noop. Prints actions/s end to end, lag, statements and
    commits per action, worker CPU, the SMTP connections used, and the
    exactly-once check: each action's Message-ID (the executor's own
    `message_id_for`) arrived exactly once (duplicates = 0, missing = 0).
    Target: >= 500 actions/s with 2 worker processes. --send-concurrency sets
    WORKER_SEND_CONCURRENCY for the worker (default: the engine's).

lag: RATE actions a second for SECONDS (--rate 200, --seconds 60: 12,000),
    inserted up front with scheduled_time = T0 + i / RATE, no-op executor, and
    a REAL `celery -A config beat` (hub.beat.SingleBeatScheduler, the
    schedule of config/periodic_tasks.py, synced first) sending
    outreach.dispatch_due to the worker instead of this process playing beat.
    Prints p50/p99/max lag (attempt started_at - scheduled_time) overall and
    per 10 s of due times, completion lag, throughput against the offered
    rate, beat's ticks, cost per action and CPU. Targets: p99 <= 1.5 s,
    max <= 3 s.

Throughput is N / (last `executed_at` - T0). Nothing is asserted, but the
script exits non-zero when an action does not complete exactly once within
--timeout (noop and lag: once through the no-op; smtp: its email received
once). The parts are in bench/dispatch_parts/ (its __init__ lists them).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # _common, dispatch_parts

SCENARIOS = ("noop", "smtp", "lag")


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--scenario", choices=SCENARIOS, default="noop", help="what to measure (noop)"
    )
    parser.add_argument(
        "--actions", type=int, default=20_000, help="noop and smtp: actions per run (20,000)"
    )
    parser.add_argument(
        "--concurrency", type=int, default=2, help="worker pool processes (2, as the Procfile)"
    )
    parser.add_argument(
        "--tick",
        type=float,
        default=None,
        help="noop and smtp: dispatcher period when idle (default: beat's, from"
        " config/periodic_tasks.py)",
    )
    parser.add_argument("--timeout", type=float, default=900, help="give the engine up (900 s)")
    parser.add_argument(
        "--loglevel", default="INFO", help="worker and beat log level (INFO, as Procfile)"
    )
    noop = parser.add_argument_group("noop")
    noop.add_argument(
        "--sample",
        type=int,
        default=2_000,
        help="actions for the in-process services run (2,000; 0 skips it)",
    )
    noop.add_argument(
        "--db-reuse-max",
        type=int,
        default=None,
        help="what-if: the worker runs as if CELERY_DB_REUSE_MAX=N were set (default: settings')",
    )
    noop.add_argument(
        "--floor-repeat", type=int, default=3, help="floor runs; the fastest counts (3)"
    )
    noop.add_argument("--no-explain", action="store_true", help="skip the claim query's plan")
    smtp = parser.add_argument_group("smtp")
    smtp.add_argument("--identities", type=int, default=50, help="sending identities (50)")
    smtp.add_argument(
        "--smtp-delay", type=float, default=0.1, help="seconds the server takes per message (0.1)"
    )
    smtp.add_argument(
        "--send-concurrency",
        type=int,
        default=None,
        help="WORKER_SEND_CONCURRENCY for the worker (default: the engine's)",
    )
    lag = parser.add_argument_group("lag")
    lag.add_argument("--rate", type=float, default=200, help="actions due per second (200)")
    lag.add_argument("--seconds", type=float, default=60, help="seconds of arrivals (60)")
    args = parser.parse_args(argv)
    if args.actions < 1 or args.identities < 1 or args.rate <= 0 or args.seconds <= 0:
        parser.error("--actions, --identities, --rate and --seconds must be positive")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    if args.scenario == "noop":
        from dispatch_parts import noop as scenario
    elif args.scenario == "smtp":
        from dispatch_parts import smtp as scenario
    else:
        from dispatch_parts import lag as scenario
    scenario.run(args)


if __name__ == "__main__":
    main(sys.argv[1:])
