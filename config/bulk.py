"""One UPDATE for many rows that get different values.

Django's `bulk_update` (and any `CASE pk WHEN … THEN …` built from ORM
expressions) resolves a Python expression per row and field: for a batch of a
hundred finished actions that is most of the worker's CPU. A batch mostly
shares its values (the same status, the same `executed_at`, a cleared lease),
so `rows_update` writes SQL directly: values shared by every row are plain
parameters, values that differ come from a VALUES list joined on the primary
key (`UPDATE … FROM unnest(arrays)` on PostgreSQL, one array parameter per
column, so the statement's text does not grow with the rows; `UPDATE … FROM
(VALUES …)` on SQLite ≥ 3.33). Rows that set
different fields are grouped, one UPDATE per group; callers keep the groups
few (a batch has a handful of outcomes), so the statement count stays constant.
Values go through each field's `get_db_prep_save`, as the ORM would send them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import connections, router
from django.db.models import Model


def rows_update(model: type[Model], rows: Sequence[tuple[int, dict[str, Any]]]) -> int:
    """Apply (pk, {field name: value}) to each row; the number of rows updated."""
    groups: dict[tuple[str, ...], list[tuple[int, dict[str, Any]]]] = {}
    for pk, values in rows:
        groups.setdefault(tuple(sorted(values)), []).append((pk, values))
    connection = connections[router.db_for_write(model)]
    updated = 0
    for names, group in groups.items():
        updated += _update_group(model, connection, names, group)
    return updated


def _update_group(model, connection, names, group) -> int:
    quote = connection.ops.quote_name
    meta = model._meta
    table, pk_column = quote(meta.db_table), quote(meta.pk.column)
    fields = [meta.get_field(name) for name in names]
    constant, varying = [], []
    for field in fields:
        first = group[0][1][field.name]
        (constant if all(v[field.name] == first for _, v in group) else varying).append(field)

    def prep(field, value):
        return field.get_db_prep_save(value, connection=connection)

    cast = connection.vendor == "postgresql"

    def placeholder(field) -> str:
        return f"%s::{field.cast_db_type(connection)}" if cast else "%s"

    assignments = [f"{quote(f.column)} = {placeholder(f)}" for f in constant]
    params: list[Any] = [prep(f, group[0][1][f.name]) for f in constant]
    pks = [pk for pk, _ in group]
    where_in = (
        f"{pk_column} = ANY(%s)" if cast else f"{pk_column} IN ({', '.join(['%s'] * len(pks))})"
    )
    if not varying:
        # Identifiers are the model's, quoted; every value is a parameter.
        sql = f"UPDATE {table} SET {', '.join(assignments)} WHERE {where_in}"  # noqa: S608
        with connection.cursor() as cursor:
            cursor.execute(sql, [*params, pks] if cast else [*params, *pks])
            return cursor.rowcount
    assignments += [f"{quote(f.column)} = v.c{i}" for i, f in enumerate(varying)]
    if cast:
        # PostgreSQL: one array parameter per column, so the statement's text
        # (and psycopg's parsing of it, cached by text) does not grow with the rows.
        arrays = [f"%s::{f.cast_db_type(connection)}[]" for f in [meta.pk, *varying]]
        names = ", ".join(["pk", *[f"c{i}" for i in range(len(varying))]])
        source = f"unnest({', '.join(arrays)}) AS v({names})"
        values_params: list = [pks]
        values_params += [[prep(f, values[f.name]) for _, values in group] for f in varying]
    else:  # SQLite: a VALUES list, its columns named column1, column2, …
        row = "(" + ", ".join(["%s"] * (1 + len(varying))) + ")"
        aliases = ", ".join(
            f"column{i + 1} AS {name}"
            for i, name in enumerate(["pk", *[f"c{i}" for i in range(len(varying))]])
        )
        source = f"(SELECT {aliases} FROM (VALUES {', '.join([row] * len(group))})) AS v"  # noqa: S608
        values_params = []
        for pk, values in group:
            values_params.append(pk)
            values_params.extend(prep(f, values[f.name]) for f in varying)
    sql = (  # identifiers quoted, values parameters (as above)
        f"UPDATE {table} SET {', '.join(assignments)} FROM {source} "  # noqa: S608
        f"WHERE {table}.{pk_column} = v.pk"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, *values_params])
        return cursor.rowcount
