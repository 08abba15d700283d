"""/api/HookActions: links from workflow hooks to actions, and wait-seconds."""

from __future__ import annotations

import pytest

from accounts.models import Scope
from automations.models import HookAction, HookName
from tests.automations import problem
from tests.factories import make_channel, make_definition, make_hook_action

pytestmark = pytest.mark.django_db

URL = "/api/HookActions"
READ_KEYS = {
    "hookActionID",
    "customerID",
    "hookName",
    "channelID",
    "channelName",
    "actionID",
    "actionName",
    "actionType",
    "isActive",
    "priority",
    "createdAt",
}


@pytest.fixture
def channel(workspace):
    return make_channel(workspace, name="Phone line", kind="phone")


@pytest.fixture
def definition(workspace):
    return make_definition(workspace, name="Mark spam", action_type="Spam")


def body_for(definition, channel=None, **changes) -> dict:
    return {
        "hookName": "PreSpam",
        "channelID": channel.pk if channel else None,
        "actionID": definition.pk,
        "priority": 10,
        **changes,
    }


# --- auth
def test_it_answers_401_without_a_key(client):
    problem(client.get(URL, {"hookName": "PreSpam"}), 401)
    problem(client.get(f"{URL}/wait-seconds", {"hookName": "PreSpam"}), 401)


def test_writing_needs_settings_manage(client_for, owner, workspace, definition):
    client = client_for(owner, workspace, [Scope.TICKETS_READ])
    problem(client.post(URL, body_for(definition), format="json"), 403)
    problem(client.post(f"{URL}/bulk", [body_for(definition)], format="json"), 403)
    link = make_hook_action(workspace, action=definition)
    problem(client.put(f"{URL}/{link.pk}", {"priority": 1}, format="json"), 403)
    problem(client.delete(f"{URL}/{link.pk}"), 403)
    assert client.get(f"{URL}/{link.pk}").status_code == 200


def test_reading_needs_tickets_read_or_settings_manage(client_for, owner, workspace):
    client = client_for(owner, workspace, [Scope.ACTIONS_READ, Scope.CONTACTS_READ])
    problem(client.get(URL, {"hookName": "PreSpam"}), 403)
    problem(client.get(f"{URL}/wait-seconds", {"hookName": "PreSpam"}), 403)


# --- create
def test_it_creates_a_link(owner_client, workspace, channel, definition):
    response = owner_client.post(URL, body_for(definition, channel), format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert set(body) == READ_KEYS
    link = HookAction.objects.get()
    assert response["Location"] == f"/api/HookActions/{link.pk}"
    assert body == {
        "hookActionID": link.pk,
        "customerID": workspace.pk,
        "hookName": "PreSpam",
        "channelID": channel.pk,
        "channelName": "Phone line",
        "actionID": definition.pk,
        "actionName": "Mark spam",
        "actionType": "Spam",
        "isActive": True,
        "priority": 10,
        "createdAt": body["createdAt"],
    }


def test_hook_names_bind_case_insensitively(owner_client, definition):
    response = owner_client.post(
        URL, body_for(definition, hookName="postTopicDetection"), format="json"
    )
    assert response.json()["hookName"] == "PostTopicDetection"


def test_every_hook_of_the_seed_is_accepted(owner_client, definition):
    for name in HookName.values:
        response = owner_client.post(URL, body_for(definition, hookName=name), format="json")
        assert response.status_code == 201, (name, response.json())
    assert HookAction.objects.count() == 13


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"hookName": "OnBirthday"}, "hookName"),
        ({"hookName": None}, "hookName"),
        ({"actionID": 0}, "actionID"),
        ({"actionID": 123456}, "actionID"),
        ({"channelID": 123456}, "channelID"),
        ({"priority": 1.5}, "priority"),
    ],
)
def test_bad_links_are_400s(owner_client, definition, changes, field):
    body = problem(owner_client.post(URL, body_for(definition, **changes), format="json"), 400)
    assert list(body["errors"]) == [field]
    assert not HookAction.objects.exists()


def test_another_workspaces_targets_are_400s(owner_client, other_workspace):
    theirs = make_definition(other_workspace, name="Theirs")
    their_channel = make_channel(other_workspace, name="Theirs")
    body = problem(
        owner_client.post(URL, body_for(theirs, their_channel), format="json"),
        400,
    )
    assert body["errors"] == {
        "channelID": [f"No channel with id {their_channel.pk} in your workspace."],
        "actionID": [f"No action with id {theirs.pk} in your workspace."],
    }


def test_a_duplicate_link_is_a_409(owner_client, channel, definition):
    assert owner_client.post(URL, body_for(definition, channel), format="json").status_code == 201
    body = problem(
        owner_client.post(URL, body_for(definition, channel, priority=99), format="json"), 409
    )
    assert body["code"] == "duplicate_link"


def test_a_channel_less_duplicate_is_a_409_too(owner_client, definition):
    assert owner_client.post(URL, body_for(definition), format="json").status_code == 201
    problem(owner_client.post(URL, body_for(definition), format="json"), 409)


def test_the_same_action_on_another_channel_or_hook_is_fine(owner_client, channel, definition):
    for body in (
        body_for(definition),
        body_for(definition, channel),
        body_for(definition, hookName="PostSpam"),
    ):
        assert owner_client.post(URL, body, format="json").status_code == 201


# --- bulk
def test_bulk_creates_every_link(owner_client, workspace, channel, definition):
    wait = make_definition(workspace, name="Wait", action_type="Wait", wait_seconds=5)
    response = owner_client.post(
        f"{URL}/bulk",
        [body_for(definition, channel), body_for(wait, channel, priority=20)],
        format="json",
    )
    assert response.status_code == 201
    assert [item["actionName"] for item in response.json()] == ["Mark spam", "Wait"]
    assert HookAction.objects.count() == 2


def test_bulk_is_all_or_nothing_and_names_each_bad_item(owner_client, definition):
    body = problem(
        owner_client.post(
            f"{URL}/bulk",
            {
                "items": [
                    body_for(definition),
                    body_for(definition, hookName="Nope"),
                    body_for(definition, actionID="x", priority="y"),
                ]
            },
            format="json",
        ),
        400,
    )
    assert set(body["errors"]) == {"items[1].hookName", "items[2].actionID", "items[2].priority"}
    assert not HookAction.objects.exists()


def test_bulk_duplicates_are_a_409(owner_client, workspace, definition):
    make_hook_action(workspace, action=definition, hook_name="OnClose")
    body = problem(
        owner_client.post(
            f"{URL}/bulk",
            [
                body_for(definition, hookName="PostSpam"),
                body_for(definition, hookName="OnClose"),
                body_for(definition, hookName="postspam"),
            ],
            format="json",
        ),
        409,
    )
    assert body["errors"] == {
        "items[1]": ["This link already exists."],
        "items[2]": ["Duplicates items[0]."],
    }
    assert HookAction.objects.count() == 1


def test_bulk_refuses_too_many_items(owner_client, definition):
    body = problem(
        owner_client.post(f"{URL}/bulk", [body_for(definition)] * 501, format="json"), 400
    )
    assert list(body["errors"]) == ["items"]


# --- list
def test_listing_needs_hook_name_or_action_id(owner_client):
    body = problem(owner_client.get(URL), 400)
    assert set(body["errors"]) == {"hookName", "actionId"}
    problem(owner_client.get(URL, {"channelId": 1}), 400)


def test_the_list_filters_by_hook_action_and_channel(owner_client, workspace, channel, definition):
    other = make_definition(workspace, name="Other", is_active=False)
    a = make_hook_action(workspace, action=definition, hook_name="PreSpam", priority=5)
    b = make_hook_action(workspace, action=other, hook_name="PreSpam", channel=channel, priority=1)
    c = make_hook_action(workspace, action=definition, hook_name="OnClose", channel=channel)

    def ids(**params) -> list[int]:
        response = owner_client.get(URL, params)
        assert response.status_code == 200, response.json()
        return [item["hookActionID"] for item in response.json()["items"]]

    assert ids(hookName="PreSpam") == [b.pk, a.pk]  # priority ascending
    assert ids(hookName="prespam", sortOrder="desc") == [a.pk, b.pk]
    assert ids(actionId=definition.pk) == [c.pk, a.pk]
    assert ids(hookName="PreSpam", channelId=channel.pk) == [b.pk]
    assert ids(actionID=definition.pk, hookName="OnClose") == [c.pk]
    assert ids(hookName="PreSpam", isActive="true") == [a.pk]
    assert ids(hookName="PostSpam") == []


def test_a_bad_hook_name_filter_is_a_400(owner_client):
    body = problem(owner_client.get(URL, {"hookName": "Sometimes"}), 400)
    assert list(body["errors"]) == ["hookName"]


def test_the_list_runs_a_constant_number_of_queries(
    owner_client, workspace, channel, django_assert_num_queries
):
    for n in range(30):
        action = make_definition(workspace, name=f"A{n}")
        make_hook_action(workspace, action=action, channel=channel if n % 2 else None)
    # key, touch, count, page (channel and action joined)
    with django_assert_num_queries(4):
        assert (
            len(owner_client.get(URL, {"hookName": "PreSpam", "pageSize": 1}).json()["items"]) == 1
        )
    with django_assert_num_queries(4):
        body = owner_client.get(URL, {"hookName": "PreSpam", "pageSize": 100}).json()
    assert len(body["items"]) == 30


def test_another_workspaces_links_are_not_listed(outsider_client, workspace, definition):
    make_hook_action(workspace, action=definition)
    assert outsider_client.get(URL, {"hookName": "PreSpam"}).json()["totalCount"] == 0


# --- wait-seconds
def test_wait_seconds_sums_the_active_wait_actions(owner_client, workspace, channel):
    other_channel = make_channel(workspace, name="Chat", kind="chat")
    hook = "PostTopicDetection"

    def wait(name, seconds, active=True, link_channel=None, hook_name=hook):
        action = make_definition(
            workspace, name=name, action_type="Wait", wait_seconds=seconds, is_active=active
        )
        make_hook_action(workspace, action=action, hook_name=hook_name, channel=link_channel)

    wait("everywhere", 30)
    wait("this channel", 15, link_channel=channel)
    wait("inactive", 1000, active=False, link_channel=channel)
    wait("other channel", 200, link_channel=other_channel)
    wait("other hook", 400, hook_name="PreSpam", link_channel=channel)
    not_a_wait = make_definition(workspace, name="Reply", wait_seconds=700)
    make_hook_action(workspace, action=not_a_wait, hook_name=hook, channel=channel)

    def total(**params) -> int:
        response = owner_client.get(f"{URL}/wait-seconds", params)
        assert response.status_code == 200, response.json()
        assert set(response.json()) == {"totalWaitSeconds"}
        return response.json()["totalWaitSeconds"]

    assert total(channelId=channel.pk, hookName=hook) == 45
    assert total(channelId=other_channel.pk, hookName=hook) == 230
    assert total(hookName=hook) == 30
    assert total(hookName="OnClose") == 0


def test_wait_seconds_needs_a_hook_name(owner_client):
    body = problem(owner_client.get(f"{URL}/wait-seconds", {"channelId": 3}), 400)
    assert list(body["errors"]) == ["hookName"]
    problem(owner_client.get(f"{URL}/wait-seconds", {"hookName": "Later"}), 400)


def test_wait_seconds_takes_a_tickets_read_key(client_for, owner, workspace):
    client = client_for(owner, workspace, [Scope.TICKETS_READ])
    response = client.get(f"{URL}/wait-seconds", {"hookName": "PreSpam"})
    assert response.json() == {"totalWaitSeconds": 0}


def test_wait_seconds_counts_only_the_callers_workspace(outsider_client, workspace, channel):
    action = make_definition(workspace, name="Wait", action_type="Wait", wait_seconds=9)
    make_hook_action(workspace, action=action, hook_name="PreSpam")
    response = outsider_client.get(f"{URL}/wait-seconds", {"hookName": "PreSpam"})
    assert response.json() == {"totalWaitSeconds": 0}


# --- read, update and delete
def test_it_reads_one(owner_client, workspace, definition):
    link = make_hook_action(workspace, action=definition, hook_name="OnClose", priority=7)
    body = owner_client.get(f"{URL}/{link.pk}").json()
    assert (body["hookActionID"], body["hookName"], body["priority"]) == (link.pk, "OnClose", 7)


def test_it_answers_404_for_another_workspaces_record(outsider_client, workspace, definition):
    link = make_hook_action(workspace, action=definition)
    problem(outsider_client.get(f"{URL}/{link.pk}"), 404)
    problem(outsider_client.put(f"{URL}/{link.pk}", {"priority": 1}, format="json"), 404)
    problem(outsider_client.delete(f"{URL}/{link.pk}"), 404)
    assert HookAction.objects.filter(pk=link.pk).exists()


def test_put_updates_the_priority_only(owner_client, workspace, definition):
    link = make_hook_action(workspace, action=definition, priority=1)
    assert owner_client.put(f"{URL}/{link.pk}", {"priority": -3}, format="json").status_code == 204
    link.refresh_from_db()
    assert link.priority == -3
    body = problem(
        owner_client.put(f"{URL}/{link.pk}", {"priority": 5, "hookName": "OnClose"}, format="json"),
        400,
    )
    assert list(body["errors"]) == ["hookName"]
    link.refresh_from_db()
    assert (link.priority, link.hook_name) == (-3, "PreSpam")


def test_put_on_an_unknown_id_is_a_404(owner_client):
    problem(owner_client.put(f"{URL}/777777", {"priority": 1}, format="json"), 404)


def test_delete_answers_204_then_404(owner_client, workspace, definition):
    link = make_hook_action(workspace, action=definition)
    assert owner_client.delete(f"{URL}/{link.pk}").status_code == 204
    problem(owner_client.delete(f"{URL}/{link.pk}"), 404)
    problem(owner_client.get(f"{URL}/{link.pk}"), 404)
