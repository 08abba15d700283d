"""Helpers for the automation settings tests (seed 004): rows made through the
services, and a check of the ProblemDetails error envelope."""

from __future__ import annotations

from typing import Any

from automations import services
from automations.models import ActionDefinition, Channel, HookAction, Topic, TopicAction

# Seed 004's POST /api/Actions example, as the vendor documents it.
SEED_API_CALL: dict[str, Any] = {
    "name": "Call CRM",
    "description": "Update the customer record",
    "actionType": "ApiCall",
    "apiEndpoint": "/customers/{{endUser.customerNumber}}",
    "apiMethod": "PUT",
    "apiHeaders": '{"Content-Type":"application/json"}',
    "apiBodyTemplate": '{"status":"{{ticket.status}}"}',
    "overrideApiAuthenticationType": "Bearer",
    "isActive": True,
    "isFunctionTool": False,
    "toolCallTimeoutSeconds": 30,
}

# What each type needs to be valid (services refuse a definition that could never run).
TYPE_DEFAULTS: dict[str, dict[str, Any]] = {
    "ApiCall": {"api_endpoint": "https://crm.example.com/api/contacts"},
    "Reply": {"api_body_template": "Thanks for your message."},
    "ReplySend": {"api_body_template": "Thanks for your message."},
    "Send": {"api_body_template": "Thanks for your message."},
    "Forward": {"forward_recipients": "team@example.com"},
    "Wait": {"wait_seconds": 0},
}


def make_definition(workspace, name: str = "Send reply", **values: Any) -> ActionDefinition:
    action_type = values.pop("action_type", "ReplySend")
    fields = {
        "name": name,
        "action_type": action_type,
        **TYPE_DEFAULTS.get(action_type, {}),
        **values,
    }
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


def drain_steps(run_on_commit=None, rounds: int = 20) -> None:
    """Run due automation steps until none are left (what beat's every-second tick
    does). In a test inside a transaction, pass django_capture_on_commit_callbacks
    so each round's on-commit callbacks (the next pipeline stages) run; a
    transactional test (the live server's) commits for real and passes nothing."""
    from contextlib import nullcontext

    from automations.engine import steps_dispatch

    for _ in range(rounds):
        with run_on_commit(execute=True) if run_on_commit else nullcontext():
            if not steps_dispatch():
                return
