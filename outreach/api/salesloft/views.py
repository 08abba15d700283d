"""`GET /v2/actions` and `GET /v2/actions/{id}`: the Salesloft facade (seed 001).

Both answer with `.json` too (`/v2/actions.json`, `/v2/actions/{id}.json`), which
is what Salesloft's clients call. Scope `actions:read`.

- Only actions not yet executed are shown: `pending_approval` and `scheduled` as
  `in_progress`, `processing` as `pending_activity`. A finished action, another
  workspace's, or (for a member) another user's answers 404 on the detail route.
- Visibility (`outreach.selectors.actions_visible_to`): an admin's key sees the
  workspace's actions and may narrow them with `user_guid`; a member's key sees
  only the actions it owns, so a member filtering by another user's guid gets an
  empty list, not a 403.
- Paging: `next_page` is known without counting by fetching `per_page + 1` rows;
  `total_pages`/`total_count` are added (one COUNT) only with
  `include_paging_counts=true`, capped at 10,000 with `limit_paging_counts=true`.
  A page past the end is an empty list with `next_page: null` and
  `prev_page: page - 1`.
- Queries: key lookup, key touch, the page (and the count when asked for),
  whatever `per_page` is. The default order (`updated_at DESC, id DESC`) walks the
  partial index `action_v2_open_idx` (workspace, updated_at, id) backwards.

Record shape and the omitted-relation rule: see `serializers.py`; parameters:
`filters.py`; rate limit: `ratelimit.py`.
"""

from __future__ import annotations

import math

from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import Scope
from accounts.tenancy import WorkspaceScopedMixin
from config.exceptions import NotFound
from outreach.api.salesloft import filters
from outreach.api.salesloft.filters import parse_action_list_query
from outreach.api.salesloft.ratelimit import RateLimitedMixin, cost_for_page, page_from
from outreach.api.salesloft.serializers import (
    ACTION_FIELDS,
    Hrefs,
    SalesloftActionEnvelope,
    SalesloftActionListEnvelope,
    action_record,
)
from outreach.models import UNFINISHED_STATUSES
from outreach.selectors import actions_visible_to

RATE_LIMIT_HEADERS_DOC = (
    "Every response carries `x-ratelimit-endpoint-cost` and `x-ratelimit-remaining-minute`; "
    "429 with `Retry-After` when the workspace's budget for the minute is spent."
)


class SalesloftView(RateLimitedMixin, WorkspaceScopedMixin, APIView):
    """Base of every /v2 view: `actions:read`, the workspace's rate limit."""

    required_scopes = {"GET": Scope.ACTIONS_READ}

    def open_actions(self):
        """The caller's not-yet-executed actions, without joins."""
        return (
            actions_visible_to(api_key=self.api_key)
            .select_related(None)
            .filter(status__in=UNFINISHED_STATUSES)
        )


def _id_or_404(pk: int, what: str) -> int:
    if pk > filters.MAX_BIGINT:
        raise NotFound(f"No such {what}.")
    return pk


def _range_params(name: str, what: str) -> list[OpenApiParameter]:
    return [
        OpenApiParameter(
            f"{name}[{op}]",
            str,
            description=(
                f"{what} {label} this ISO 8601 timestamp (microsecond precision; "
                "no offset means UTC)."
            ),
        )
        for op, label in (
            ("gt", "after"),
            ("gte", "at or after"),
            ("lt", "before"),
            ("lte", "at or before"),
        )
    ]


def _multi(name: str, description: str) -> OpenApiParameter:
    return OpenApiParameter(
        name,
        {"type": "array", "items": {"type": "integer"}},
        style="form",
        explode=False,
        description=f"{description} Comma-separated, repeated or `{name}[]=`.",
    )


LIST_PARAMETERS = [
    _multi("ids", "IDs of actions to fetch."),
    OpenApiParameter("step_id", int, description="Actions of this step."),
    OpenApiParameter("type", str, enum=["email", "phone", "other"]),
    *_range_params("due_on", "Actions due"),
    *_range_params("updated_at", "Actions updated"),
    OpenApiParameter(
        "user_guid",
        {"type": "array", "items": {"type": "string", "format": "uuid"}},
        style="form",
        explode=False,
        description="Owners' guids (admins; a member only ever sees its own actions).",
    ),
    _multi("person_id", "Actions for these people (contact ids)."),
    _multi("cadence_id", "Actions of these cadences."),
    _multi("multitouch_group_id", "Actions of these multitouch groups."),
    OpenApiParameter("sort_by", str, enum=["created_at", "updated_at"], default="updated_at"),
    OpenApiParameter(
        "sort_direction",
        str,
        enum=["ASC", "DESC"],
        default="DESC",
        description="Case-insensitive.",
    ),
    OpenApiParameter("per_page", int, default=filters.DEFAULT_PER_PAGE, description="1-100."),
    OpenApiParameter("page", int, default=1),
    OpenApiParameter("include_paging_counts", bool, default=False),
    OpenApiParameter(
        "limit_paging_counts",
        bool,
        default=False,
        description="Cap total_count (and so total_pages) at 10,000.",
    ),
]
ID_PARAMETER = OpenApiParameter("id", int, OpenApiParameter.PATH, description="Action ID.")


def list_schema(operation_id: str):
    return extend_schema(
        operation_id=operation_id,
        summary="List actions (Salesloft)",
        description=RATE_LIMIT_HEADERS_DOC,
        parameters=LIST_PARAMETERS,
        responses=SalesloftActionListEnvelope,
    )


def detail_schema(operation_id: str):
    return extend_schema(
        operation_id=operation_id,
        summary="Fetch an action (Salesloft)",
        description="404 once the action has been executed. " + RATE_LIMIT_HEADERS_DOC,
        parameters=[ID_PARAMETER],
        responses=SalesloftActionEnvelope,
    )


@extend_schema(tags=["salesloft"])
class ActionListView(SalesloftView):
    def endpoint_cost(self, request) -> int:
        return cost_for_page(page_from(request.query_params.get("page")))

    @list_schema("salesloft_actions_list")
    def get(self, request: Request) -> Response:
        query = parse_action_list_query(request.query_params, workspace=self.workspace)
        actions = self.open_actions()
        if query.conditions:
            actions = actions.filter(*query.conditions)
        window = actions.order_by(*query.order_by).values(*ACTION_FIELDS)
        rows = list(window[query.offset : query.offset + query.per_page + 1])
        has_next = len(rows) > query.per_page
        hrefs, now = Hrefs(request), timezone.now()
        data = [action_record(row, hrefs=hrefs, now=now) for row in rows[: query.per_page]]

        paging: dict = {
            "per_page": query.per_page,
            "current_page": query.page,
            "next_page": query.page + 1 if has_next else None,
            "prev_page": query.page - 1 if query.page > 1 else None,
        }
        if query.include_paging_counts:
            counted = actions.order_by()
            if query.limit_paging_counts:
                counted = counted[: filters.PAGING_COUNT_LIMIT]
            total = counted.count()
            paging["total_pages"] = math.ceil(total / query.per_page)
            paging["total_count"] = total
        metadata = {
            "filtering": query.filtering,
            "paging": paging,
            "sorting": {"sort_by": query.sort_by, "sort_direction": query.sort_direction},
        }
        return Response({"data": data, "metadata": metadata})


@extend_schema(tags=["salesloft"])
class ActionDetailView(SalesloftView):
    @detail_schema("salesloft_actions_retrieve")
    def get(self, request: Request, id: int) -> Response:
        pk = _id_or_404(id, "action")
        row = self.open_actions().filter(pk=pk).values(*ACTION_FIELDS).first()
        if row is None:
            raise NotFound("No such action in progress.")
        return Response({"data": action_record(row, hrefs=Hrefs(request), now=timezone.now())})


class ActionListJsonView(ActionListView):
    @list_schema("salesloft_actions_list_json")
    def get(self, request: Request) -> Response:
        return super().get(request)


class ActionDetailJsonView(ActionDetailView):
    @detail_schema("salesloft_actions_retrieve_json")
    def get(self, request: Request, id: int) -> Response:
        return super().get(request, id)
