"""The tables every scenario prints: cost per action, CPU per component, what
the database sessions were doing."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import _common as common

from dispatch_parts.data import PhaseResult


def seconds(value: float) -> str:
    return f"{value:.3f}"


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def cost_table(results: Sequence[PhaseResult], note: str) -> None:
    print()
    print("== cost per action (PostgreSQL counters; transactions exclude the sampler's reads)")
    headers = ["run", "stmts", "commits", "rows ins", "rows upd", "sessions", "WAL bytes*"]
    headers += ["WAL syncs*", "pg active ms", "idle in tx ms"]
    rows = []
    for result in results:
        c = result.counters
        per = result.n
        rows.append(
            [
                result.kind,
                f"{result.statements / per:.2f}" if result.statements else "-",
                f"{c['xact_commit'] / per:.2f}",
                f"{c['tup_inserted'] / per:.2f}",
                f"{c['tup_updated'] / per:.2f}",
                f"{c['sessions'] / per:.3f}",
                f"{c['wal_bytes'] / per:,.0f}",
                f"{c['wal_sync'] / per:.2f}",
                f"{c['active_time'] / per:.3f}",
                f"{c['idle_in_transaction_time'] / per:.3f}",
            ]
        )
    print(common.table(headers, rows))
    for result in results:
        if result.worker_statements:
            print(
                f"{result.kind}: {result.statements:,} statements, of which the worker pool"
                f" processes sent {result.worker_statements:,}"
                f" ({result.worker_statements / result.n:.2f} per action)"
            )
    print(
        "* cluster-wide (pg_stat_wal). pg active / idle in tx: pg_stat_database session"
        f" times, summed over sessions. stmts: {note}"
    )


def cpu_table(results: Sequence[PhaseResult], note: str) -> None:
    print()
    print("== CPU while running: ms of CPU per action, and % of one core over the run")
    headers = ["component"]
    for result in results:
        headers += [f"{result.kind} ms/act", f"{result.kind} %"]
    keys: list[str] = []
    for result in results:
        keys += [key for key in result.components if key not in keys]
    keys += ["other processes", "machine busy"]
    rows = []
    for key in keys:
        cells = [key]
        for result in results:
            value = result.cpu.get(key)
            if value is None:
                cells += ["-", "-"]
            else:
                cells += [f"{value * 1000 / result.n:.2f}", f"{value / result.elapsed:.0%}"]
        rows.append(cells)
    cells = ["machine capacity"]
    for result in results:
        cells += ["", f"{result.cpu['machine total'] / result.elapsed:.0%}"]
    rows.append(cells)
    print(common.table(headers, rows))
    print(
        f"{note} postgres = every backend of the cluster, those that exited included;"
        " other processes = anything else running on the machine meanwhile."
    )


def print_states(title: str, states: Counter, samples: int) -> None:
    total = sum(states.values())
    if not total:
        return
    print(f"{title} ({samples:,} samples)")
    for label, count in states.most_common():
        print(f"  {count / total:6.1%}  {label}")


def engine_check(result: PhaseResult, through: str) -> str:
    """One line: completed, attempts, batches, transitions, reclaimed."""
    batch = f"{result.attempts / result.batches:.1f}" if result.batches else "-"
    return (
        f"{result.name}: {result.completed:,}/{result.n:,} completed{through},"
        f" {result.attempts:,} attempts on {result.attempted_actions:,} actions"
        f" ({result.lost:,} lost) in {result.batches:,} leases ({batch} attempts each),"
        f" {result.transitions:,} transitions ({result.transitions / result.n:.1f} per action);"
        f" {result.claims:,} claims, {result.reclaimed:,} leases expired and requeued"
    )
