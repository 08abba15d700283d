"""Topics (what a message is about: keywords and RE2 patterns, automations.topics)
and channels (where it came from)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError

from accounts.models import Workspace
from automations.models import Channel, ChannelKind, Topic
from automations.services.checks import canonical_choice, check_pattern, model_problems, save_named
from config.exceptions import ValidationFailed

TOPIC_RULES_MAX = 100  # keywords, and patterns, per topic
KEYWORD_MAX_LENGTH = 100
PATTERN_MAX_LENGTH = 500
TOPIC_FIELDS = {
    "name": "name",
    "description": "description",
    "keywords": "keywords",
    "patterns": "patterns",
    "is_active": "isActive",
}
CHANNEL_FIELDS = {"name": "name", "kind": "kind", "is_active": "isActive"}


def _string_list_problems(
    name: str, values: Any, *, max_length: int, check: Callable[[str], None] | None = None
) -> dict[str, list[str]]:
    if not isinstance(values, list):
        return {name: ["Must be a list of strings."]}
    if len(values) > TOPIC_RULES_MAX:
        return {name: [f"At most {TOPIC_RULES_MAX} entries."]}
    errors: dict[str, list[str]] = {}
    for index, value in enumerate(values):
        key = f"{name}[{index}]"
        if not isinstance(value, str) or not value.strip():
            errors[key] = ["Must be a non-empty string."]
        elif len(value) > max_length:
            errors[key] = [f"At most {max_length} characters."]
        elif check is not None:
            try:
                check(value)
            except DjangoValidationError as exc:
                errors[key] = list(exc.messages)
    return errors


def _check_topic(topic: Topic) -> None:
    errors = model_problems(topic, TOPIC_FIELDS)
    errors.pop("keywords", None)  # checked below, per entry
    errors.pop("patterns", None)
    errors.update(_string_list_problems("keywords", topic.keywords, max_length=KEYWORD_MAX_LENGTH))
    errors.update(
        _string_list_problems(
            "patterns", topic.patterns, max_length=PATTERN_MAX_LENGTH, check=check_pattern
        )
    )
    if errors:
        raise ValidationFailed(f"Invalid topic: {', '.join(sorted(errors))}.", fields=errors)


def _normalise_topic(changes: Mapping[str, Any]) -> dict[str, Any]:
    values = dict(changes)
    for key in ("keywords", "patterns"):
        if values.get(key) is None and key in values:
            values[key] = []
        elif isinstance(values.get(key), list) and key == "keywords":
            values[key] = [v.strip() if isinstance(v, str) else v for v in values[key]]
    if "description" in values and values["description"] is None:
        values["description"] = ""
    return values


def topic_create(
    *,
    workspace: Workspace,
    name: str,
    description: str = "",
    keywords: list[str] | None = None,
    patterns: list[str] | None = None,
    is_active: bool = True,
) -> Topic:
    """Keywords match case-insensitively as whole words, patterns as RE2 regexes."""
    values = _normalise_topic(
        {"description": description, "keywords": keywords, "patterns": patterns}
    )
    topic = Topic(workspace=workspace, name=name, is_active=is_active, **values)
    _check_topic(topic)
    save_named(topic, "topic")
    return topic


def topic_update(*, topic: Topic, changes: Mapping[str, Any]) -> Topic:
    unknown = set(changes) - set(TOPIC_FIELDS)
    if unknown:
        raise TypeError(f"Not topic fields: {', '.join(sorted(unknown))}")
    for field, value in _normalise_topic(changes).items():
        setattr(topic, field, value)
    _check_topic(topic)
    save_named(topic, "topic")
    return topic


def topic_delete(*, topic: Topic) -> None:
    """Removes the topic and its topic-action links."""
    topic.delete()


def _check_channel(channel: Channel) -> None:
    errors = model_problems(channel, CHANNEL_FIELDS)
    if errors:
        raise ValidationFailed(f"Invalid channel: {', '.join(sorted(errors))}.", fields=errors)


def channel_create(
    *, workspace: Workspace, name: str, kind: str, is_active: bool = True
) -> Channel:
    channel = Channel(
        workspace=workspace,
        name=name,
        kind=canonical_choice(kind, ChannelKind.values),
        is_active=is_active,
    )
    _check_channel(channel)
    save_named(channel, "channel")
    return channel


def channel_update(*, channel: Channel, changes: Mapping[str, Any]) -> Channel:
    unknown = set(changes) - set(CHANNEL_FIELDS)
    if unknown:
        raise TypeError(f"Not channel fields: {', '.join(sorted(unknown))}")
    for field, value in changes.items():
        if field == "kind" and isinstance(value, str):
            value = canonical_choice(value, ChannelKind.values)
        setattr(channel, field, value)
    _check_channel(channel)
    save_named(channel, "channel")
    return channel


def channel_delete(*, channel: Channel) -> None:
    """Removes the channel and every topic and hook link scoped to it."""
    channel.delete()
