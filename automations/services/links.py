"""Topic and hook links: when an action definition runs, and in which order.

Priority order is ascending: the link with the lowest `priority` runs first, ties
broken by the older link (lower id)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from django.db import IntegrityError, models, transaction

from accounts.models import Workspace
from automations.models import ActionDefinition, Channel, HookAction, HookName, Topic, TopicAction
from automations.services.checks import canonical_choice, model_problems
from config.exceptions import Conflict, ValidationFailed

BULK_LIMIT = 500
PRIORITY_MIN, PRIORITY_MAX = -(2**31), 2**31 - 1


# --- Links: shared ----------------------------------------------------------------
def _target_problem(
    workspace: Workspace, name: str, target: models.Model | None, what: str
) -> dict[str, list[str]]:
    if target is not None and target.workspace_id != workspace.pk:
        return {name: [f"No {what} with this id in your workspace."]}
    return {}


def _priority_problems(priority: Any) -> dict[str, list[str]]:
    if isinstance(priority, bool) or not isinstance(priority, int):
        return {"priority": ["Must be an integer."]}
    if not PRIORITY_MIN <= priority <= PRIORITY_MAX:
        return {"priority": [f"Must be between {PRIORITY_MIN} and {PRIORITY_MAX}."]}
    return {}


def _insert_links(links: Sequence[models.Model], *, key: Callable[[Any], tuple]) -> list:
    """All or nothing: every link in one transaction, each in its own savepoint so
    every duplicate (of an existing link or of an earlier item) is reported."""
    conflicts: dict[str, list[str]] = {}
    first_at: dict[tuple, int] = {}
    with transaction.atomic():
        for index, link in enumerate(links):
            link_key = key(link)
            if link_key in first_at:
                conflicts[f"items[{index}]"] = [f"Duplicates items[{first_at[link_key]}]."]
                continue
            first_at[link_key] = index
            try:
                with transaction.atomic():
                    link.save()
            except IntegrityError:
                conflicts[f"items[{index}]"] = ["This link already exists."]
        if conflicts:
            raise Conflict(
                f"Duplicate links: {', '.join(conflicts)}; nothing was created.",
                code="duplicate_link",
                fields=conflicts,
            )
    return list(links)


def _insert_link(link: models.Model) -> None:
    try:
        with transaction.atomic():
            link.save()
    except IntegrityError:
        raise Conflict("This action is already linked there.", code="duplicate_link") from None


def _items_problems(items: Sequence[Any]) -> None:
    if not items:
        raise ValidationFailed("Give at least one link.", fields={"items": ["Must not be empty."]})
    if len(items) > BULK_LIMIT:
        raise ValidationFailed(
            f"At most {BULK_LIMIT} links per request.",
            fields={"items": [f"At most {BULK_LIMIT} items."]},
        )


def _bulk_build(items: Sequence[Mapping[str, Any]], build: Callable[..., Any]) -> list:
    _items_problems(items)
    links, errors = [], {}
    for index, item in enumerate(items):
        try:
            links.append(build(**item))
        except ValidationFailed as exc:
            for name, messages in exc.fields.items():
                errors[f"items[{index}].{name}"] = messages
    if errors:
        raise ValidationFailed(
            f"Invalid links: {', '.join(errors)}; nothing was created.", fields=errors
        )
    return links


# --- Topic links ------------------------------------------------------------------
def _blank_to_none(value: str | None) -> str | None:
    return value.strip() or None if isinstance(value, str) else value


def _build_topic_action(
    *,
    workspace: Workspace,
    action: ActionDefinition,
    topic: Topic | None = None,
    special_topic: str | None = None,
    document_id: int | None = 0,
    channel: Channel | None = None,
    special_channel: str | None = None,
    priority: int = 0,
) -> TopicAction:
    special_topic, special_channel = _blank_to_none(special_topic), _blank_to_none(special_channel)
    errors = {
        **_target_problem(workspace, "topicID", topic, "topic"),
        **_target_problem(workspace, "channelID", channel, "channel"),
        **_target_problem(workspace, "actionID", action, "action"),
        **_priority_problems(priority),
    }
    if action is None:
        errors["actionID"] = ["This field is required."]
    if topic is None and special_topic is None:
        errors.setdefault("topicID", []).append("Give topicID or specialTopic.")
    elif topic is not None and special_topic is not None:
        errors.setdefault("topicID", []).append("Give topicID or specialTopic, not both.")
    if channel is not None and special_channel is not None:
        errors.setdefault("channelID", []).append("Give channelID or specialChannel, not both.")
    link = TopicAction(
        workspace=workspace,
        topic=topic,
        special_topic=special_topic,
        document_id=document_id or 0,
        channel=channel,
        special_channel=special_channel,
        action=action,
        priority=priority,
    )
    names = {"special_topic": "specialTopic", "special_channel": "specialChannel"}
    names |= {"document_id": "documentID", "priority": "priority"}
    problems = model_problems(link, names, exclude=["topic", "channel", "action"])
    for name, messages in problems.items():
        if name in names.values():
            errors.setdefault(name, messages)
    if errors:
        raise ValidationFailed(f"Invalid link: {', '.join(sorted(errors))}.", fields=errors)
    return link


def _topic_action_key(link: TopicAction) -> tuple:
    return (
        link.topic_id or 0,
        link.special_topic or "",
        link.document_id,
        link.channel_id or 0,
        link.special_channel or "",
        link.action_id,
    )


def topic_action_create(
    *,
    workspace: Workspace,
    action: ActionDefinition,
    topic: Topic | None = None,
    special_topic: str | None = None,
    document_id: int | None = 0,
    channel: Channel | None = None,
    special_channel: str | None = None,
    priority: int = 0,
) -> TopicAction:
    """Links `action` to a topic (or special topic), optionally on a channel (or
    special channel). The same link twice is a 409."""
    link = _build_topic_action(
        workspace=workspace,
        action=action,
        topic=topic,
        special_topic=special_topic,
        document_id=document_id,
        channel=channel,
        special_channel=special_channel,
        priority=priority,
    )
    _insert_link(link)
    return link


def topic_action_bulk_create(
    *, workspace: Workspace, items: Sequence[Mapping[str, Any]]
) -> list[TopicAction]:
    """All or nothing. `items` hold topic_action_create's arguments (without the
    workspace); a bad item is a 400 keyed `items[i].field`, a duplicate a 409
    keyed `items[i]`."""
    links = _bulk_build(items, lambda **item: _build_topic_action(workspace=workspace, **item))
    return _insert_links(links, key=_topic_action_key)


# --- Hook links -------------------------------------------------------------------
def _build_hook_action(
    *,
    workspace: Workspace,
    hook_name: str,
    action: ActionDefinition,
    channel: Channel | None = None,
    priority: int = 0,
) -> HookAction:
    hook_name = canonical_choice(hook_name, HookName.values) if hook_name else hook_name
    errors = {
        **_target_problem(workspace, "channelID", channel, "channel"),
        **_target_problem(workspace, "actionID", action, "action"),
        **_priority_problems(priority),
    }
    if action is None:
        errors["actionID"] = ["This field is required."]
    if hook_name not in HookName.values:
        errors["hookName"] = [f"{hook_name!r} is not one of: {', '.join(HookName.values)}."]
    if errors:
        raise ValidationFailed(f"Invalid link: {', '.join(sorted(errors))}.", fields=errors)
    return HookAction(
        workspace=workspace, hook_name=hook_name, channel=channel, action=action, priority=priority
    )


def _hook_action_key(link: HookAction) -> tuple:
    return (link.hook_name, link.channel_id or 0, link.action_id)


def hook_action_create(
    *,
    workspace: Workspace,
    hook_name: str,
    action: ActionDefinition,
    channel: Channel | None = None,
    priority: int = 0,
) -> HookAction:
    """Links `action` to a hook, on one channel or (channel None) on every channel.
    The same link twice is a 409."""
    link = _build_hook_action(
        workspace=workspace, hook_name=hook_name, action=action, channel=channel, priority=priority
    )
    _insert_link(link)
    return link


def hook_action_bulk_create(
    *, workspace: Workspace, items: Sequence[Mapping[str, Any]]
) -> list[HookAction]:
    """All or nothing, like topic_action_bulk_create."""
    links = _bulk_build(items, lambda **item: _build_hook_action(workspace=workspace, **item))
    return _insert_links(links, key=_hook_action_key)


# --- Both kinds of link ---------------------------------------------------------------
def link_update_priority(
    *, link: TopicAction | HookAction, priority: int
) -> TopicAction | HookAction:
    """A link's priority is the only thing that changes after creation."""
    if errors := _priority_problems(priority):
        raise ValidationFailed("Invalid priority.", fields=errors)
    type(link).objects.filter(pk=link.pk).update(priority=priority)
    link.priority = priority
    return link


def link_delete(*, link: TopicAction | HookAction) -> None:
    link.delete()
