"""/api/TopicActions: links from topics (and channels) to actions, with priority."""

from __future__ import annotations

import pytest

from accounts.models import Scope
from automations.models import TopicAction
from tests.automations import problem
from tests.factories import make_channel, make_definition, make_topic, make_topic_action

pytestmark = pytest.mark.django_db

URL = "/api/TopicActions"
READ_KEYS = {
    "topicActionID",
    "customerID",
    "topicID",
    "topicName",
    "specialTopic",
    "documentID",
    "channelID",
    "channelName",
    "specialChannel",
    "actionID",
    "actionName",
    "actionType",
    "isActive",
    "priority",
    "createdAt",
}


@pytest.fixture
def topic(workspace):
    return make_topic(workspace, name="Billing")


@pytest.fixture
def channel(workspace):
    return make_channel(workspace, name="Support mail")


@pytest.fixture
def definition(workspace):
    return make_definition(workspace, name="Send reply")


@pytest.fixture
def foreign(other_workspace):
    """A topic, channel and action of another workspace."""
    return {
        "topicID": make_topic(other_workspace, name="Theirs").pk,
        "channelID": make_channel(other_workspace, name="Theirs").pk,
        "actionID": make_definition(other_workspace, name="Theirs").pk,
    }


def seed_body(topic, channel, definition, **changes) -> dict:
    return {
        "topicID": topic.pk,
        "specialTopic": None,
        "documentID": 0,
        "channelID": channel.pk,
        "specialChannel": None,
        "actionID": definition.pk,
        "priority": 100,
        **changes,
    }


# --- auth
def test_it_answers_401_without_a_key(client):
    problem(client.get(URL), 401)
    problem(client.post(URL, {}, format="json"), 401)


def test_writing_needs_settings_manage(client_for, owner, workspace, topic, channel, definition):
    client = client_for(owner, workspace, [Scope.TICKETS_READ])
    body = problem(client.post(URL, seed_body(topic, channel, definition), format="json"), 403)
    assert "settings:manage" in body["title"]
    link = make_topic_action(workspace, action=definition, topic=topic)
    problem(client.put(f"{URL}/{link.pk}", {"priority": 1}, format="json"), 403)
    problem(client.delete(f"{URL}/{link.pk}"), 403)
    problem(client.post(f"{URL}/bulk", [], format="json"), 403)


def test_reading_takes_tickets_read_or_settings_manage(client_for, owner, workspace):
    for scopes in ([Scope.TICKETS_READ], [Scope.SETTINGS_MANAGE]):
        assert client_for(owner, workspace, scopes).get(URL).status_code == 200
    problem(client_for(owner, workspace, [Scope.ACTIONS_READ]).get(URL), 403)


# --- create
def test_it_creates_the_seeds_example(owner_client, workspace, topic, channel, definition):
    response = owner_client.post(URL, seed_body(topic, channel, definition), format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert set(body) == READ_KEYS
    link = TopicAction.objects.get()
    assert body["topicActionID"] == link.pk
    assert response["Location"] == f"/api/TopicActions/{link.pk}"
    assert (body["topicID"], body["channelID"], body["actionID"]) == (
        topic.pk,
        channel.pk,
        definition.pk,
    )
    assert (body["topicName"], body["channelName"], body["actionName"]) == (
        "Billing",
        "Support mail",
        "Send reply",
    )
    assert body["priority"] == 100
    assert body["customerID"] == workspace.pk
    assert link.workspace == workspace


def test_a_special_topic_replaces_the_topic(owner_client, definition):
    response = owner_client.post(
        URL, {"specialTopic": "NoTopic", "actionID": definition.pk}, format="json"
    )
    assert response.status_code == 201
    body = response.json()
    assert (body["topicID"], body["specialTopic"], body["channelID"], body["priority"]) == (
        None,
        "NoTopic",
        None,
        0,
    )


def test_zero_ids_mean_none(owner_client, definition):
    response = owner_client.post(
        URL,
        {"topicID": 0, "specialTopic": "Any", "channelID": 0, "actionID": definition.pk},
        format="json",
    )
    assert response.status_code == 201
    assert response.json()["channelID"] is None


@pytest.mark.parametrize(
    ("changes", "errors"),
    [
        ({"topicID": None}, {"topicID": ["Give topicID or specialTopic."]}),
        ({"specialTopic": "NoTopic"}, {"topicID": ["Give topicID or specialTopic, not both."]}),
        (
            {"specialChannel": "Web"},
            {"channelID": ["Give channelID or specialChannel, not both."]},
        ),
        ({"actionID": None}, {"actionID": ["This field may not be null."]}),
        ({"priority": "high"}, {"priority": ["A valid integer is required."]}),
        ({"documentID": -1}, {"documentID": ["Ensure this value is greater than or equal to 0."]}),
    ],
)
def test_bad_links_are_400s(owner_client, topic, channel, definition, changes, errors):
    body = problem(
        owner_client.post(URL, seed_body(topic, channel, definition, **changes), format="json"),
        400,
    )
    assert body["errors"] == errors
    assert not TopicAction.objects.exists()


@pytest.mark.parametrize("field", ["topicID", "channelID", "actionID"])
def test_unknown_targets_are_400s_naming_the_field(owner_client, topic, channel, definition, field):
    body = problem(
        owner_client.post(
            URL, seed_body(topic, channel, definition, **{field: 987654}), format="json"
        ),
        400,
    )
    assert list(body["errors"]) == [field]
    assert "in your workspace" in body["errors"][field][0]


def test_another_workspaces_targets_are_400s(owner_client, topic, channel, definition, foreign):
    body = problem(owner_client.post(URL, {**foreign, "priority": 1}, format="json"), 400)
    assert set(body["errors"]) == {"topicID", "channelID", "actionID"}
    for field, pk in foreign.items():
        assert body["errors"][field] == [f"No {field[:-2].lower()} with id {pk} in your workspace."]
    assert not TopicAction.objects.exists()


def test_a_duplicate_link_is_a_409(owner_client, topic, channel, definition):
    body = seed_body(topic, channel, definition)
    assert owner_client.post(URL, body, format="json").status_code == 201
    again = problem(owner_client.post(URL, {**body, "priority": 5}, format="json"), 409)
    assert again["code"] == "duplicate_link"
    assert TopicAction.objects.count() == 1


def test_a_duplicate_special_link_is_a_409(owner_client, definition):
    body = {"specialTopic": "NoTopic", "actionID": definition.pk}
    assert owner_client.post(URL, body, format="json").status_code == 201
    problem(owner_client.post(URL, body, format="json"), 409)


# --- bulk
def test_bulk_creates_every_link(owner_client, workspace, topic, channel, definition):
    other = make_definition(workspace, name="Close", action_type="Close")
    response = owner_client.post(
        f"{URL}/bulk",
        [
            seed_body(topic, channel, definition, priority=10),
            seed_body(topic, channel, other, priority=20),
            {"specialTopic": "NoTopic", "actionID": other.pk},
        ],
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert [item["priority"] for item in body] == [10, 20, 0]
    assert all(set(item) == READ_KEYS for item in body)
    assert TopicAction.objects.count() == 3


def test_bulk_accepts_an_items_envelope(owner_client, topic, channel, definition):
    response = owner_client.post(
        f"{URL}/bulk", {"items": [seed_body(topic, channel, definition)]}, format="json"
    )
    assert response.status_code == 201
    assert len(response.json()) == 1


def test_bulk_is_all_or_nothing_and_names_each_bad_item(
    owner_client, topic, channel, definition, foreign
):
    body = problem(
        owner_client.post(
            f"{URL}/bulk",
            [
                seed_body(topic, channel, definition),
                seed_body(topic, channel, definition, actionID=foreign["actionID"]),
                {"actionID": definition.pk},
                "not an object",
            ],
            format="json",
        ),
        400,
    )
    assert set(body["errors"]) == {
        "items[1].actionID",
        "items[2].topicID",
        "items[3].non_field_errors",
    }
    assert not TopicAction.objects.exists()


def test_bulk_duplicates_are_a_409_naming_the_index(owner_client, workspace, topic, channel):
    first = make_definition(workspace, name="First")
    second = make_definition(workspace, name="Second")
    make_topic_action(workspace, action=first, topic=topic, channel=channel)
    body = problem(
        owner_client.post(
            f"{URL}/bulk",
            [
                seed_body(topic, channel, second),
                seed_body(topic, channel, first),
                seed_body(topic, channel, second, priority=7),
            ],
            format="json",
        ),
        409,
    )
    assert body["errors"] == {
        "items[1]": ["This link already exists."],
        "items[2]": ["Duplicates items[0]."],
    }
    assert TopicAction.objects.count() == 1  # the existing one only: nothing was created


@pytest.mark.parametrize("payload", [[], {"items": []}, {"topicID": 1}, "text"])
def test_bulk_needs_a_non_empty_list(owner_client, payload):
    body = problem(owner_client.post(f"{URL}/bulk", payload, format="json"), 400)
    assert list(body["errors"]) == ["items"]


def test_bulk_looks_targets_up_in_a_constant_number_of_queries(
    owner_client, workspace, channel, django_assert_max_num_queries
):
    topics = [make_topic(workspace, name=f"T{n}") for n in range(20)]
    definition = make_definition(workspace)
    items = [{"topicID": t.pk, "channelID": channel.pk, "actionID": definition.pk} for t in topics]
    # key, touch, 3 target lookups, then per item a savepoint, an insert and a release
    with django_assert_max_num_queries(5 + 3 * len(items) + 2):
        assert owner_client.post(f"{URL}/bulk", items, format="json").status_code == 201


# --- read and list
def test_it_reads_one(owner_client, workspace, topic, definition):
    link = make_topic_action(workspace, action=definition, topic=topic, priority=3)
    response = owner_client.get(f"{URL}/{link.pk}")
    assert response.status_code == 200
    assert response.json()["topicActionID"] == link.pk
    assert response.json()["priority"] == 3


def test_it_answers_404_for_another_workspaces_record(outsider_client, workspace, definition):
    link = make_topic_action(workspace, action=definition)
    problem(outsider_client.get(f"{URL}/{link.pk}"), 404)
    problem(outsider_client.put(f"{URL}/{link.pk}", {"priority": 1}, format="json"), 404)
    problem(outsider_client.delete(f"{URL}/{link.pk}"), 404)
    assert TopicAction.objects.filter(pk=link.pk, priority=0).exists()


def test_an_unknown_id_is_a_404(owner_client):
    problem(owner_client.get(f"{URL}/123456"), 404)


def test_the_list_runs_in_priority_order(owner_client, workspace, topic, definition):
    second = make_definition(workspace, name="B")
    third = make_definition(workspace, name="C")
    make_topic_action(workspace, action=definition, topic=topic, priority=50)
    make_topic_action(workspace, action=second, topic=topic, priority=-5)
    make_topic_action(workspace, action=third, topic=topic, priority=50)
    body = owner_client.get(URL).json()
    assert set(body) == {"items", "pageNumber", "pageSize", "totalCount", "totalPages"}
    assert [item["actionID"] for item in body["items"]] == [second.pk, definition.pk, third.pk]
    desc = owner_client.get(URL, {"sortBy": "priority", "sortOrder": "desc"}).json()
    assert [item["actionID"] for item in desc["items"]] == [third.pk, definition.pk, second.pk]


def test_the_list_filters(owner_client, workspace, topic, channel, definition):
    other_topic = make_topic(workspace, name="Shipping")
    inactive = make_definition(workspace, name="Off", is_active=False)
    a = make_topic_action(workspace, action=definition, topic=topic, channel=channel)
    b = make_topic_action(workspace, action=inactive, topic=topic)
    c = make_topic_action(workspace, action=definition, topic=other_topic)

    def ids(**params) -> list[int]:
        response = owner_client.get(URL, params)
        assert response.status_code == 200, response.json()
        return [item["topicActionID"] for item in response.json()["items"]]

    assert ids(topicId=topic.pk) == [a.pk, b.pk]
    assert ids(actionId=definition.pk) == [a.pk, c.pk]
    assert ids(channelId=channel.pk) == [a.pk]
    assert ids(isActive="false") == [b.pk]
    assert ids(isActive="true", topicID=topic.pk) == [a.pk]
    assert ids(hookName="PreSpam") == [a.pk, b.pk, c.pk]  # accepted, ignored


def test_bad_list_parameters_are_named(owner_client):
    body = problem(
        owner_client.get(
            URL, {"topicId": "x", "isActive": "perhaps", "pageSize": 0, "sortBy": "Name"}
        ),
        400,
    )
    assert set(body["errors"]) == {"topicId", "isActive", "pageSize", "sortBy"}


def test_the_list_runs_a_constant_number_of_queries(
    owner_client, workspace, channel, definition, django_assert_num_queries
):
    for n in range(25):
        make_topic_action(
            workspace, action=definition, topic=make_topic(workspace, name=f"T{n}"), channel=channel
        )
    # key, touch, count, page (topic, channel and action joined)
    with django_assert_num_queries(4):
        assert len(owner_client.get(URL, {"pageSize": 1}).json()["items"]) == 1
    with django_assert_num_queries(4):
        assert len(owner_client.get(URL, {"pageSize": 100}).json()["items"]) == 25


# --- update and delete
def test_put_updates_the_priority_only(owner_client, workspace, topic, definition):
    link = make_topic_action(workspace, action=definition, topic=topic, priority=1)
    response = owner_client.put(f"{URL}/{link.pk}", {"priority": 42}, format="json")
    assert response.status_code == 204
    link.refresh_from_db()
    assert link.priority == 42


def test_put_accepts_the_read_dto_sent_back(owner_client, workspace, topic, definition):
    link = make_topic_action(workspace, action=definition, topic=topic, priority=1)
    dto = owner_client.get(f"{URL}/{link.pk}").json()
    response = owner_client.put(f"{URL}/{link.pk}", {**dto, "priority": 2}, format="json")
    assert response.status_code == 204
    link.refresh_from_db()
    assert link.priority == 2


def test_put_refuses_to_change_anything_but_priority(owner_client, workspace, topic, definition):
    link = make_topic_action(workspace, action=definition, topic=topic, priority=1)
    other = make_definition(workspace, name="Other")
    body = problem(
        owner_client.put(
            f"{URL}/{link.pk}",
            {"priority": 2, "actionID": other.pk, "topicActionID": link.pk + 1},
            format="json",
        ),
        400,
    )
    assert set(body["errors"]) == {"actionID", "topicActionID"}
    assert body["errors"]["topicActionID"] == ["Does not match the id in the URL."]
    link.refresh_from_db()
    assert (link.priority, link.action_id) == (1, definition.pk)


def test_put_needs_a_priority(owner_client, workspace, definition):
    link = make_topic_action(workspace, action=definition)
    body = problem(owner_client.put(f"{URL}/{link.pk}", {}, format="json"), 400)
    assert body["errors"] == {"priority": ["This field is required."]}
    body = problem(owner_client.put(f"{URL}/{link.pk}", {"priority": 2**31}, format="json"), 400)
    assert list(body["errors"]) == ["priority"]


def test_delete_answers_204_then_404(owner_client, workspace, definition):
    link = make_topic_action(workspace, action=definition)
    assert owner_client.delete(f"{URL}/{link.pk}").status_code == 204
    assert not TopicAction.objects.exists()
    problem(owner_client.delete(f"{URL}/{link.pk}"), 404)
