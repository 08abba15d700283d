"""The v1 facades' `limit`/`skip` pagination (seed 000): limit 1-100, skip
0 to MAX_SKIP.

Out-of-range values are a 400 naming the parameter, not silently clamped: an
integrator asking for limit=500 should learn the cap, not miss rows.

How far a page may start is capped, because the database cannot take any
number: PostgreSQL's OFFSET is a bigint and SQLite's a 64-bit integer, so
skip=10**20 was a 500. The cap is one 32-bit maximum, far past any real table:
skip at most MAX_SKIP, page numbers (/v1/contacts, /v2/actions, /api) at most
MAX_PAGE, which with pages of at most 100 rows keeps every offset inside a
bigint. Magpipe's `offset` needs no cap: that facade answers an empty page for
any offset past its count without asking the database for rows (a documented
decision of outreach.api.magpipe.views).
"""

from __future__ import annotations

from django.db.models import QuerySet
from rest_framework import serializers

MAX_SKIP = 2**31 - 1
MAX_PAGE = 2**31 - 1


class LimitSkipParams(serializers.Serializer):
    limit = serializers.IntegerField(min_value=1, max_value=100, default=20)
    skip = serializers.IntegerField(min_value=0, max_value=MAX_SKIP, default=0)


def paginate_limit_skip(query_params, queryset: QuerySet, *, default_limit: int = 20):
    params = LimitSkipParams(
        data={k: query_params[k] for k in ("limit", "skip") if k in query_params}
    )
    params.fields["limit"].default = default_limit
    params.is_valid(raise_exception=True)
    limit, skip = params.validated_data["limit"], params.validated_data["skip"]
    total = queryset.count()
    rows = list(queryset[skip : skip + limit])
    return rows, {"total_items": total, "limit": limit, "skip": skip}


class LimitSkipPaginationSerializer(serializers.Serializer):
    total_items = serializers.IntegerField()
    limit = serializers.IntegerField()
    skip = serializers.IntegerField()
