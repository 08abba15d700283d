"""/api/Channels: the channels messages arrive on."""

from __future__ import annotations

import pytest

from accounts.models import Scope
from automations.models import Channel, HookAction, TopicAction
from tests.automations import problem
from tests.factories import make_channel, make_definition, make_hook_action, make_topic_action

pytestmark = pytest.mark.django_db

URL = "/api/Channels"


def test_it_answers_401_without_a_key(client):
    problem(client.get(URL), 401)


def test_writing_needs_settings_manage(client_for, owner, workspace):
    client = client_for(owner, workspace, [Scope.TICKETS_READ])
    problem(client.post(URL, {"name": "Mail", "kind": "email"}, format="json"), 403)
    channel = make_channel(workspace)
    problem(client.delete(f"{URL}/{channel.pk}"), 403)
    assert client.get(f"{URL}/{channel.pk}").status_code == 200


def test_it_creates_a_channel(owner_client, workspace):
    response = owner_client.post(URL, {"name": "Support mail", "kind": "Email"}, format="json")
    assert response.status_code == 201, response.json()
    channel = Channel.objects.get()
    assert response["Location"] == f"/api/Channels/{channel.pk}"
    assert response.json() == {
        "channelID": channel.pk,
        "customerID": workspace.pk,
        "name": "Support mail",
        "kind": "email",
        "isActive": True,
        "createdAt": response.json()["createdAt"],
        "updatedAt": response.json()["updatedAt"],
    }


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({}, {"name", "kind"}),
        ({"name": "x" * 101, "kind": "sms"}, {"name"}),
        ({"name": "Fax", "kind": "fax"}, {"kind"}),
    ],
)
def test_bad_channels_are_400s(owner_client, body, fields):
    assert set(problem(owner_client.post(URL, body, format="json"), 400)["errors"]) == fields


def test_a_duplicate_name_is_a_409(owner_client, workspace):
    make_channel(workspace, name="Mail")
    body = problem(owner_client.post(URL, {"name": "Mail", "kind": "chat"}, format="json"), 409)
    assert body["code"] == "duplicate_channel"


def test_the_list_pages_and_sorts(owner_client, workspace, outsider_client):
    make_channel(workspace, name="Phone", kind="phone")
    make_channel(workspace, name="Chat", kind="chat")
    body = owner_client.get(URL).json()
    assert [item["name"] for item in body["items"]] == ["Chat", "Phone"]
    by_kind = owner_client.get(URL, {"sortBy": "kind", "sortOrder": "desc"}).json()
    assert [item["kind"] for item in by_kind["items"]] == ["phone", "chat"]
    assert outsider_client.get(URL).json()["totalCount"] == 0


def test_put_updates_and_answers_204(owner_client, workspace):
    channel = make_channel(workspace, name="Mail")
    response = owner_client.put(
        f"{URL}/{channel.pk}",
        {"channelID": channel.pk, "name": "Support mail", "kind": "email", "isActive": False},
        format="json",
    )
    assert response.status_code == 204
    channel.refresh_from_db()
    assert (channel.name, channel.is_active) == ("Support mail", False)


def test_put_with_another_channel_id_is_a_400(owner_client, workspace):
    channel = make_channel(workspace)
    body = problem(
        owner_client.put(
            f"{URL}/{channel.pk}",
            {"channelID": channel.pk + 1, "name": "x", "kind": "sms"},
            format="json",
        ),
        400,
    )
    assert body["errors"] == {"channelID": ["Does not match the id in the URL."]}


def test_another_workspaces_channel_is_a_404(outsider_client, workspace):
    channel = make_channel(workspace)
    problem(outsider_client.get(f"{URL}/{channel.pk}"), 404)
    problem(outsider_client.delete(f"{URL}/{channel.pk}"), 404)
    assert Channel.objects.filter(pk=channel.pk).exists()


def test_delete_removes_the_channel_and_its_links(owner_client, workspace):
    channel = make_channel(workspace)
    definition = make_definition(workspace)
    make_topic_action(workspace, action=definition, channel=channel)
    make_hook_action(workspace, action=definition, channel=channel)
    kept = make_hook_action(workspace, action=definition, hook_name="OnClose")
    assert owner_client.delete(f"{URL}/{channel.pk}").status_code == 204
    assert not TopicAction.objects.exists()
    assert list(HookAction.objects.all()) == [kept]
    problem(owner_client.delete(f"{URL}/{channel.pk}"), 404)
