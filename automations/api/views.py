"""/api/Actions, /api/TopicActions, /api/HookActions, /api/Topics, /api/Channels:
the AnswerPal automation settings facade (seed 004).

Views check the request's shape and call `automations.services`; reads go
through `automations.selectors`. Errors are ProblemDetails (config.exceptions).

- Scopes: `settings:manage` for every write and for /api/Actions reads;
  `/api/Actions/available` and the reads of links, topics and channels take
  `tickets:read` or `settings:manage` (the seed only asks for "an authenticated
  user" there; a key without either scope is refused).
- Settings are shared by the workspace: a member's key sees what an admin's does.
- Query parameter names match case-insensitively (`topicID` = `topicId`), as
  ASP.NET binds them; enum values too (`postspam` = `PostSpam`).
- Another workspace's record answers 404; another workspace's id as a link
  target is a 400 naming the field.
- Lists are `{"items","pageNumber","pageSize","totalCount","totalPages"}`;
  pageNumber >= 1 (default 1), pageSize 1-100 (default 10), sortBy from a list
  per resource (case-insensitive), sortOrder asc (default) or desc. A page past
  the end is empty. Each list runs a constant number of queries.
- PUT on an action, topic or channel needs the id in the body equal to the
  route's, and the DTO's required fields (`name`, plus `actionType` or `kind`);
  other fields left out keep their values, null clears them. Secrets left out
  or null are kept, "" clears them. 204 on success.
- PUT on a link changes `priority` only: other fields of its read DTO may be
  sent back unchanged, a changed one is a 400.
- Links run in ascending priority (lower first, ties by id). Bulk creation is
  all or nothing: bad items are a 400 keyed `items[i].field`, duplicates (of an
  existing link or within the batch) a 409 keyed `items[i]`; success is a 201
  with the created links as an array.
- Deleting an action, topic or channel deletes its links.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action as route
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.models import Scope
from accounts.tenancy import WorkspaceScopedMixin
from automations import selectors, services
from automations.api import serializers as dto
from automations.models import ActionDefinition, Channel, HookAction, Topic, TopicAction
from config.exceptions import NotFound, ValidationFailed

MANAGE = Scope.SETTINGS_MANAGE
READ = (Scope.SETTINGS_MANAGE, Scope.TICKETS_READ)
NO_CONTENT = {204: None}
ID_PARAMETER = OpenApiParameter("id", int, OpenApiParameter.PATH)


def query_params(request: Request, params_class: type[serializers.Serializer]) -> dict:
    """The query string validated by `params_class`, names matched case-insensitively."""
    names = {name.lower(): name for name in params_class().fields}
    data = {}
    for key in request.query_params:
        if key.lower() in names:
            data[names[key.lower()]] = request.query_params[key]
    params = params_class(data=data)
    params.is_valid(raise_exception=True)
    return dict(params.validated_data)


def sorted_page(queryset, params: dict, sorts: dict[str, str]) -> selectors.Page:
    queryset = selectors.sorted_by(
        queryset, field=sorts[params["sortBy"]], descending=params["sortOrder"] == "desc"
    )
    return selectors.paginate(
        queryset, page_number=params["pageNumber"], page_size=params["pageSize"]
    )


def body_dict(request: Request) -> dict:
    if not isinstance(request.data, dict):
        raise ValidationFailed(
            "Send a JSON object.", fields={"non_field_errors": ["Expected a JSON object."]}
        )
    return request.data


class AutomationViewSet(WorkspaceScopedMixin, viewsets.GenericViewSet):
    lookup_url_kwarg = "id"
    lookup_value_regex = r"[0-9]+"
    not_found = "Not found."
    resource: str  # the path segment after /api/, for Location headers

    def route_id(self) -> int:
        value = int(self.kwargs["id"])
        if value > dto.MAX_ID:
            raise NotFound(self.not_found)
        return value

    def read_queryset(self):
        return self.get_queryset()

    def get_object(self):
        obj = self.read_queryset().filter(pk=self.route_id()).first()
        if obj is None:
            raise NotFound(self.not_found)
        return obj

    def created(self, data: Any, pk: int | None = None) -> Response:
        headers = {"Location": f"/api/{self.resource}/{pk}"} if pk is not None else None
        return Response(data, status=status.HTTP_201_CREATED, headers=headers)


# --- Action definitions ------------------------------------------------------------
@extend_schema(tags=["automations: actions"])
@extend_schema_view(
    retrieve=extend_schema(parameters=[ID_PARAMETER]),
    update=extend_schema(parameters=[ID_PARAMETER]),
    destroy=extend_schema(parameters=[ID_PARAMETER]),
)
class ActionDefinitionViewSet(AutomationViewSet):
    """Reusable action definitions: what can run. Priority lives on the links."""

    queryset = ActionDefinition.objects.all()
    resource = "Actions"
    not_found = "No such action."
    required_scopes = {
        "list": MANAGE,
        "create": MANAGE,
        "retrieve": MANAGE,
        "update": MANAGE,
        "destroy": MANAGE,
        "available": READ,
    }

    def read_queryset(self):
        return selectors.action_definitions(workspace=self.workspace)

    def default_time_zone(self) -> str:
        return selectors.caller_time_zone(api_key=self.api_key)

    @extend_schema(parameters=[dto.ActionListParams], responses=dto.ActionPageSerializer)
    def list(self, request: Request) -> Response:
        params = query_params(request, dto.ActionListParams)
        page = sorted_page(self.read_queryset(), params, dto.ACTION_SORTS)
        return Response(dto.ActionPageSerializer(page).data)

    @extend_schema(request=dto.ActionCreateSerializer, responses={201: dto.ActionReadSerializer})
    def create(self, request: Request) -> Response:
        body = dto.ActionCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        definition = services.action_definition_create(
            workspace=self.workspace,
            values=body.validated_data,
            default_time_zone=self.default_time_zone(),
        )
        definition = self.read_queryset().get(pk=definition.pk)
        return self.created(dto.ActionReadSerializer(definition).data, definition.pk)

    @extend_schema(responses=dto.ActionAvailableSerializer(many=True))
    @route(detail=False, methods=["get"])
    def available(self, request: Request) -> Response:
        """Active actions, by name, for ticket and phone-auth flows."""
        definitions = selectors.action_definitions_available(workspace=self.workspace)
        return Response(dto.ActionAvailableSerializer(definitions, many=True).data)

    @extend_schema(responses=dto.ActionReadSerializer)
    def retrieve(self, request: Request, id: str) -> Response:
        return Response(dto.ActionReadSerializer(self.get_object()).data)

    @extend_schema(request=dto.ActionUpdateSerializer, responses=NO_CONTENT)
    def update(self, request: Request, id: str) -> Response:
        route_id = self.route_id()
        body = dto.ActionUpdateSerializer(data=request.data, context={"route_id": route_id})
        body.is_valid(raise_exception=True)
        definition = selectors.action_definition_for_write(workspace=self.workspace, pk=route_id)
        if definition is None:
            raise NotFound(self.not_found)
        changes = dict(body.validated_data)
        changes.pop("actionID")
        services.action_definition_update(
            definition=definition, changes=changes, default_time_zone=self.default_time_zone()
        )
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(responses=NO_CONTENT)
    def destroy(self, request: Request, id: str) -> Response:
        definition = selectors.action_definition_for_write(
            workspace=self.workspace, pk=self.route_id()
        )
        if definition is None:
            raise NotFound(self.not_found)
        services.action_definition_delete(definition=definition)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- Topics and channels --------------------------------------------------------------
@extend_schema(tags=["automations: topics"])
@extend_schema_view(
    retrieve=extend_schema(parameters=[ID_PARAMETER]),
    update=extend_schema(parameters=[ID_PARAMETER]),
    destroy=extend_schema(parameters=[ID_PARAMETER]),
)
class TopicViewSet(AutomationViewSet):
    """Topics that inbound messages are detected as (keywords and patterns)."""

    queryset = Topic.objects.all()
    resource = "Topics"
    not_found = "No such topic."
    required_scopes = {
        "list": READ,
        "retrieve": READ,
        "create": MANAGE,
        "update": MANAGE,
        "destroy": MANAGE,
    }

    def read_queryset(self):
        return selectors.topics(workspace=self.workspace)

    @extend_schema(parameters=[dto.TopicListParams], responses=dto.TopicPageSerializer)
    def list(self, request: Request) -> Response:
        params = query_params(request, dto.TopicListParams)
        page = sorted_page(self.read_queryset(), params, dto.TOPIC_SORTS)
        return Response(dto.TopicPageSerializer(page).data)

    @extend_schema(request=dto.TopicCreateSerializer, responses={201: dto.TopicReadSerializer})
    def create(self, request: Request) -> Response:
        body = dto.TopicCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        topic = services.topic_create(
            workspace=self.workspace,
            name=data["name"],
            description=data.get("description") or "",
            keywords=data.get("keywords"),
            patterns=data.get("patterns"),
            is_active=data.get("is_active", True),
        )
        return self.created(dto.TopicReadSerializer(topic).data, topic.pk)

    @extend_schema(responses=dto.TopicReadSerializer)
    def retrieve(self, request: Request, id: str) -> Response:
        return Response(dto.TopicReadSerializer(self.get_object()).data)

    @extend_schema(request=dto.TopicUpdateSerializer, responses=NO_CONTENT)
    def update(self, request: Request, id: str) -> Response:
        body = dto.TopicUpdateSerializer(data=request.data, context={"route_id": self.route_id()})
        body.is_valid(raise_exception=True)
        changes = dict(body.validated_data)
        changes.pop("topicID")
        services.topic_update(topic=self.get_object(), changes=changes)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(responses=NO_CONTENT)
    def destroy(self, request: Request, id: str) -> Response:
        services.topic_delete(topic=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(tags=["automations: channels"])
@extend_schema_view(
    retrieve=extend_schema(parameters=[ID_PARAMETER]),
    update=extend_schema(parameters=[ID_PARAMETER]),
    destroy=extend_schema(parameters=[ID_PARAMETER]),
)
class ChannelViewSet(AutomationViewSet):
    """Channels messages arrive on (email, chat, phone, sms)."""

    queryset = Channel.objects.all()
    resource = "Channels"
    not_found = "No such channel."
    required_scopes = {
        "list": READ,
        "retrieve": READ,
        "create": MANAGE,
        "update": MANAGE,
        "destroy": MANAGE,
    }

    def read_queryset(self):
        return selectors.channels(workspace=self.workspace)

    @extend_schema(parameters=[dto.ChannelListParams], responses=dto.ChannelPageSerializer)
    def list(self, request: Request) -> Response:
        params = query_params(request, dto.ChannelListParams)
        page = sorted_page(self.read_queryset(), params, dto.CHANNEL_SORTS)
        return Response(dto.ChannelPageSerializer(page).data)

    @extend_schema(request=dto.ChannelCreateSerializer, responses={201: dto.ChannelReadSerializer})
    def create(self, request: Request) -> Response:
        body = dto.ChannelCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        channel = services.channel_create(
            workspace=self.workspace,
            name=data["name"],
            kind=data["kind"],
            is_active=data.get("is_active", True),
        )
        return self.created(dto.ChannelReadSerializer(channel).data, channel.pk)

    @extend_schema(responses=dto.ChannelReadSerializer)
    def retrieve(self, request: Request, id: str) -> Response:
        return Response(dto.ChannelReadSerializer(self.get_object()).data)

    @extend_schema(request=dto.ChannelUpdateSerializer, responses=NO_CONTENT)
    def update(self, request: Request, id: str) -> Response:
        body = dto.ChannelUpdateSerializer(data=request.data, context={"route_id": self.route_id()})
        body.is_valid(raise_exception=True)
        changes = dict(body.validated_data)
        changes.pop("channelID")
        services.channel_update(channel=self.get_object(), changes=changes)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(responses=NO_CONTENT)
    def destroy(self, request: Request, id: str) -> Response:
        services.channel_delete(channel=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- Links ---------------------------------------------------------------------------
TARGET_KEYS = {"topic": "topicID", "channel": "channelID", "action": "actionID"}


def _ids(items: Iterable[Any], key: str) -> list[int]:
    ids = []
    for item in items:
        value = item.get(key) if isinstance(item, dict) else None
        if isinstance(value, int) and not isinstance(value, bool) and 0 < value <= dto.MAX_ID:
            ids.append(value)
    return ids


class LinkViewSet(AutomationViewSet):
    """Shared by topic and hook links: create, bulk, read, priority update, delete."""

    checks_json_body_type = True  # bulk takes a bare array (config.parsers)
    create_serializer: type[serializers.Serializer]
    read_serializer: type[serializers.Serializer]
    kinds: tuple[str, ...]
    required_scopes = {
        "list": READ,
        "retrieve": READ,
        "create": MANAGE,
        "bulk": MANAGE,
        "update": MANAGE,
        "destroy": MANAGE,
        "wait_seconds": READ,
    }

    def create_link(self, data: dict):
        raise NotImplementedError

    def bulk_create_links(self, items: list[dict]) -> list:
        raise NotImplementedError

    def targets(self, items: list[Any]) -> selectors.LinkTargets:
        targets = selectors.LinkTargets(self.workspace)
        for kind in self.kinds:
            targets.preload(kind, _ids(items, TARGET_KEYS[kind]))
        return targets

    def _create(self, request: Request) -> Response:
        data = body_dict(request)
        body = self.create_serializer(data=data, context={"targets": self.targets([data])})
        body.is_valid(raise_exception=True)
        link = self.create_link(dict(body.validated_data))
        return self.created(self.read_serializer(link).data, link.pk)

    def _bulk(self, request: Request) -> Response:
        items = request.data
        if isinstance(items, dict) and "items" in items:
            items = items["items"]
        if not isinstance(items, list):
            raise ValidationFailed(
                'Send a JSON array of links (or {"items": [...]}).',
                fields={"items": ["Expected a list of items."]},
            )
        if not items or len(items) > services.BULK_LIMIT:
            raise ValidationFailed(
                f"Send between 1 and {services.BULK_LIMIT} links.",
                fields={"items": [f"Must hold between 1 and {services.BULK_LIMIT} items."]},
            )
        body = self.create_serializer(
            data=items, many=True, context={"targets": self.targets(items)}
        )
        if not body.is_valid():
            raise serializers.ValidationError({"items": body.errors})
        links = self.bulk_create_links([dict(item) for item in body.validated_data])
        return self.created(self.read_serializer(links, many=True).data)

    def _update(self, request: Request) -> Response:
        link = self.get_object()
        data = body_dict(request)
        current = self.read_serializer(link).data
        errors = {}
        for key, value in data.items():
            if key != "priority" and key in current and value != current[key]:
                errors[key] = (
                    ["Does not match the id in the URL."]
                    if key.endswith("ActionID")
                    else [
                        "Only priority can be updated; send this field unchanged or leave it out."
                    ]
                )
        body = dto.PrioritySerializer(data=data)
        if not body.is_valid():
            errors.update(body.errors)
        if errors:
            raise serializers.ValidationError(errors)
        services.link_update_priority(link=link, priority=body.validated_data["priority"])
        return Response(status=status.HTTP_204_NO_CONTENT)

    def _destroy(self) -> Response:
        services.link_delete(link=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(tags=["automations: topic actions"])
@extend_schema_view(
    retrieve=extend_schema(parameters=[ID_PARAMETER]),
    update=extend_schema(parameters=[ID_PARAMETER]),
    destroy=extend_schema(parameters=[ID_PARAMETER]),
)
class TopicActionViewSet(LinkViewSet):
    """Links from topics (and channels) to actions, with their priority."""

    queryset = TopicAction.objects.all()
    resource = "TopicActions"
    not_found = "No such topic action."
    create_serializer = dto.TopicActionCreateSerializer
    read_serializer = dto.TopicActionReadSerializer
    kinds = ("topic", "channel", "action")

    def read_queryset(self):
        return selectors.topic_actions(workspace=self.workspace)

    def create_link(self, data: dict) -> TopicAction:
        return services.topic_action_create(workspace=self.workspace, **data)

    def bulk_create_links(self, items: list[dict]) -> list[TopicAction]:
        return services.topic_action_bulk_create(workspace=self.workspace, items=items)

    @extend_schema(parameters=[dto.TopicActionListParams], responses=dto.TopicActionPageSerializer)
    def list(self, request: Request) -> Response:
        params = query_params(request, dto.TopicActionListParams)
        links = selectors.topic_actions(
            workspace=self.workspace,
            topic_id=params.get("topicId"),
            action_id=params.get("actionId"),
            channel_id=params.get("channelId"),
            is_active=params.get("isActive"),
        )
        page = sorted_page(links, params, dto.LINK_SORTS)
        return Response(dto.TopicActionPageSerializer(page).data)

    @extend_schema(
        request=dto.TopicActionCreateSerializer, responses={201: dto.TopicActionReadSerializer}
    )
    def create(self, request: Request) -> Response:
        return self._create(request)

    @extend_schema(
        request=dto.TopicActionCreateSerializer(many=True),
        responses={201: dto.TopicActionReadSerializer(many=True)},
        description='All or nothing. The body is an array (or `{"items": [...]}`).',
    )
    @route(detail=False, methods=["post"])
    def bulk(self, request: Request) -> Response:
        return self._bulk(request)

    @extend_schema(responses=dto.TopicActionReadSerializer)
    def retrieve(self, request: Request, id: str) -> Response:
        return Response(self.read_serializer(self.get_object()).data)

    @extend_schema(request=dto.PrioritySerializer, responses=NO_CONTENT)
    def update(self, request: Request, id: str) -> Response:
        return self._update(request)

    @extend_schema(responses=NO_CONTENT)
    def destroy(self, request: Request, id: str) -> Response:
        return self._destroy()


@extend_schema(tags=["automations: hook actions"])
@extend_schema_view(
    retrieve=extend_schema(parameters=[ID_PARAMETER]),
    update=extend_schema(parameters=[ID_PARAMETER]),
    destroy=extend_schema(parameters=[ID_PARAMETER]),
)
class HookActionViewSet(LinkViewSet):
    """Links from workflow hooks (PreSpam, OnClose, …) to actions, with their priority."""

    queryset = HookAction.objects.all()
    resource = "HookActions"
    not_found = "No such hook action."
    create_serializer = dto.HookActionCreateSerializer
    read_serializer = dto.HookActionReadSerializer
    kinds = ("channel", "action")

    def read_queryset(self):
        return selectors.hook_actions(workspace=self.workspace)

    def create_link(self, data: dict) -> HookAction:
        return services.hook_action_create(workspace=self.workspace, **data)

    def bulk_create_links(self, items: list[dict]) -> list[HookAction]:
        return services.hook_action_bulk_create(workspace=self.workspace, items=items)

    @extend_schema(parameters=[dto.HookActionListParams], responses=dto.HookActionPageSerializer)
    def list(self, request: Request) -> Response:
        """`hookName` or `actionId` is required."""
        params = query_params(request, dto.HookActionListParams)
        links = selectors.hook_actions(
            workspace=self.workspace,
            hook_name=params.get("hookName"),
            action_id=params.get("actionId"),
            channel_id=params.get("channelId"),
            is_active=params.get("isActive"),
        )
        page = sorted_page(links, params, dto.LINK_SORTS)
        return Response(dto.HookActionPageSerializer(page).data)

    @extend_schema(
        request=dto.HookActionCreateSerializer, responses={201: dto.HookActionReadSerializer}
    )
    def create(self, request: Request) -> Response:
        return self._create(request)

    @extend_schema(
        request=dto.HookActionCreateSerializer(many=True),
        responses={201: dto.HookActionReadSerializer(many=True)},
        description='All or nothing. The body is an array (or `{"items": [...]}`).',
    )
    @route(detail=False, methods=["post"])
    def bulk(self, request: Request) -> Response:
        return self._bulk(request)

    @extend_schema(parameters=[dto.WaitSecondsParams], responses=dto.WaitSecondsSerializer)
    @route(detail=False, methods=["get"], url_path="wait-seconds")
    def wait_seconds(self, request: Request) -> Response:
        """Total `waitSeconds` of the active Wait actions linked to the hook on the
        channel, channel-less links included (without channelId: only those)."""
        params = query_params(request, dto.WaitSecondsParams)
        total = selectors.hook_wait_seconds(
            workspace=self.workspace,
            hook_name=params["hookName"],
            channel_id=params.get("channelId"),
        )
        return Response({"totalWaitSeconds": total})

    @extend_schema(responses=dto.HookActionReadSerializer)
    def retrieve(self, request: Request, id: str) -> Response:
        return Response(self.read_serializer(self.get_object()).data)

    @extend_schema(request=dto.PrioritySerializer, responses=NO_CONTENT)
    def update(self, request: Request, id: str) -> Response:
        return self._update(request)

    @extend_schema(responses=NO_CONTENT)
    def destroy(self, request: Request, id: str) -> Response:
        return self._destroy()
