"""The counters and histograms the processes measure (README "Metrics and readiness").

They live here, at the bottom of the import layers, so the code that measures
(outreach.execution, outreach.services) imports them downward; hub.metrics
serves them at /metrics with the database gauges it computes at scrape time.

prometheus_client runs in multiprocess mode: config.settings sets
PROMETHEUS_MULTIPROC_DIR (under DATA_DIR) before this module is imported, each
process writes its values to its own files there, and a scrape adds up every
process's files. Label values are bounded: action types and outcome words only,
never an id or an address.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

# What a finished attempt (or a start that did not send) became.
SEND_OUTCOMES = ("completed", "retrying", "failed", "deferred")

SENDS = Counter(
    "hub_sends",
    "Actions a worker finished, by type and outcome (completed, retrying, failed, deferred).",
    ["type", "outcome"],
)
SEND_SECONDS = Histogram(
    "hub_send_seconds",
    "Time an action's provider call (or in-process execution) took, by type.",
    ["type"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60),
)
DISPATCH_LAG_SECONDS = Histogram(
    "hub_dispatch_lag_seconds",
    "How late an attempt started: its start minus the action's scheduled time.",
    buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900, 3600),
)
DECISION_SECONDS = Histogram(
    "hub_decision_seconds",
    "Time from an action's creation to its approval or rejection.",
    buckets=(1, 10, 60, 300, 900, 1800, 3600, 4 * 3600, 12 * 3600, 86400, 3 * 86400, 7 * 86400),
)


def sends_count(type_: str, outcome: str, count: int = 1) -> None:
    """Count `count` finished actions of one type and outcome; outcomes outside
    SEND_OUTCOMES (cancelled, stale) are not sends and are not counted."""
    if outcome in SEND_OUTCOMES and type_:
        SENDS.labels(type=type_, outcome=outcome).inc(count)
