"""POST /v1/conversations/{id}/close, and the Close action type: closed, OnClose runs."""

from __future__ import annotations

import pytest

from automations.engine import hook_fire
from automations.models import HookRun
from contacts.models import ContactEvent, Conversation
from tests.automations import drain_steps
from tests.factories import make_definition, make_hook_action

pytestmark = pytest.mark.django_db


@pytest.fixture
def conversation(workspace, make_contact):
    return Conversation.objects.create(
        workspace=workspace, contact=make_contact("dana@example.com"), channel="email"
    )


def test_it_closes_the_conversation_and_runs_on_close(
    owner_client, workspace, conversation, django_capture_on_commit_callbacks
):
    make_hook_action(
        workspace, hook_name="OnClose", action=make_definition(workspace, "w", action_type="Wait")
    )
    response = owner_client.post(f"/v1/conversations/{conversation.public_id}/close")
    assert response.status_code == 200, response.content
    assert response.json()["conversation_status"] == "closed"
    conversation.refresh_from_db()
    assert conversation.status == "closed"
    run = HookRun.objects.get()
    assert (run.hook_name, run.conversation, run.context["ticket"]["status"]) == (
        "OnClose",
        conversation,
        "closed",
    )
    drain_steps(django_capture_on_commit_callbacks)
    assert run.steps.get().status == "completed"
    assert ContactEvent.objects.filter(type="conversation.closed").exists()


def test_closing_a_closed_conversation_is_a_409(owner_client, conversation):
    Conversation.objects.filter(pk=conversation.pk).update(status="closed")
    response = owner_client.post(f"/v1/conversations/{conversation.public_id}/close")
    assert response.status_code == 409
    assert not HookRun.objects.exists()


def test_an_unknown_conversation_is_a_404(owner_client):
    assert owner_client.post("/v1/conversations/th_nope/close").status_code == 404


def test_the_close_action_type_runs_on_close_once(
    workspace, conversation, django_capture_on_commit_callbacks
):
    close = make_definition(workspace, "Close it", action_type="Close")
    make_hook_action(workspace, hook_name="PostSpam", action=close)
    make_hook_action(
        workspace,
        hook_name="PostSpam",
        action=make_definition(workspace, "Close again", action_type="Close"),
        priority=2,
    )
    hook_fire(workspace=workspace, hook_name="PostSpam", context={}, conversation=conversation)
    drain_steps(django_capture_on_commit_callbacks)
    conversation.refresh_from_db()
    assert conversation.status == "closed"
    assert HookRun.objects.filter(hook_name="OnClose").count() == 1
    second = HookRun.objects.get(hook_name="PostSpam").steps.get(position=1)
    assert (second.status, second.result["unchanged"]) == ("completed", True)
