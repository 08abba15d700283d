"""factory_boy factories, and small builders that make rows through the services."""

from __future__ import annotations

from typing import Any

import factory
from django.contrib.auth import get_user_model

from accounts.models import Membership, Role, Workspace
from automations import services as automation_services
from automations.models import ActionDefinition, Channel, HookAction, Topic, TopicAction


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}@example.com")
    email = factory.LazyAttribute(lambda u: u.username)
    password = factory.django.Password("correct horse battery staple")


class WorkspaceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Workspace

    name = factory.Sequence(lambda n: f"Workspace {n}")
    timezone = "Europe/Amsterdam"


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    workspace = factory.SubFactory(WorkspaceFactory)
    user = factory.SubFactory(UserFactory)
    role = Role.MEMBER


# --- automations ------------------------------------------------------------
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
    return automation_services.action_definition_create(
        workspace=workspace, values=fields, default_time_zone="UTC"
    )


def make_topic(workspace, name: str = "Billing", **kwargs: Any) -> Topic:
    return automation_services.topic_create(workspace=workspace, name=name, **kwargs)


def make_channel(workspace, name: str = "Support mail", kind: str = "email") -> Channel:
    return automation_services.channel_create(workspace=workspace, name=name, kind=kind)


def make_topic_action(workspace, *, action, topic=None, **kwargs: Any) -> TopicAction:
    if topic is None and "special_topic" not in kwargs:
        topic = make_topic(workspace, name=f"Topic for {action.name}")
    return automation_services.topic_action_create(
        workspace=workspace, action=action, topic=topic, **kwargs
    )


def make_hook_action(workspace, *, action, hook_name: str = "PreSpam", **kwargs: Any) -> HookAction:
    return automation_services.hook_action_create(
        workspace=workspace, hook_name=hook_name, action=action, **kwargs
    )


def make_reply(workspace, name: str = "Reply to billing", **values: Any) -> ActionDefinition:
    """A Reply definition whose body is "Hi!" (another type through `action_type`)."""
    return make_definition(
        workspace, name, **{"action_type": "Reply", "api_body_template": "Hi!", **values}
    )


def make_api_call(workspace, name: str = "Call CRM", **values: Any) -> ActionDefinition:
    """An ApiCall definition: PUT to the CRM's customer, with no body template."""
    fields = {
        "action_type": "ApiCall",
        "api_endpoint": "https://crm.example.com/customers/{{ endUser.customerNumber }}",
        "api_method": "PUT",
        "api_body_template": "",
        **values,
    }
    return make_reply(workspace, name, **fields)
