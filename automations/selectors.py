"""Reads for automation settings. Every function is scoped to one workspace.

Secrets are never loaded by a read: the encrypted columns are deferred and
their presence is annotated (`has_override_api_password`/`_token`), so a serializer
has nothing to leak. `api_headers` (encrypted too) is the exception where a
definition is shown: its names are, with masked values; links defer it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import BooleanField, ExpressionWrapper, Q, QuerySet, Sum
from django.db.models.functions import Coalesce

from accounts.models import ApiKey, Membership, Workspace
from automations.models import (
    ActionDefinition,
    ActionDefinitionType,
    Channel,
    HookAction,
    Topic,
    TopicAction,
)

SECRET_COLUMNS = ("override_api_password", "override_api_token")
ENCRYPTED_COLUMNS = (*SECRET_COLUMNS, "api_headers")
LINKED_ACTION_SECRETS = tuple(f"action__{column}" for column in ENCRYPTED_COLUMNS)


# --- Paging -----------------------------------------------------------------------
@dataclass(frozen=True)
class Page:
    items: list
    page_number: int
    page_size: int
    total_count: int

    @property
    def total_pages(self) -> int:
        return math.ceil(self.total_count / self.page_size)


def paginate(queryset: QuerySet, *, page_number: int, page_size: int) -> Page:
    """One count and one page query (plus the queryset's prefetches). A page past
    the end is empty, not an error."""
    total = queryset.count()
    start = (page_number - 1) * page_size
    items = list(queryset[start : start + page_size])
    return Page(items=items, page_number=page_number, page_size=page_size, total_count=total)


def sorted_by(queryset: QuerySet, *, field: str, descending: bool) -> QuerySet:
    sign = "-" if descending else ""
    return queryset.order_by(f"{sign}{field}", f"{sign}id")


# --- The caller ---------------------------------------------------------------------
def caller_time_zone(*, api_key: ApiKey) -> str:
    """The key's user's timezone in the key's workspace (the workspace's when unset)."""
    membership = Membership.objects.filter(
        workspace_id=api_key.workspace_id, user_id=api_key.user_id
    ).first()
    if membership is None:
        return api_key.workspace.timezone
    membership.workspace = api_key.workspace  # already loaded with the key
    return membership.effective_timezone


# --- Action definitions -----------------------------------------------------------
def action_definitions(*, workspace: Workspace) -> QuerySet[ActionDefinition]:
    """For reading: custom fields prefetched, secrets deferred, their presence annotated."""
    return (
        ActionDefinition.objects.for_workspace(workspace)
        .defer(*SECRET_COLUMNS)
        .annotate(
            has_override_api_password=ExpressionWrapper(
                ~Q(override_api_password=""), output_field=BooleanField()
            ),
            has_override_api_token=ExpressionWrapper(
                ~Q(override_api_token=""), output_field=BooleanField()
            ),
        )
        .prefetch_related("custom_field_definitions")
    )


def action_definitions_available(*, workspace: Workspace) -> QuerySet[ActionDefinition]:
    """Active definitions, by name: what ticket and phone flows may offer."""
    return (
        ActionDefinition.objects.for_workspace(workspace)
        .filter(is_active=True)
        .only("id", "workspace_id", "name", "description", "action_type", "is_active")
        .order_by("name", "id")
    )


def action_definition_for_write(*, workspace: Workspace, pk: int) -> ActionDefinition | None:
    return ActionDefinition.objects.for_workspace(workspace).filter(pk=pk).first()


# --- Topics and channels -------------------------------------------------------------
def topics(*, workspace: Workspace) -> QuerySet[Topic]:
    return Topic.objects.for_workspace(workspace)


def topics_active(*, workspace: Workspace) -> QuerySet[Topic]:
    """The topics detection matches messages against."""
    return Topic.objects.for_workspace(workspace).filter(is_active=True)


def channels(*, workspace: Workspace) -> QuerySet[Channel]:
    return Channel.objects.for_workspace(workspace)


# --- Links ----------------------------------------------------------------------------
def _link_filters(
    links: QuerySet,
    *,
    action_id: int | None,
    channel_id: int | None,
    is_active: bool | None,
) -> QuerySet:
    if action_id is not None:
        links = links.filter(action_id=action_id)
    if channel_id is not None:
        links = links.filter(channel_id=channel_id)
    if is_active is not None:
        links = links.filter(action__is_active=is_active)
    return links


def topic_actions(
    *,
    workspace: Workspace,
    topic_id: int | None = None,
    action_id: int | None = None,
    channel_id: int | None = None,
    is_active: bool | None = None,
) -> QuerySet[TopicAction]:
    """Topic links in priority order (ascending, then id), with their topic,
    channel and action joined. `is_active` filters on the linked action."""
    links = (
        TopicAction.objects.for_workspace(workspace)
        .select_related("topic", "channel", "action")
        .defer(*LINKED_ACTION_SECRETS)
        .order_by("priority", "id")
    )
    if topic_id is not None:
        links = links.filter(topic_id=topic_id)
    return _link_filters(links, action_id=action_id, channel_id=channel_id, is_active=is_active)


def hook_actions(
    *,
    workspace: Workspace,
    hook_name: str | None = None,
    action_id: int | None = None,
    channel_id: int | None = None,
    is_active: bool | None = None,
) -> QuerySet[HookAction]:
    """Hook links in priority order (ascending, then id), channel and action joined."""
    links = (
        HookAction.objects.for_workspace(workspace)
        .select_related("channel", "action")
        .defer(*LINKED_ACTION_SECRETS)
        .order_by("priority", "id")
    )
    if hook_name is not None:
        links = links.filter(hook_name=hook_name)
    return _link_filters(links, action_id=action_id, channel_id=channel_id, is_active=is_active)


def hook_wait_seconds(
    *, workspace: Workspace, hook_name: str, channel_id: int | None = None
) -> int:
    """The sum of `wait_seconds` of the active Wait definitions linked to the hook,
    on that channel or on every channel (channel-less links). Without a channel,
    only the channel-less links count."""
    links = HookAction.objects.for_workspace(workspace).filter(
        hook_name=hook_name,
        action__is_active=True,
        action__action_type=ActionDefinitionType.WAIT,
    )
    if channel_id is None:
        links = links.filter(channel__isnull=True)
    else:
        links = links.filter(Q(channel__isnull=True) | Q(channel_id=channel_id))
    return links.aggregate(total=Coalesce(Sum("action__wait_seconds"), 0))["total"]


# --- Link targets ---------------------------------------------------------------------
class LinkTargets:
    """The workspace's topics, channels and action definitions by id, for
    validating link bodies: `preload` fetches a whole batch's ids in one query
    per kind, so a bulk request of any size costs three queries."""

    MODELS = {"topic": Topic, "channel": Channel, "action": ActionDefinition}

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace
        self._found: dict[str, dict[int, object | None]] = {kind: {} for kind in self.MODELS}

    def _queryset(self, kind: str) -> QuerySet:
        queryset = self.MODELS[kind].objects.for_workspace(self.workspace)
        if kind == "action":
            queryset = queryset.defer(*ENCRYPTED_COLUMNS)
        return queryset

    def preload(self, kind: str, ids: Iterable[int]) -> None:
        wanted = {i for i in ids if i not in self._found[kind]}
        if not wanted:
            return
        found = {obj.pk: obj for obj in self._queryset(kind).filter(pk__in=wanted)}
        for pk in wanted:
            self._found[kind][pk] = found.get(pk)

    def get(self, kind: str, pk: int):
        self.preload(kind, [pk])
        return self._found[kind][pk]
