"""Helpers shared by the outreach tests."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from django.db import connection
from django.test.utils import CaptureQueriesContext

from outreach.executors import ExecutionContext, ExecutionResult, Prepared, idempotency_key_for

# The due SMS of the execution engine's tests (tests/outreach/conftest.py's due_sms).
PHONE = "+14155551234"
SMS = {"recipient_phone": PHONE, "message": "Your appointment is in 1 hour!"}


def page_plan(client, path: str, params: dict | None = None) -> str:
    """The plan of the last query a GET of `path` ran (a list's page query).

    On PostgreSQL a tiny table's costs are a toss-up (a seq scan, or any index and
    a sort), so scans and sorts are ruled out: the plan then shows the index that
    serves the order by itself, and still has a Sort if there is no such index."""
    with CaptureQueriesContext(connection) as captured:
        response = client.get(path, params or {})
    assert response.status_code == 200, response.content
    sql = captured.captured_queries[-1]["sql"]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            for setting in ("enable_seqscan", "enable_bitmapscan", "enable_sort"):
                cursor.execute(f"SET LOCAL {setting} = off")
            cursor.execute(f"EXPLAIN {sql}")
        else:
            cursor.execute(f"EXPLAIN QUERY PLAN {sql}")
        return "\n".join(str(row) for row in cursor.fetchall())


def context_of(action, attempt: int = 1) -> ExecutionContext:
    """The context the engine would give an executor for `action`."""
    return ExecutionContext(
        action=action,
        identity=action.identity,
        contact=action.contact,
        attempt=attempt,
        idempotency_key=idempotency_key_for(action),
    )


def sends_from_threads(executor, contexts: list[ExecutionContext]) -> tuple[list, list]:
    """A batch's shape without the engine: prepare and record on this thread
    (the database), the provider calls on threads released all at once.
    Returns (the providers' answers, the recorded results)."""
    prepared = [executor.prepare(context) for context in contexts]
    start = threading.Barrier(len(prepared))

    def send(one: Prepared):
        session = executor.open_session(one)
        try:
            start.wait()
            return session.send(one.payload)
        finally:
            session.close()

    with ThreadPoolExecutor(max_workers=len(prepared)) as threads:
        answers = list(threads.map(send, prepared))
    results: list[ExecutionResult] = [
        executor.record(context, one, answer)
        for context, one, answer in zip(contexts, prepared, answers, strict=True)
    ]
    return answers, results
