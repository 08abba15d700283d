"""/v1/actions and /v1/identities: the Pathbound facade (seed 000)."""

from __future__ import annotations

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action as route
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.actors import Actor
from accounts.idempotency import idempotent
from accounts.models import Scope
from accounts.tenancy import WorkspaceScopedMixin
from config.exceptions import NotFound
from config.pagination import paginate_limit_skip
from config.responses import ok
from config.schema import IDEMPOTENCY_HEADER, LIMIT_SKIP_PARAMS
from outreach import services
from outreach.api.serializers import (
    ActionCreatedEnvelope,
    ActionCreateSerializer,
    ActionDetailSerializer,
    ActionEnvelope,
    ActionListEnvelope,
    ActionListParams,
    ActionSerializer,
    BulkDecideSerializer,
    BulkEnvelope,
    CompleteSerializer,
    DecideSerializer,
    ExecuteEnvelope,
    ExecuteSerializer,
    IdentityEnvelope,
    IdentityListEnvelope,
    IdentityListParams,
    IdentitySerializer,
    IdentityUpdateSerializer,
    IdentityWriteSerializer,
    ProcessEnvelope,
    ProcessParams,
)
from outreach.execution import actions_process_now
from outreach.models import Action, ActionStatus, Identity
from outreach.params import summary_of
from outreach.selectors import actions_visible_to


@extend_schema(tags=["identities"])
class IdentityViewSet(WorkspaceScopedMixin, viewsets.GenericViewSet):
    """Who actions are performed as: mailboxes, LinkedIn accounts, phone numbers."""

    queryset = Identity.objects.select_related("owner")
    serializer_class = IdentitySerializer
    lookup_field = "public_id"
    lookup_url_kwarg = "identity_id"
    lookup_value_regex = r"id_[0-9a-z]+"
    required_scopes = {
        "list": Scope.ACTIONS_READ,
        "retrieve": Scope.ACTIONS_READ,
        "create": Scope.ACTIONS_WRITE,
        "partial_update": Scope.ACTIONS_WRITE,
        "deactivate": Scope.ACTIONS_WRITE,
    }

    def get_object(self) -> Identity:
        identity = self.get_queryset().filter(public_id=self.kwargs["identity_id"]).first()
        if identity is None:
            raise NotFound("No such identity.")
        return identity

    @extend_schema(
        parameters=[*LIMIT_SKIP_PARAMS, IdentityListParams], responses=IdentityListEnvelope
    )
    def list(self, request: Request) -> Response:
        params = IdentityListParams(data=request.query_params)
        params.is_valid(raise_exception=True)
        identities = self.get_queryset().order_by("created_at", "id")
        if "channel" in params.validated_data:
            identities = identities.filter(channel=params.validated_data["channel"])
        if params.validated_data.get("is_active") is not None:
            identities = identities.filter(is_active=params.validated_data["is_active"])
        rows, pagination = paginate_limit_skip(request.query_params, identities)
        return Response(
            ok(identities=IdentitySerializer(rows, many=True).data, pagination=pagination)
        )

    @extend_schema(request=IdentityWriteSerializer, responses={201: IdentityEnvelope})
    def create(self, request: Request) -> Response:
        body = IdentityWriteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        identity = services.identity_create(
            workspace=self.workspace,
            channel=data["channel"],
            address=data["address"],
            display_name=data.get("display_name", ""),
            owner=self.api_key.user,
            daily_limit=data.get("daily_limit"),
            window_days=data.get("window_days"),
            window_start=data.get("window_start"),
            window_end=data.get("window_end"),
            timezone_name=data.get("timezone", ""),
        )
        return Response(
            ok(identity=IdentitySerializer(identity).data), status=status.HTTP_201_CREATED
        )

    @extend_schema(responses=IdentityEnvelope)
    def retrieve(self, request: Request, identity_id: str) -> Response:
        return Response(ok(identity=IdentitySerializer(self.get_object()).data))

    @extend_schema(request=IdentityUpdateSerializer, responses=IdentityEnvelope)
    def partial_update(self, request: Request, identity_id: str) -> Response:
        identity = self.get_object()
        body = IdentityUpdateSerializer(instance=identity, data=request.data)
        body.is_valid(raise_exception=True)
        identity = services.identity_update(identity=identity, changes=dict(body.validated_data))
        return Response(ok(identity=IdentitySerializer(identity).data))

    @extend_schema(request=None, responses=IdentityEnvelope)
    @route(detail=True, methods=["post"])
    def deactivate(self, request: Request, identity_id: str) -> Response:
        identity = services.identity_deactivate(identity=self.get_object())
        return Response(ok(identity=IdentitySerializer(identity).data))


@extend_schema(tags=["actions"])
class ActionViewSet(WorkspaceScopedMixin, viewsets.GenericViewSet):
    """Outreach actions: create, list, read, execute, cancel, approve."""

    queryset = Action.objects.all()
    serializer_class = ActionSerializer
    lookup_url_kwarg = "action_id"
    lookup_value_regex = r"act_[0-9a-z]+"
    required_scopes = {
        "list": Scope.ACTIONS_READ,
        "retrieve": Scope.ACTIONS_READ,
        "create": Scope.ACTIONS_WRITE,
        "execute": Scope.ACTIONS_WRITE,
        "cancel": Scope.ACTIONS_WRITE,
        "approve": Scope.ACTIONS_APPROVE,
        "bulk_approve": Scope.ACTIONS_APPROVE,
        "process": Scope.ACTIONS_WRITE,
        "complete": Scope.ACTIONS_WRITE,
        "retry": Scope.ACTIONS_WRITE,
    }

    def get_queryset(self) -> QuerySet[Action]:
        return actions_visible_to(api_key=self.api_key, actions=super().get_queryset())

    def get_object(self) -> Action:
        action = self.get_queryset().filter(public_id=self.kwargs["action_id"]).first()
        if action is None:
            raise NotFound("No such action.")
        return action

    @property
    def actor(self) -> Actor:
        return Actor.for_api_key(self.api_key)

    @extend_schema(
        request=ActionCreateSerializer,
        responses={201: ActionCreatedEnvelope},
        parameters=[IDEMPOTENCY_HEADER],
    )
    @idempotent
    def create(self, request: Request) -> Response:
        body = ActionCreateSerializer(data=request.data, context={"workspace": self.workspace})
        body.is_valid(raise_exception=True)
        data = body.validated_data
        action = services.action_create(
            workspace=self.workspace,
            actor=self.actor,
            type=data["type"],
            params=data["params"],
            identity=data["identity"],
            contact=data["contact"],
            scheduled_time=data["scheduled_time"],
            direct=data["direct"],
            require_approval=data["require_approval"],
            list_id=data["list_id"],
            item_id=data["item_id"],
            description=data["description"],
        )
        summary = f"{summary_of(action.type, action.params)} scheduled"
        if action.status == ActionStatus.PENDING_APPROVAL:
            summary += ", awaiting approval"
        return Response(
            ok(
                action_id=action.public_id,
                action_summary=summary,
                action=ActionSerializer(action).data,
            ),
            status=status.HTTP_201_CREATED,
        )

    @extend_schema(parameters=[*LIMIT_SKIP_PARAMS, ActionListParams], responses=ActionListEnvelope)
    def list(self, request: Request) -> Response:
        params = ActionListParams(data=request.query_params)
        params.is_valid(raise_exception=True)
        filters = params.validated_data
        actions = self.get_queryset()
        for field in ("status", "type", "list_id", "item_id"):
            if field in filters:
                actions = actions.filter(**{field: filters[field]})
        if "identity_id" in filters:
            actions = actions.filter(identity__public_id=filters["identity_id"])
        sign = "-" if filters["sort_dir"] == "desc" else ""
        actions = actions.order_by(f"{sign}{filters['sort_by']}", f"{sign}id")
        rows, pagination = paginate_limit_skip(request.query_params, actions)
        return Response(ok(actions=ActionSerializer(rows, many=True).data, pagination=pagination))

    @extend_schema(responses=ActionEnvelope)
    def retrieve(self, request: Request, action_id: str) -> Response:
        action = self.get_object()
        return Response(ok(action=ActionDetailSerializer(action).data))

    @extend_schema(
        request=ExecuteSerializer,
        responses=ExecuteEnvelope,
        parameters=[IDEMPOTENCY_HEADER],
        description=(
            "Immediately executes a scheduled or pending action. A scheduled action is "
            "made due now and dispatched at once. An action pending approval is executed "
            "only by a key that also has `actions:approve`: that is an approval (recorded "
            "as an `approve` decision by the key's user, with `comment` or \"approved by "
            'execute") and a send, in one step, and the response says `approved: true`. '
            "Without that scope it stays a 409 `approval_required`. Any other status is a "
            "409 `invalid_transition`."
        ),
    )
    @route(detail=True, methods=["post"])
    @idempotent
    def execute(self, request: Request, action_id: str) -> Response:
        body = ExecuteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        outcome = services.action_execute_now(
            action=self.get_object(),
            actor=self.actor,
            approve_pending=self.api_key.has_scope(Scope.ACTIONS_APPROVE),
            comment=body.validated_data["comment"],
        )
        return Response(
            ok(action=ActionDetailSerializer(outcome.action).data, approved=outcome.approved)
        )

    @extend_schema(request=None, responses=ActionEnvelope)
    @route(detail=True, methods=["post"])
    def cancel(self, request: Request, action_id: str) -> Response:
        action = services.action_cancel(action=self.get_object(), actor=self.actor)
        return Response(ok(action=ActionDetailSerializer(action).data))

    @extend_schema(request=CompleteSerializer, responses=ActionEnvelope)
    @route(detail=True, methods=["post"])
    def complete(self, request: Request, action_id: str) -> Response:
        """A `task` is completed by a person."""
        body = CompleteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        action = services.action_complete_task(
            action=self.get_object(), actor=self.actor, note=body.validated_data["note"]
        )
        return Response(ok(action=ActionDetailSerializer(action).data))

    @extend_schema(request=None, responses=ActionEnvelope)
    @route(detail=True, methods=["post"])
    def retry(self, request: Request, action_id: str) -> Response:
        """A failed action goes back in the queue, due now."""
        action = services.action_retry(action=self.get_object(), actor=self.actor)
        return Response(ok(action=ActionDetailSerializer(action).data))

    @extend_schema(parameters=[ProcessParams], request=None, responses=ProcessEnvelope)
    @route(detail=False, methods=["post"])
    def process(self, request: Request) -> Response:
        """Claim this workspace's due actions and execute them now, in this request."""
        params = ProcessParams(data=request.query_params)
        params.is_valid(raise_exception=True)
        outcomes = actions_process_now(
            workspace=self.workspace, limit=params.validated_data["limit"]
        )
        results = [
            {"action_id": o.public_id, "result": o.status, "error": o.error or None}
            for o in outcomes
        ]
        return Response(ok(processed=len(results), results=results))

    @extend_schema(
        request=DecideSerializer, responses=ActionEnvelope, parameters=[IDEMPOTENCY_HEADER]
    )
    @route(detail=True, methods=["post"])
    @idempotent
    def approve(self, request: Request, action_id: str) -> Response:
        body = DecideSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        action = services.action_decide(
            action=self.get_object(),
            actor=self.actor,
            decision=data["action"],
            comment=data["comment"],
            params=data.get("params"),
            scheduled_time=data.get("scheduled_time"),
        )
        return Response(ok(action=ActionDetailSerializer(action).data))

    @extend_schema(
        request=BulkDecideSerializer,
        responses=BulkEnvelope,
        parameters=[IDEMPOTENCY_HEADER],
        examples=[
            OpenApiExample(
                "Approve several",
                value={"action": "approve", "action_ids": ["act_abc123"], "comment": "ok"},
                request_only=True,
            ),
            OpenApiExample(
                "Edit each with its own changes",
                value={
                    "action": "edit",
                    "items": [
                        {"action_id": "act_abc123", "params": {"subject": "Hello Ada"}},
                        {"action_id": "act_def456", "scheduled_time": "2030-03-01T09:00:00Z"},
                    ],
                    "comment": "Friendlier subjects",
                },
                request_only=True,
            ),
        ],
    )
    @route(detail=False, methods=["post"], url_path="approve/bulk")
    @idempotent
    def bulk_approve(self, request: Request) -> Response:
        """Approve, reject or edit many actions; each id gets its own result.

        `{"action": "approve"|"reject", "action_ids": [...], "comment"}` decides
        each id. An edit gives each action its own changes: `{"action": "edit",
        "items": [{"action_id", "params", "scheduled_time"}], "comment"}`, or one
        change shared by all with `action_ids` plus top-level `params` /
        `scheduled_time`. Bad input (an item's params its action's type refuses,
        named as `items[2].params.to`) is a 400 and nothing is decided; an id
        that is unknown or no longer pending approval is an error in its own
        result and does not block the others."""
        body = BulkDecideSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        if "items" in data:
            outcomes = services.action_bulk_edit(
                actions=self.get_queryset(),
                items=[
                    services.BulkEdit(
                        action_id=item["action_id"],
                        params=item.get("params"),
                        scheduled_time=item.get("scheduled_time"),
                    )
                    for item in data["items"]
                ],
                actor=self.actor,
                comment=data["comment"],
            )
        else:
            outcomes = services.action_bulk_decide(
                actions=self.get_queryset(),
                action_ids=data["action_ids"],
                actor=self.actor,
                decision=data["action"],
                comment=data["comment"],
                params=data.get("params"),
                scheduled_time=data.get("scheduled_time"),
            )
        results = []
        for outcome in outcomes:
            if outcome.ok:
                results.append(
                    {
                        "action_id": outcome.action_id,
                        "status": "success",
                        "action_status": outcome.action.status,
                    }
                )
            else:
                error = outcome.error
                results.append(
                    {
                        "action_id": outcome.action_id,
                        "status": "error",
                        "error": {
                            "code": error.code,
                            "message": error.message,
                            "fields": error.fields,
                        },
                    }
                )
        succeeded = sum(1 for o in outcomes if o.ok)
        return Response(ok(results=results, succeeded=succeeded, failed=len(outcomes) - succeeded))
