"""Helpers shared by the benchmarks in bench/: Django bootstrap, percentiles,
SQL capture, timing the captured SQL on a bare DB-API cursor, and EXPLAIN.

A benchmark is a plain script (`python bench/<name>.py`); it imports this module
by its file name, so bench/ needs no __init__.py and pytest never collects it.
"""

from __future__ import annotations

import atexit
import math
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def using_postgresql() -> bool:
    """From the environment alone, before Django is set up."""
    return os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://"))


def bootstrap(prefix: str) -> None:
    """Set Django up from the project's own settings (DEBUG=1 unless set).

    DATA_DIR always points at a fresh temporary folder, removed at exit: with
    DATABASE_URL unset the SQLite file lives there, so a benchmark never touches
    the developer's var/db.sqlite3 (nor var/broker, var/static)."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("DEBUG", "1")
    data_dir = tempfile.mkdtemp(prefix=f"{prefix}-")
    atexit.register(shutil.rmtree, data_dir, ignore_errors=True)
    os.environ["DATA_DIR"] = data_dir
    import django

    django.setup()


def ensure_postgres_database() -> bool:
    """CREATE DATABASE for the configured PostgreSQL database if it is missing.
    Returns True when it had to be created."""
    import psycopg
    from django.conf import settings
    from psycopg import sql

    db = settings.DATABASES["default"]
    params = {
        "host": db.get("HOST") or None,
        "port": db.get("PORT") or None,
        "user": db.get("USER") or None,
        "password": db.get("PASSWORD") or None,
    }
    with psycopg.connect(dbname="postgres", autocommit=True, **params) as admin:
        exists = admin.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [db["NAME"]]
        ).fetchone()
        if exists:
            return False
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(db["NAME"])))
        return True


def migrate() -> float:
    from django.core.management import call_command

    start = time.perf_counter()
    call_command("migrate", interactive=False, verbosity=0)
    return time.perf_counter() - start


# --- statistics -------------------------------------------------------------------
def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100)."""
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f}"


# --- SQL capture and replay ---------------------------------------------------------
@dataclass
class Statement:
    sql: str
    params: object
    many: bool
    timings: list[float] = field(default_factory=list)

    @property
    def summary(self) -> str:
        text = " ".join(self.sql.split())
        return text if len(text) <= 90 else text[:87] + "..."


def capture(call: Callable[[], object]) -> tuple[object, list[Statement]]:
    """Run `call` and return its result with every statement it sent to the
    database (SQL and parameters exactly as Django passed them to the driver)."""
    from django.db import connection

    statements: list[Statement] = []

    def wrapper(execute, sql, params, many, context):
        statements.append(Statement(sql, params, many))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(wrapper):
        result = call()
    return result, statements


def replay(statements: Sequence[Statement]) -> float:
    """Execute the statements on a bare DB-API cursor (the one Django wraps:
    same connection, same parameter binding, no Django layer), fetching every
    row, and return the total seconds. Per-statement times go to `timings`."""
    from django.db import connection

    connection.ensure_connection()
    cursor = connection.create_cursor()
    total = 0.0
    try:
        for statement in statements:
            start = time.perf_counter()
            if statement.many:
                cursor.executemany(statement.sql, statement.params)
            elif statement.params is None:
                cursor.execute(statement.sql)
            else:
                cursor.execute(statement.sql, statement.params)
            if cursor.description is not None:
                cursor.fetchall()
            elapsed = time.perf_counter() - start
            statement.timings.append(elapsed)
            total += elapsed
    finally:
        cursor.close()
    return total


def measure(client, url: str, *, repeat: int, warmup: int):
    """GET `url` with the Django test client: warm up, capture the request's
    statements, then interleave `repeat` API calls with as many replays of those
    statements on the bare cursor. Returns (JSON body, statements, API seconds,
    SQL seconds); a non-200 answer ends the run."""

    def get():
        response = client.get(url)
        if response.status_code != 200:
            raise SystemExit(f"GET {url} answered {response.status_code}: {response.content!r}")
        return response

    for _ in range(warmup):
        get()
    response, statements = capture(get)
    for _ in range(warmup):
        replay(statements)
    for statement in statements:
        statement.timings.clear()
    api, sql = [], []
    for _ in range(repeat):
        start = time.perf_counter()
        get()
        api.append(time.perf_counter() - start)
        sql.append(replay(statements))
    return response.json(), statements, api, sql


# --- plans --------------------------------------------------------------------------
PG_INDEX = re.compile(r"(?:Index(?: Only)? Scan(?: Backward)? using|Bitmap Index Scan on) (\S+)")
PG_SEQ = re.compile(r"(?:Parallel )?Seq Scan on (\S+)")
SQLITE_INDEX = re.compile(r"USING (?:COVERING )?INDEX (\S+)")
SQLITE_SCAN = re.compile(r"^SCAN (\S+)")


@dataclass
class Plan:
    lines: list[str]
    indexes: list[str]
    seq_scans: list[str]


def explain(statement: Statement) -> Plan:
    """The planner's plan (no ANALYZE: nothing is executed)."""
    from django.db import connection

    postgres = connection.vendor == "postgresql"
    prefix = "EXPLAIN " if postgres else "EXPLAIN QUERY PLAN "
    with connection.cursor() as cursor:
        cursor.execute(prefix + statement.sql, statement.params)
        rows = cursor.fetchall()
    if postgres:
        lines = [row[0] for row in rows]
        text = "\n".join(lines)
        indexes = PG_INDEX.findall(text)
        seq = PG_SEQ.findall(text)
    else:
        lines = [str(row[-1]) for row in rows]
        indexes = [m for line in lines for m in SQLITE_INDEX.findall(line)]
        # "SCAN t" reads the whole table; "SCAN t USING INDEX i" walks an index.
        seq = [m for line in lines if "USING" not in line for m in SQLITE_SCAN.findall(line)]
    return Plan(lines, list(dict.fromkeys(indexes)), list(dict.fromkeys(seq)))


# --- output -------------------------------------------------------------------------
def table(
    headers: Sequence[str], rows: Sequence[Sequence[str]], right: Sequence[int] | None = None
) -> str:
    """A plain text table; the `right` columns (default: all but the first) are
    right-aligned."""
    widths = [max(len(str(c)) for c in column) for column in zip(headers, *rows, strict=True)]
    right = range(1, len(headers)) if right is None else right

    def line(cells: Sequence[str]) -> str:
        return " | ".join(
            str(c).rjust(w) if i in right else str(c).ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    rule = "-+-".join("-" * w for w in widths)
    return "\n".join([line(headers), rule, *(line(r) for r in rows)])
