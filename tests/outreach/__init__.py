"""Helpers shared by the outreach tests."""

from __future__ import annotations

from django.db import connection
from django.test.utils import CaptureQueriesContext


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
