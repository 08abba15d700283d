"""factory_boy factories, and small make_* builders: rows made through the services
unless a builder says it writes them directly."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from accounts.models import Membership, Role, Workspace
from automations import services as automation_services
from automations.models import ActionDefinition, Channel, HookAction, Topic, TopicAction
from outreach.models import Action, ActionStatus, Cadence, Step

PASSWORD = "correct horse battery staple"  # every UserFactory user's


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}@example.com")
    email = factory.LazyAttribute(lambda u: u.username)
    password = factory.django.Password(PASSWORD)


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


def make_staff_member(workspace, username: str, permissions, role=Role.ADMIN, **membership):
    """A staff user (not a superuser) with `permissions`, a member of `workspace`."""
    user = UserFactory(username=username, is_staff=True)
    user.user_permissions.add(*permissions)
    MembershipFactory(workspace=workspace, user=user, role=role, **membership)
    return user


# --- outreach ---------------------------------------------------------------
# Valid params for each type of action.
ACTION_PARAMS: dict[str, dict[str, str]] = {
    "send_email": {"to": "pat@example.com", "subject": "Hello", "body": "Hi"},
    "email_message": {"thread_id": "th_1", "body": "Reply"},
    "call_contact": {"recipient_phone": "+14155551234", "script": "Say hi"},
    "send_sms": {"recipient_phone": "+14155551234", "message": "Hi"},
    "linkedin_message": {"profile_url": "https://www.linkedin.com/in/pat", "message": "Hi"},
    "update_lifecycle_stage": {"contact_id": "ct_1", "stage": "lead", "reason": "r"},
    "task": {"title": "Research Pat", "note": "Look at the website"},
}


def make_action_row(workspace, identity, **fields) -> Action:
    """An action row written directly, not through the services (status, times and
    relations as given; by default a send_email scheduled for tomorrow)."""
    created_at = fields.pop("created_at", None)
    updated_at = fields.pop("updated_at", None)
    kind = fields.pop("type", "send_email")
    values = {
        "workspace": workspace,
        "identity": identity,
        "type": kind,
        "params": dict(ACTION_PARAMS[kind]),
        "status": ActionStatus.SCHEDULED,
        "scheduled_time": timezone.now() + timedelta(days=1),
    }
    values.update(fields)
    action = Action.objects.create(**values)
    stamps = {k: v for k, v in (("created_at", created_at), ("updated_at", updated_at)) if v}
    if stamps:
        Action.objects.filter(pk=action.pk).update(**stamps)
        action.refresh_from_db()
    return action


def make_cadence(workspace, owner, name="Outbound", **fields) -> tuple[Cadence, Step, Step]:
    """A cadence written directly, with an email step (day 1) and a phone step (day 3)."""
    cadence = Cadence.objects.create(workspace=workspace, owner=owner, name=name, **fields)
    email = Step.objects.create(
        workspace=workspace, cadence=cadence, order=1, day=1, type="email", name="Intro"
    )
    call = Step.objects.create(
        workspace=workspace, cadence=cadence, order=2, day=3, type="phone", multitouch_group_id=7
    )
    return cadence, email, call


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
