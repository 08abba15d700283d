"""POST /v1/conversations/{id}/escalate: OnEscalate, then PostEscalate or
OnEscalateFailed, with the hand-off email and the conversation's state."""

from __future__ import annotations

import pytest

from automations.models import HookRun
from contacts.models import ContactEvent, Conversation, Message
from outreach.models import Action, ActionStatus
from tests.automations import drain_steps
from tests.factories import make_definition, make_hook_action

pytestmark = pytest.mark.django_db


@pytest.fixture
def conversation(workspace, make_contact):
    contact = make_contact("dana@example.com", firstname="Dana")
    conversation = Conversation.objects.create(
        workspace=workspace, contact=contact, channel="email", subject="Refund please"
    )
    Message.objects.create(
        workspace=workspace,
        conversation=conversation,
        direction="inbound",
        from_address="dana@example.com",
        to_address="sales@acme.example.com",
        subject="Refund please",
        body="I want my money back.",
        sent_at=conversation.created_at,
    )
    return conversation


def url(conversation) -> str:
    return f"/v1/conversations/{conversation.public_id}/escalate"


def escalate(client, conversation, run_on_commit, **body):
    with run_on_commit(execute=True):
        return client.post(url(conversation), body, format="json")


def test_it_runs_on_escalate_then_post_escalate(
    owner_client, workspace, conversation, email_identity, django_capture_on_commit_callbacks
):
    make_hook_action(
        workspace,
        hook_name="OnEscalate",
        action=make_definition(workspace, "w", action_type="Wait"),
    )
    make_hook_action(
        workspace,
        hook_name="PostEscalate",
        action=make_definition(
            workspace,
            "Tell the customer",
            action_type="Reply",
            api_body_template="Hi {{ endUser.firstName }}, a colleague will take it from here.",
        ),
    )
    make_hook_action(
        workspace,
        hook_name="OnEscalateFailed",
        action=make_definition(workspace, "Never", action_type="Close"),
    )
    response = escalate(
        owner_client,
        conversation,
        django_capture_on_commit_callbacks,
        reason="Refund over the limit",
        to="billing-team@example.com",
    )
    assert response.status_code == 202, response.content
    body = response.json()
    assert (body["status"], body["escalation_status"]) == ("success", "pending")
    drain_steps(django_capture_on_commit_callbacks)

    conversation.refresh_from_db()
    assert conversation.escalation_status == "escalated"
    assert conversation.escalated_at is not None
    assert (conversation.escalated_to, conversation.escalation_reason) == (
        "billing-team@example.com",
        "Refund over the limit",
    )
    assert conversation.status == "open"
    runs = list(HookRun.objects.order_by("id").values_list("hook_name", flat=True))
    assert runs == ["OnEscalate", "PostEscalate"]
    post = HookRun.objects.get(hook_name="PostEscalate")
    assert post.context["escalation"]["status"] == "escalated"

    handoff = Action.objects.get(type="send_email")
    assert handoff.params["to"] == "billing-team@example.com"
    assert "Refund over the limit" in handoff.params["body"]
    assert "I want my money back." in handoff.params["body"]
    assert handoff.status == ActionStatus.SCHEDULED
    assert handoff.contact is None
    assert post.context["escalation"]["handoffAction"] == handoff.public_id

    reply = Action.objects.get(type="email_message")
    assert reply.status == ActionStatus.PENDING_APPROVAL
    assert reply.params["body"] == "Hi Dana, a colleague will take it from here."
    events = set(ContactEvent.objects.values_list("type", flat=True))
    assert {"conversation.escalation_requested", "conversation.escalated"} <= events


def test_a_failed_on_escalate_step_runs_on_escalate_failed_instead(
    owner_client,
    workspace,
    conversation,
    email_identity,
    settings,
    django_capture_on_commit_callbacks,
):
    settings.OUTBOUND_HTTP_ALLOWLIST = []
    make_hook_action(
        workspace,
        hook_name="OnEscalate",
        action=make_definition(
            workspace,
            "Open a helpdesk ticket",
            action_type="ApiCall",
            api_endpoint="http://127.0.0.1:9/tickets",
            api_method="POST",
        ),
    )
    make_hook_action(
        workspace,
        hook_name="PostEscalate",
        action=make_definition(workspace, "Not this", action_type="Close"),
    )
    make_hook_action(
        workspace,
        hook_name="OnEscalateFailed",
        action=make_definition(
            workspace,
            "Apologise",
            action_type="Reply",
            api_body_template="Sorry, we could not reach a colleague: {{ escalation.status }}.",
        ),
    )
    response = escalate(owner_client, conversation, django_capture_on_commit_callbacks)
    assert response.status_code == 202
    drain_steps(django_capture_on_commit_callbacks)

    conversation.refresh_from_db()
    assert (conversation.escalation_status, conversation.escalated_at) == ("failed", None)
    assert conversation.status == "open"  # PostEscalate's Close did not run
    failed_run = HookRun.objects.get(hook_name="OnEscalateFailed")
    assert failed_run.context["escalation"]["error"].startswith("Open a helpdesk ticket: ")
    assert not HookRun.objects.filter(hook_name="PostEscalate").exists()
    reply = Action.objects.get(type="email_message")
    assert reply.params["body"] == "Sorry, we could not reach a colleague: failed."
    assert ContactEvent.objects.filter(type="conversation.escalation_failed").exists()


def test_a_hand_off_that_cannot_be_made_fails_the_escalation(
    owner_client, conversation, django_capture_on_commit_callbacks
):
    # No email identity in the workspace: the hand-off email has no sender.
    escalate(owner_client, conversation, django_capture_on_commit_callbacks, to="team@example.com")
    drain_steps(django_capture_on_commit_callbacks)
    conversation.refresh_from_db()
    assert conversation.escalation_status == "failed"
    run = HookRun.objects.get(hook_name="OnEscalateFailed")
    assert "No active email identity" in run.context["escalation"]["error"]
    assert not Action.objects.exists()


def test_without_links_or_recipient_the_conversation_is_escalated(
    owner_client, conversation, django_capture_on_commit_callbacks
):
    escalate(owner_client, conversation, django_capture_on_commit_callbacks)
    conversation.refresh_from_db()
    assert conversation.escalation_status == "escalated"
    assert not Action.objects.exists()


def test_a_second_escalation_while_one_is_under_way_is_a_409(owner_client, workspace, conversation):
    make_hook_action(
        workspace,
        hook_name="OnEscalate",
        action=make_definition(workspace, "w", action_type="Wait"),
    )
    assert owner_client.post(url(conversation), {}, format="json").status_code == 202
    response = owner_client.post(url(conversation), {}, format="json")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "invalid_transition"
    assert HookRun.objects.count() == 1


def test_a_closed_conversation_cannot_be_escalated(owner_client, conversation):
    Conversation.objects.filter(pk=conversation.pk).update(status="closed")
    response = owner_client.post(url(conversation), {}, format="json")
    assert response.status_code == 409
    assert response.json()["error"]["fields"] == {"status": ["closed"]}
    assert not HookRun.objects.exists()


def test_a_bad_recipient_is_a_400_naming_it(owner_client, conversation):
    response = owner_client.post(
        url(conversation), {"to": "not an address", "reason": "x" * 501}, format="json"
    )
    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {"to", "reason"}
    conversation.refresh_from_db()
    assert conversation.escalation_status == ""


def test_it_answers_404_for_another_workspaces_conversation(
    client_for, outsider, other_workspace, conversation
):
    client = client_for(outsider, other_workspace, ["contacts:write"])
    response = client.post(url(conversation), {}, format="json")
    assert response.status_code == 404
    assert not HookRun.objects.exists()


def test_it_needs_contacts_write(client_for, owner, workspace, conversation):
    client = client_for(owner, workspace, ["contacts:read"])
    assert client.post(url(conversation), {}, format="json").status_code == 403


def test_a_nul_in_the_conversation_id_is_a_404(owner_client):
    # It reached the lookup, which PostgreSQL refuses (a 500).
    for verb in ("escalate", "close"):
        response = owner_client.post(f"/v1/conversations/th_1%00/{verb}", {}, format="json")
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"
