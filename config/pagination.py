"""The v1 facades' `limit`/`skip` pagination (seed 000): limit 1-100, skip >= 0.

Out-of-range values are a 400 naming the parameter, not silently clamped: an
integrator asking for limit=500 should learn the cap, not miss rows.
"""

from __future__ import annotations

from django.db.models import QuerySet
from rest_framework import serializers


class LimitSkipParams(serializers.Serializer):
    limit = serializers.IntegerField(min_value=1, max_value=100, default=20)
    skip = serializers.IntegerField(min_value=0, default=0)


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
