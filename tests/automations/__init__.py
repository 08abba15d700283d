"""Helpers for the automation settings tests (seed 004): rows made through the
services, and a check of the ProblemDetails error envelope."""

from __future__ import annotations

from typing import Any

from automations import services
from automations.models import ActionDefinition, Channel, HookAction, Topic, TopicAction


def make_definition(workspace, name: str = "Send reply", **values: Any) -> ActionDefinition:
    fields = {"name": name, "action_type": "ReplySend", **values}
    return services.action_definition_create(
        workspace=workspace, values=fields, default_time_zone="UTC"
    )


def make_topic(workspace, name: str = "Billing", **kwargs: Any) -> Topic:
    return services.topic_create(workspace=workspace, name=name, **kwargs)


def make_channel(workspace, name: str = "Support mail", kind: str = "email") -> Channel:
    return services.channel_create(workspace=workspace, name=name, kind=kind)


def make_topic_action(workspace, *, action, topic=None, **kwargs: Any) -> TopicAction:
    if topic is None and "special_topic" not in kwargs:
        topic = make_topic(workspace, name=f"Topic for {action.name}")
    return services.topic_action_create(workspace=workspace, action=action, topic=topic, **kwargs)


def make_hook_action(workspace, *, action, hook_name: str = "PreSpam", **kwargs: Any) -> HookAction:
    return services.hook_action_create(
        workspace=workspace, hook_name=hook_name, action=action, **kwargs
    )


def problem(response, status: int) -> dict:
    """The response's ProblemDetails body, after checking its status and shape."""
    assert response.status_code == status, (response.status_code, response.content[:2000])
    body = response.json()
    assert set(body) == {"type", "title", "status", "code", "errors"}, body
    assert body["status"] == status
    return body
