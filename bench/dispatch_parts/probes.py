"""What bench/dispatch.py measures besides the actions' own rows: CPU per
process from /proc, PostgreSQL's counters (pg_stat_database, pg_stat_wal), what
the database sessions are doing (pg_stat_activity sampled at 20 Hz), and the
statements the worker's pool processes sent (counted by worker_probe)."""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
SAMPLE_SECONDS = 0.05


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


@dataclass
class CpuSnapshot:
    at: float
    values: dict[str, float]

    @classmethod
    def take(cls, trees: dict[str, int | None] | None = None) -> CpuSnapshot:
        """CPU seconds so far of this process, PostgreSQL, Redis, the machine,
        and of each process tree in `trees` (label -> pid; None is skipped)."""
        values = {label: tree_cpu(pid) for label, pid in (trees or {}).items() if pid is not None}
        values["bench process"] = proc_cpu(os.getpid())
        values["postgres (cluster)"] = postgres_cpu()
        values["redis (REDIS_URL)"] = redis_cpu()
        values["machine busy"], values["machine total"] = system_cpu()
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


# --- statements in the worker ---------------------------------------------------------------
def worker_statements(folder: Path) -> int:
    """The statements the worker's pool processes sent so far: the sum of the
    counts worker_probe writes, one file per process, every 0.2 s. Read it
    after flush_own_stats (1.2 s of quiet) so the last counts are written."""
    total = 0
    for path in folder.glob("[0-9]*"):
        try:
            total += int(path.read_text() or 0)
        except (OSError, ValueError):
            continue
    return total


def deltas(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {key: after[key] - before[key] for key in before}
