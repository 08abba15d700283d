"""One UPDATE for many rows that get different values.

Django's `bulk_update` writes every listed field as `CASE pk WHEN … THEN …`
for every row, which costs a Python expression per row and field. A batch of
finished actions mostly shares its values (the same status, the same
`executed_at`, a cleared lease): `rows_update` sets a value shared by every row
plainly, and only the values that differ through CASE. Rows that set different
fields are grouped, one UPDATE per group; the caller keeps the groups few
(a batch has a handful of outcomes), so the statement count stays constant.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db.models import Case, Model, Value, When

_UNSET = object()


def rows_update(model: type[Model], rows: Sequence[tuple[int, dict[str, Any]]]) -> int:
    """Apply (pk, {field: value}) to each row; the number of rows updated."""
    groups: dict[tuple[str, ...], list[tuple[int, dict[str, Any]]]] = {}
    for pk, values in rows:
        groups.setdefault(tuple(sorted(values)), []).append((pk, values))
    updated = 0
    for names, group in groups.items():
        assignments: dict[str, Any] = {}
        for name in names:
            field = model._meta.get_field(name)
            first = group[0][1][name]
            if all(values[name] == first for _, values in group):
                assignments[field.attname] = first
            else:
                assignments[field.attname] = Case(
                    *[
                        When(pk=pk, then=Value(values[name], output_field=field))
                        for pk, values in group
                    ],
                    output_field=field,
                )
        updated += model._default_manager.filter(pk__in=[pk for pk, _ in group]).update(
            **assignments
        )
    return updated
