"""The hook engine: runs and steps as rows, priority order, Wait, rules,
schedules, and the inbound pipeline up to a reply awaiting approval."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from automations.engine import hook_fire, steps_claim_due
from automations.models import (
    ActionDefinition,
    HookAction,
    HookStep,
    Topic,
    TopicAction,
)
from contacts.models import Contact, ContactEvent, Conversation, Message
from outreach.models import Action, ActionStatus
from tests.automations import drain_steps

pytestmark = pytest.mark.django_db


@pytest.fixture
def define(workspace):
    def make(name, action_type, **fields):
        return ActionDefinition.objects.create(
            workspace=workspace, name=name, action_type=action_type, **fields
        )

    return make


def link(workspace, hook, definition, priority):
    return HookAction.objects.create(
        workspace=workspace, hook_name=hook, action=definition, priority=priority
    )


def test_steps_run_in_ascending_priority(workspace, define, django_capture_on_commit_callbacks):
    first = define("first", "Close")
    second = define("second", "Spam")
    conversation = Conversation.objects.create(workspace=workspace, channel="email")
    link(workspace, "OnEscalate", second, 20)
    link(workspace, "OnEscalate", first, 10)
    run = hook_fire(
        workspace=workspace, hook_name="OnEscalate", context={}, conversation=conversation
    )
    assert list(run.steps.values_list("definition_name", flat=True)) == ["first", "second"]
    drain_steps(django_capture_on_commit_callbacks)
    conversation.refresh_from_db()
    assert conversation.status == "spam"  # Close ran first, then Spam
    run.refresh_from_db()
    assert run.status == "completed"


def test_only_the_first_unfinished_step_of_a_run_is_claimed(workspace, define):
    for n in range(3):
        link(workspace, "UserTriggered", define(f"wait {n}", "Wait", wait_seconds=0), n)
    run = hook_fire(workspace=workspace, hook_name="UserTriggered", context={})
    claims = steps_claim_due()
    assert [step_id for step_id, _ in claims] == [run.steps.get(position=0).pk]


def test_a_wait_makes_later_steps_due_later(workspace, define, django_capture_on_commit_callbacks):
    link(workspace, "UserTriggered", define("pause", "Wait", wait_seconds=3600), 1)
    link(workspace, "UserTriggered", define("close", "Close"), 2)
    conversation = Conversation.objects.create(workspace=workspace, channel="email")
    run = hook_fire(
        workspace=workspace, hook_name="UserTriggered", context={}, conversation=conversation
    )
    drain_steps(django_capture_on_commit_callbacks)
    later = run.steps.get(position=1)
    assert later.status == "pending"
    assert later.due_at > timezone.now() + dt.timedelta(minutes=59)
    conversation.refresh_from_db()
    assert conversation.status == "open"
    HookStep.objects.filter(pk=later.pk).update(due_at=timezone.now())
    drain_steps(django_capture_on_commit_callbacks)
    conversation.refresh_from_db()
    assert conversation.status == "closed"


def test_conditional_rules_can_skip_a_step(workspace, define, django_capture_on_commit_callbacks):
    rule = '{"==": [{"var": "ticket.priority"}, "high"]}'
    link(workspace, "OnEscalate", define("close", "Close", conditional_rules=rule), 1)
    conversation = Conversation.objects.create(workspace=workspace, channel="email")
    run = hook_fire(
        workspace=workspace,
        hook_name="OnEscalate",
        context={"ticket": {"priority": "low"}},
        conversation=conversation,
    )
    drain_steps(django_capture_on_commit_callbacks)
    step = run.steps.get()
    assert (step.status, step.error) == ("skipped", "conditionalRules not met")
    conversation.refresh_from_db()
    assert conversation.status == "open"


def test_an_inactive_definition_is_not_linked_into_a_run(workspace, define):
    link(workspace, "OnClose", define("off", "Close", is_active=False), 1)
    run = hook_fire(workspace=workspace, hook_name="OnClose", context={})
    assert not run.steps.exists()
    assert run.status == "completed"


def test_an_inbound_billing_question_gets_a_reply_awaiting_approval(
    owner_client, workspace, define, email_identity, django_capture_on_commit_callbacks
):
    billing = Topic.objects.create(workspace=workspace, name="Billing", keywords=["invoice"])
    reply = define(
        "Auto-reply to billing questions",
        "Reply",
        api_body_template="Hi {{ endUser.firstName or 'there' }}, we are looking at your invoice.",
    )
    TopicAction.objects.create(workspace=workspace, topic=billing, action=reply, priority=1)

    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(
            "/v1/inbound/messages",
            {
                "from": "dana@example.com",
                "to": email_identity.address,
                "subject": "Question about my invoice",
                "body": "Invoice #42 looks wrong.",
            },
            format="json",
        )
    assert response.status_code == 201, response.json()
    drain_steps(django_capture_on_commit_callbacks)

    contact = Contact.objects.get(email="dana@example.com")
    conversation = Conversation.objects.get(contact=contact)
    assert Message.objects.get(conversation=conversation).direction == "inbound"
    assert ContactEvent.objects.filter(contact=contact, type="message.received").exists()
    drafted = Action.objects.get(type="email_message")
    assert drafted.status == ActionStatus.PENDING_APPROVAL
    assert drafted.params["thread_id"] == conversation.public_id
    assert drafted.params["body"] == "Hi there, we are looking at your invoice."
    assert drafted.identity == email_identity
    assert drafted.contact == contact


def test_a_message_marked_spam_stops_the_pipeline(
    owner_client, workspace, define, email_identity, django_capture_on_commit_callbacks
):
    link(workspace, "PreSpam", define("spam", "Spam"), 1)
    billing = Topic.objects.create(workspace=workspace, name="Billing", keywords=["invoice"])
    TopicAction.objects.create(
        workspace=workspace,
        topic=billing,
        action=define("r", "Reply", api_body_template="x"),
        priority=1,
    )
    with django_capture_on_commit_callbacks(execute=True):
        owner_client.post(
            "/v1/inbound/messages",
            {"from": "bot@example.com", "to": email_identity.address, "body": "invoice"},
            format="json",
        )
    drain_steps(django_capture_on_commit_callbacks)
    assert Conversation.objects.get().status == "spam"
    assert not Action.objects.exists()


def test_the_inbound_endpoint_validates_and_needs_contacts_write(client_for, owner, workspace):
    reader = client_for(owner, workspace, ["contacts:read"])
    assert reader.post("/v1/inbound/messages", {}, format="json").status_code == 403
    writer = client_for(owner, workspace, ["contacts:write"])
    response = writer.post("/v1/inbound/messages", {"from": "nope"}, format="json")
    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {"from", "to"}


def test_contact_changes_fire_the_end_user_hooks(owner_client, workspace, define):
    from automations.models import HookRun

    for hook in ("OnEndUserAdd", "OnEndUserUpdate", "OnEndUserDelete"):
        link(workspace, hook, define(f"wait {hook}", "Wait", wait_seconds=0), 1)
    created = owner_client.post(
        "/v1/contacts",
        {"email": "jane@example.com", "properties": {"firstname": "Jane"}},
        format="json",
    ).json()["contact"]
    owner_client.put(
        f"/v1/contacts/{created['id']}", {"properties": {"city": "Oslo"}}, format="json"
    )
    owner_client.delete(f"/v1/contacts/{created['id']}")
    runs = list(HookRun.objects.order_by("id"))
    assert [r.hook_name for r in runs] == ["OnEndUserAdd", "OnEndUserUpdate", "OnEndUserDelete"]
    assert runs[0].context["endUser"]["firstName"] == "Jane"
    assert runs[1].context["changes"]["city"] == {"from": "", "to": "Oslo"}
    assert runs[2].context["endUser"]["email"] == "jane@example.com"


def test_no_run_is_stored_when_nothing_is_linked(owner_client):
    from automations.models import HookRun

    owner_client.post("/v1/contacts", {"email": "jane@example.com"}, format="json")
    assert not HookRun.objects.exists()


# 100 nested parentheses: a RecursionError once, which left the step pending for retries.
TOO_DEEP = "{{ " + "(" * 100 + "ticket.id" + ")" * 100 + " }}"


@pytest.mark.parametrize(
    ("action_type", "fields", "where"),
    [
        ("ReplySend", {"api_body_template": TOO_DEEP}, "apiBodyTemplate"),
        ("ApiCall", {"api_endpoint": "https://crm.example.com/" + TOO_DEEP}, "api_endpoint"),
    ],
)
def test_a_stored_template_nested_too_deeply_fails_the_step(
    workspace,
    define,
    email_identity,
    django_capture_on_commit_callbacks,
    action_type,
    fields,
    where,
):
    # Stored as it was before saving checked it (define() bypasses the services).
    link(workspace, "OnEscalate", define("deep", action_type, **fields), 1)
    conversation = Conversation.objects.create(workspace=workspace, channel="email")
    run = hook_fire(
        workspace=workspace, hook_name="OnEscalate", context={}, conversation=conversation
    )
    drain_steps(django_capture_on_commit_callbacks)
    step = run.steps.get()
    assert step.status == "failed"
    assert step.error.startswith(f"{where}: ")
    assert "more than 20 levels deep" in step.error
    assert step.attempts == 1
    run.refresh_from_db()
    assert run.status == "completed"


def test_a_recursion_error_fails_the_step_instead_of_retrying(
    workspace, define, monkeypatch, django_capture_on_commit_callbacks
):
    def too_deep(**kwargs):
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr("automations.engine.definition_execute", too_deep)
    link(workspace, "OnClose", define("close", "Close"), 1)
    run = hook_fire(workspace=workspace, hook_name="OnClose", context={})
    drain_steps(django_capture_on_commit_callbacks)
    step = run.steps.get()
    assert (step.status, step.error, step.attempts) == ("failed", "Input nested too deeply.", 1)


def test_a_reply_may_name_the_contact_in_either_vocabulary(
    workspace, define, email_identity, make_contact, django_capture_on_commit_callbacks
):
    from automations.context import hook_context

    ada = make_contact("ada@example.com", firstname="Ada")
    conversation = Conversation.objects.create(workspace=workspace, channel="email", contact=ada)
    body = "{{ contact.firstname }}/{{ endUser.firstName }}/{{ conversation.id }}/{{ ticket.id }}"
    link(workspace, "OnEscalate", define("reply", "ReplySend", api_body_template=body), 1)
    hook_fire(
        workspace=workspace,
        hook_name="OnEscalate",
        context=hook_context(ada, conversation, None),
        conversation=conversation,
        contact=ada,
    )
    drain_steps(django_capture_on_commit_callbacks)
    drafted = Action.objects.get(type="email_message")
    ids = f"{conversation.public_id}/{conversation.public_id}"
    assert drafted.params["body"] == f"Ada/Ada/{ids}"
