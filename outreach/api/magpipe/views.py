"""/functions/v1/scheduled-actions: the Magpipe facade (seed 003).

Decisions where the seed is silent:
- `GET` lists every action the key may see, as on /v1/actions (admins: the
  workspace's; members: their own), whatever its type: one domain, several
  facades. `action_type` therefore accepts all the hub's types, a superset of the
  seed's send_sms and call_contact. `status` takes Magpipe's five words (pending =
  pending_approval or scheduled; cancelled = cancelled or rejected). `limit` is
  1-100 (default 50) and `offset` >= 0 (default 0); anything else, like an unknown
  status or type, is a 400 naming the parameter, never clamped. An empty value
  counts as not given. A page past the end is empty. Rows come by `scheduled_at`,
  then creation order (id), ascending: the next to run first. `total` counts the
  matching rows, ignoring `limit`/`offset`. Four queries whatever the page size.
- A record has exactly the seed's nine fields; times are UTC with milliseconds
  and `Z` (2026-01-15T18:00:00.000Z, truncated); `executed_at` and
  `error_message` are always present, null unless executed / failed (a retrying
  action's last transient error is not shown while it is still pending).
- `POST` schedules a send_sms or call_contact (the other types: /v1/actions).
  `scheduled_at` is required and needs an offset; a past time is due at once.
  Without `identity_id` the workspace's first active identity of the type's
  channel (sms / phone, oldest first) acts; none is a 400 naming identity_id.
  `Idempotency-Key` replays the first answer. 201 with `{"data": record}`.
- `GET /{id}` is `{"data": record}` (the list's envelope with one record), as are
  the answers of `POST` and `DELETE`. `DELETE /{id}` (alias `POST /{id}/cancel`)
  cancels a pending action (it stays, as cancelled) through
  outreach.services.action_cancel; any other status is a 409 `invalid_transition`.
- Every error is `{"error", "code", "fields"}` (config.exceptions); another
  workspace's or member's action, an unknown or a malformed UUID are all 404.
"""

from __future__ import annotations

import uuid

from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.actors import Actor
from accounts.idempotency import idempotent
from accounts.models import Scope
from accounts.tenancy import WorkspaceScopedMixin
from config.exceptions import InvalidTransition, NotFound
from config.schema import IDEMPOTENCY_HEADER
from outreach import services
from outreach.api.magpipe.serializers import (
    MAGPIPE_STATUS,
    STATUS_FILTERS,
    ScheduledActionCreateSerializer,
    ScheduledActionEnvelope,
    ScheduledActionListEnvelope,
    ScheduledActionListParams,
    ScheduledActionSerializer,
)
from outreach.models import Action
from outreach.selectors import actions_visible_to

TAG = "scheduled-actions (Magpipe)"
ACTION_ID = OpenApiParameter(
    "action_id",
    OpenApiTypes.UUID,
    OpenApiParameter.PATH,
    description="The scheduled action's UUID (its `id`).",
)
ERROR = OpenApiResponse(
    OpenApiTypes.OBJECT, description='{"error": message, "code": machine code, "fields": {...}}'
)


def envelope(action: Action) -> dict:
    return {"data": ScheduledActionSerializer(action).data}


class _ScheduledActionsBase(WorkspaceScopedMixin, generics.GenericAPIView):
    queryset = Action.objects.all()
    serializer_class = ScheduledActionSerializer

    def get_queryset(self) -> QuerySet[Action]:
        # Same visibility as /v1/actions. The record needs no related rows.
        return actions_visible_to(api_key=self.api_key, actions=super().get_queryset())

    @property
    def actor(self) -> Actor:
        return Actor.for_api_key(self.api_key)

    def get_object(self) -> Action:
        try:
            action_uuid = uuid.UUID(str(self.kwargs["action_id"]))
        except ValueError:
            raise NotFound("No such scheduled action.") from None
        action = self.get_queryset().filter(uuid=action_uuid).first()
        if action is None:
            raise NotFound("No such scheduled action.")
        return action

    def cancel(self) -> Response:
        action = self.get_object()
        try:
            action = services.action_cancel(
                action=action,
                actor=self.actor,
                reason="cancelled through /functions/v1/scheduled-actions",
            )
        except InvalidTransition:
            # The service names the v1 id and statuses; answer in Magpipe's words.
            action.refresh_from_db(fields=["status"])
            word = MAGPIPE_STATUS[action.status]
            raise InvalidTransition(
                f"Scheduled action {action.uuid} is {word}; only pending actions can be cancelled.",
                fields={"status": [f"Is {word}, not pending."]},
            ) from None
        return Response(envelope(action))


@extend_schema(tags=[TAG])
class ScheduledActionListView(_ScheduledActionsBase):
    required_scopes = {"GET": Scope.ACTIONS_READ, "POST": Scope.ACTIONS_WRITE}

    @extend_schema(
        operation_id="magpipe_scheduled_actions_list",
        summary="List scheduled actions",
        parameters=[ScheduledActionListParams],
        responses={200: ScheduledActionListEnvelope, 400: ERROR},
    )
    def get(self, request: Request) -> Response:
        params = ScheduledActionListParams(data=request.query_params)
        params.is_valid(raise_exception=True)
        filters = params.validated_data
        actions = self.get_queryset().select_related(None)
        if "status" in filters:
            actions = actions.filter(status__in=STATUS_FILTERS[filters["status"]])
        if "action_type" in filters:
            actions = actions.filter(type=filters["action_type"])
        limit, offset = filters["limit"], filters["offset"]
        total = actions.count()
        # Past the end: no page query (and no OFFSET too large for the database).
        rows = (
            list(actions.order_by("scheduled_time", "id")[offset : offset + limit])
            if offset < total
            else []
        )
        return Response({"data": ScheduledActionSerializer(rows, many=True).data, "total": total})

    @extend_schema(
        operation_id="magpipe_scheduled_actions_create",
        summary="Schedule an SMS or a call",
        request=ScheduledActionCreateSerializer,
        responses={201: ScheduledActionEnvelope, 400: ERROR},
        parameters=[IDEMPOTENCY_HEADER],
    )
    @idempotent
    def post(self, request: Request) -> Response:
        body = ScheduledActionCreateSerializer(
            data=request.data, context={"workspace": self.workspace}
        )
        body.is_valid(raise_exception=True)
        data = body.validated_data
        action = services.action_create(
            workspace=self.workspace,
            actor=self.actor,
            type=data["action_type"],
            params=data["params"],
            identity=data["identity"],
            scheduled_time=data["scheduled_at"],
            require_approval=data["require_approval"],
        )
        return Response(envelope(action), status=status.HTTP_201_CREATED)


@extend_schema(tags=[TAG], parameters=[ACTION_ID])
class ScheduledActionDetailView(_ScheduledActionsBase):
    required_scopes = {"GET": Scope.ACTIONS_READ, "DELETE": Scope.ACTIONS_WRITE}

    @extend_schema(
        operation_id="magpipe_scheduled_actions_retrieve",
        summary="Get a scheduled action",
        responses={200: ScheduledActionEnvelope, 404: ERROR},
    )
    def get(self, request: Request, action_id: str) -> Response:
        return Response(envelope(self.get_object()))

    @extend_schema(
        operation_id="magpipe_scheduled_actions_cancel",
        summary="Cancel a pending scheduled action",
        description="200 with the cancelled record; 409 unless the action is pending.",
        responses={200: ScheduledActionEnvelope, 404: ERROR, 409: ERROR},
    )
    def delete(self, request: Request, action_id: str) -> Response:
        return self.cancel()


@extend_schema(tags=[TAG], parameters=[ACTION_ID])
class ScheduledActionCancelView(_ScheduledActionsBase):
    required_scopes = {"POST": Scope.ACTIONS_WRITE}

    @extend_schema(
        operation_id="magpipe_scheduled_actions_cancel_post",
        summary="Cancel a pending scheduled action (alias of DELETE)",
        request=None,
        responses={200: ScheduledActionEnvelope, 404: ERROR, 409: ERROR},
        parameters=[IDEMPOTENCY_HEADER],
    )
    @idempotent
    def post(self, request: Request, action_id: str) -> Response:
        return self.cancel()
