"""Demo automation settings for `make run`: the records seed 004's examples name,
under the ids they name, so each example works verbatim with the printed key.

- Action definition 14, "Call CRM" (ApiCall): the seed's `POST /api/Actions`
  body, plus a base URL and a token so that it can also run (the seed's body has
  a relative endpoint and Bearer without a token: accepted, but a run would fail).
  `GET`, `PUT` (with the seed's body, which leaves the endpoint out and so keeps
  it) and `DELETE /api/Actions/14` work on it.
- Topic 21, "Billing", and channel 3, "Support inbox" (email): what the seed's
  `POST /api/TopicActions` body links to action 14 with priority 100. The demo
  does not create that link, so the example answers 201 (and 409 a second time).
- "Wait 45 seconds" (Wait), linked to PostTopicDetection on channel 3: the seed's
  `GET /api/HookActions/wait-seconds?channelId=3&hookName=PostTopicDetection`
  answers `{"totalWaitSeconds": 45}`, as in the seed.
- "Send reply" (ReplySend), the seed's `GET /api/Actions/available` example (which
  gives it id 14 as well; 14 is Call CRM, the one the PUT example updates).

The seed's `customerID` (8) is the workspace's id, which the API sets from the
key; no request carries it, so the demo workspace keeps whatever id it has.

Ids are integer primary keys. A record is created through the services (checked
like every write), then moved to the seed's id when that id is free, as it is on a
fresh database; the sequences are reset afterwards (PostgreSQL), so later inserts
continue after the highest id. An id already taken (a database with other rows)
is left alone and the record keeps the id it got: `seed_demo` prints the ids.

Idempotent: each record is looked up by its name in the demo workspace and created
only when missing, so a second run creates nothing, and a record deleted (say by
the seed's `DELETE /api/Actions/14`) comes back, under its id, on the next run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from django.core.management.color import no_style
from django.db import connection, models

from accounts.models import Workspace
from automations import services
from automations.models import (
    ActionDefinition,
    ActionDefinitionType,
    Channel,
    ChannelKind,
    HookAction,
    HookName,
    Topic,
)

DEMO_ACTION_ID, DEMO_TOPIC_ID, DEMO_CHANNEL_ID = 14, 21, 3
CALL_CRM = "Call CRM"
BILLING = "Billing"
SUPPORT_INBOX = "Support inbox"
WAIT_45 = "Wait 45 seconds"
SEND_REPLY = "Send reply"

# Seed 004's POST /api/Actions example, as model fields.
SEED_API_CALL = {
    "name": CALL_CRM,
    "description": "Update the customer record",
    "action_type": ActionDefinitionType.API_CALL,
    "api_endpoint": "/customers/{{endUser.customerNumber}}",
    "api_method": "PUT",
    "api_headers": '{"Content-Type":"application/json"}',
    "api_body_template": '{"status":"{{ticket.status}}"}',
    "override_api_authentication_type": "Bearer",
    "is_active": True,
    "is_function_tool": False,
    "tool_call_timeout_seconds": 30,
}

Record = TypeVar("Record", bound=models.Model)


@dataclass(frozen=True)
class DemoAutomations:
    action_id: int
    topic_id: int
    channel_id: int


def _ensure(
    model: type[Record],
    workspace: Workspace,
    name: str,
    create: Callable[[], Record],
    *,
    pk: int | None = None,
) -> Record:
    existing = model.objects.filter(workspace=workspace, name=name).order_by("id").first()
    if existing is not None:
        return existing
    record = create()
    if pk is not None and record.pk != pk and not model.objects.filter(pk=pk).exists():
        # Just created, so nothing refers to it yet: its id can move.
        model.objects.filter(pk=record.pk).update(**{model._meta.pk.attname: pk})
        _reset_sequences(model)
        record = model.objects.get(pk=pk)
    return record


def _reset_sequences(model: type[models.Model]) -> None:
    """After a row was given an explicit id, make the next insert take a higher one
    (PostgreSQL's sequence does not follow; SQLite needs nothing: no statements)."""
    statements = connection.ops.sequence_reset_sql(no_style(), [model])
    with connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)


def seed_automations(*, workspace: Workspace) -> DemoAutomations:
    zone = workspace.timezone

    def definition(values: dict) -> Callable[[], ActionDefinition]:
        return lambda: services.action_definition_create(
            workspace=workspace, values=values, default_time_zone=zone
        )

    call_crm = _ensure(
        ActionDefinition,
        workspace,
        CALL_CRM,
        definition(
            {
                **SEED_API_CALL,
                "override_api_base_url": "https://crm.example.com",
                "override_api_token": "demo-crm-token",
            }
        ),
        pk=DEMO_ACTION_ID,
    )
    topic = _ensure(
        Topic,
        workspace,
        BILLING,
        lambda: services.topic_create(
            workspace=workspace,
            name=BILLING,
            description="Invoices, payments and refunds",
            keywords=["invoice", "billing", "refund", "payment"],
        ),
        pk=DEMO_TOPIC_ID,
    )
    channel = _ensure(
        Channel,
        workspace,
        SUPPORT_INBOX,
        lambda: services.channel_create(
            workspace=workspace, name=SUPPORT_INBOX, kind=ChannelKind.EMAIL
        ),
        pk=DEMO_CHANNEL_ID,
    )

    wait = _ensure(
        ActionDefinition,
        workspace,
        WAIT_45,
        definition(
            {
                "name": WAIT_45,
                "description": "Give an agent time to pick the message up",
                "action_type": ActionDefinitionType.WAIT,
                "wait_seconds": 45,
            }
        ),
    )
    _ensure(
        ActionDefinition,
        workspace,
        SEND_REPLY,
        definition(
            {
                "name": SEND_REPLY,
                "description": "Generate and send an answer",
                "action_type": ActionDefinitionType.REPLY_SEND,
                "api_body_template": (
                    "Hi {{ endUser.firstName }},\n\nThanks for your message: we are on it "
                    "and will get back to you shortly.\n\nThe support team"
                ),
            }
        ),
    )
    hook = HookName.POST_TOPIC_DETECTION
    linked = HookAction.objects.filter(
        workspace=workspace, hook_name=hook, channel=channel, action=wait
    ).exists()
    if not linked:
        services.hook_action_create(
            workspace=workspace, hook_name=hook, action=wait, channel=channel, priority=10
        )
    return DemoAutomations(action_id=call_crm.pk, topic_id=topic.pk, channel_id=channel.pk)
