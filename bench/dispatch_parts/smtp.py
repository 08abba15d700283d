"""Scenario `smtp`: N emails over many identities, due at one instant, sent by
the real email executor to a loopback SMTP server that takes 100 ms per
message; each Message-ID must arrive exactly once."""

from __future__ import annotations

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
from dispatch_parts.harness import (
    Window,
    dispatch_until_done,
    dispatcher_line,
    quiet_worker_stats,
    setup,
)
from dispatch_parts.processes import SmtpSink, Worker, flush_redis
from dispatch_parts.report import (
    cost_table,
    cpu_table,
    engine_check,
    print_states,
    seconds,
    verdict,
)

WORKER_LABEL = "celery worker (parent + pool)"
SINK_LABEL = "smtp sink (aiosmtpd)"
TARGET = 500  # actions/s, issue 13


def expected_message_ids(workspace, phase: str) -> dict[str, int]:
    """Message-ID -> action id for the phase's actions, as the email executor
    builds it (outreach.executors.email.message_id_for): the same on every
    attempt, so a second delivery of one action shows as a duplicate."""
    from outreach.executors import ExecutionContext, idempotency_key_for
    from outreach.executors.email import message_id_for
    from outreach.models import Action

    found = {}
    actions = Action.objects.filter(workspace=workspace, list_id=phase).select_related("identity")
    for action in actions.only("id", "uuid", "identity__address"):
        context = ExecutionContext(
            action=action,
            identity=action.identity,
            contact=None,
            attempt=1,
            idempotency_key=idempotency_key_for(action),
        )
        found[message_id_for(context)] = action.pk
    return found


class Delivery:
    """What the sink received of one phase, against what it should have."""

    def __init__(self, expected: dict[str, int], received: list[tuple[float, int, str]]):
        ours = [r for r in received if r[2] in expected]
        counts = Counter(message_id for _, _, message_id in ours)
        self.expected = len(expected)
        self.received = len(ours)
        self.distinct = len(counts)
        self.duplicated = sum(1 for c in counts.values() if c > 1)  # ids that came twice or more
        self.extra_copies = sum(c - 1 for c in counts.values())
        self.missing = self.expected - self.distinct
        self.connections = len({connection for _, connection, _ in ours})
        self.first = min((at for at, _, _ in ours), default=0.0)
        self.last = max((at for at, _, _ in ours), default=0.0)

    @property
    def exact(self) -> bool:
        return self.received == self.distinct == self.expected

    def line(self) -> str:
        return (
            f"{self.received:,} messages received for {self.expected:,} actions:"
            f" {self.distinct:,} distinct Message-IDs, duplicates = {self.extra_copies:,}"
            f" (on {self.duplicated:,} ids), missing = {self.missing:,}"
        )


def wait_delivered(sink: SmtpSink, expected: dict[str, int], timeout: float = 10) -> Delivery:
    """Every completed action's message was recorded before its 250 went out;
    wait a little anyway for the ids still missing (a resend in flight)."""
    deadline = time.monotonic() + timeout
    while True:
        delivery = Delivery(expected, sink.received())
        if delivery.missing == 0 or time.monotonic() > deadline:
            time.sleep(0.5)  # and let a late duplicate show
            return Delivery(expected, sink.received())
        time.sleep(0.2)


def run(args) -> None:
    began = time.monotonic()
    env = {}
    if args.send_concurrency:
        env["WORKER_SEND_CONCURRENCY"] = str(args.send_concurrency)
    bench = setup(
        args,
        "bench/dispatch.py --scenario smtp: emails to a loopback SMTP server, real executor",
        identities=args.identities,
        env=env,
    )
    sink = SmtpSink(args.smtp_delay, bench.data_dir / "sink.rec", bench.data_dir / "sink.log")
    worker: Worker | None = None
    sink.start()
    try:
        worker = Worker(
            args.concurrency,
            args.loglevel,
            bench.data_dir / "worker.log",
            includes=["dispatch_parts.worker_probe"],
            env={
                "EMAIL_URL": f"smtp://127.0.0.1:{sink.port}",
                "ANYMAIL_ESP": None,  # Django's SMTP backend, whatever this shell has
                "BENCH_PROBE_DIR": str(bench.probe_dir),
            },
        )
        print(
            f"smtp       aiosmtpd sink on 127.0.0.1:{sink.port} (pid {sink.pid}), answers each"
            f" message after {args.smtp_delay * 1000:.0f} ms; EMAIL_URL=smtp://127.0.0.1:{sink.port}"
        )
        print(f"worker     PYTHONPATH=bench {' '.join(worker.command[2:])}")
        print("           the real email executor (no no-op); worker_probe counts statements")
        print(
            f"data       {args.actions:,} send_email actions over {args.identities} identities"
            " (round robin; no daily limit, no window, no contacts), all due at T0"
        )
        print(
            f"dispatch   this process calls actions_dispatch() from T0, again at once while the"
            f" last batch was full, else {args.tick:g} s after the previous call began"
        )
        sys.stdout.flush()

        sampler = bench.start_sampler(slots=args.concurrency)
        boot = worker.start()
        insert_actions(bench.workspace, bench.identities, WARMUP_ACTIONS, "warmup")
        wait_until(make_due(bench.workspace, "warmup", WARMUP_ACTIONS, lead=0.5), "warm-up")
        _, ok, _ = dispatch_until_done(
            bench.workspace, "warmup", WARMUP_ACTIONS, tick=0.1, timeout=60
        )
        warm = wait_delivered(sink, expected_message_ids(bench.workspace, "warmup"))
        if not ok or not warm.exact:
            worker.fail(f"warm-up: {status_counts(bench.workspace, 'warmup')}; {warm.line()}")
        print(f"worker up  in {boot:.1f} s; warm-up of {WARMUP_ACTIONS} emails: {warm.line()}")
        sys.stdout.flush()

        warmed = time.monotonic()
        insert_actions(bench.workspace, bench.identities, args.actions, "smtp")
        expected = expected_message_ids(bench.workspace, "smtp")
        quiet_worker_stats(warmed)
        t0 = make_due(bench.workspace, "smtp", args.actions, lead=lead_for(args.actions))
        window = Window(bench, {WORKER_LABEL: worker.pid, SINK_LABEL: sink.pid})
        window.open()
        wait_until(t0, "smtp")
        window.start()
        ticks, ok, statements = dispatch_until_done(
            bench.workspace, "smtp", args.actions, tick=args.tick, timeout=args.timeout
        )
        result = PhaseResult("smtp", args.actions, t0, statements=statements)
        window.end(result)
        states, samples = Counter(sampler.states), sampler.samples
        dispatcher_states = Counter(sampler.own_states)
        delivery = wait_delivered(sink, expected, timeout=10 if ok else 0)
    finally:
        if worker is not None:
            worker.stop()
        sink.stop()
        flush_redis()
    window.settle(result)
    collect(result, bench.workspace, lag_from_attempts=True)
    bench.close()
    if not ok:
        print(
            f"engine: not done within {args.timeout:.0f} s:"
            f" {completed_count(bench.workspace, 'smtp'):,} completed"
            f" ({status_counts(bench.workspace, 'smtp')}); {delivery.line()}"
        )

    print()
    print(
        f"N = {args.actions:,} emails due at T0; throughput = N / (last executed_at - T0);"
        " lag = attempt.started_at - scheduled_time; done = executed_at - scheduled_time"
    )
    headers = ["run", "processes", "actions", "T0->last done s", "actions/s", "lag p50 s"]
    headers += ["lag p99 s", "lag max s", "done p99 s", f">= {TARGET}/s"]
    rows = [
        [
            "engine, real SMTP",
            f"celery prefork x{args.concurrency} + dispatcher",
            f"{result.n:,}",
            f"{result.wall:.2f}",
            f"{result.throughput:,.0f}",
            seconds(result.lag(50)),
            seconds(result.lag(99)),
            seconds(max(result.lags) if result.lags else float("nan")),
            seconds(result.done_lag(99)),
            verdict(result.throughput >= TARGET),
        ]
    ]
    print(common.table(headers, rows, right=range(2, len(headers))))
    span = delivery.last - delivery.first
    print()
    print(
        f"sink: {delivery.received:,} messages over {delivery.connections:,} SMTP connections"
        f" ({delivery.received / max(delivery.connections, 1):.1f} messages each), first to last"
        f" {span:.2f} s ({delivery.received / span if span > 0 else 0:,.0f} messages/s); a"
        f" session carries one message at a time, <= {1 / args.smtp_delay:.0f}/s, so {TARGET}/s"
        f" needs >= {TARGET * args.smtp_delay:.0f} sessions sending at once"
    )
    worker_cpu = result.cpu.get(WORKER_LABEL, 0.0) * 1000 / result.n
    print(f"worker CPU {worker_cpu:.2f} ms per action")
    minutes = " | ".join(f"{m}-{m + 1}: {count:,}" for m, count in result.per_minute)
    print(f"completions per minute after T0: {minutes}")
    line = dispatcher_line(ticks, args.actions)
    if line:
        print(line)

    cost_table(
        [result],
        "the dispatcher's (this process) + the worker pool processes'"
        " (dispatch_parts/worker_probe.py).",
    )
    cpu_table(
        [result], "bench process = the dispatcher, plus the 20 Hz sampler; smtp sink = aiosmtpd;"
    )
    print()
    print("== what the database sessions were doing (pg_stat_activity, every 50 ms)")
    print_states(f"the {args.concurrency} worker pool processes' sessions", states, samples)
    print_states("the dispatcher's session (this process)", dispatcher_states, samples)

    print()
    print("== checks")
    print(engine_check(result, ""))
    print(f"exactly once: {delivery.line()}: {'yes' if delivery.exact else 'NO'}")
    if result.lost:
        print(
            f"note: {result.lost:,} attempts were lost (lease reclaimed mid-send); their"
            " resends carry the same Message-ID"
        )
    print()
    print(f"run took {time.monotonic() - began:.0f} s in all")
    if not ok or not delivery.exact or result.completed != result.n:
        sys.exit("smtp: not every action completed with its email delivered exactly once")
