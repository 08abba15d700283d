"""/api/Topics: the topics that inbound messages are detected as."""

from __future__ import annotations

import pytest

from accounts.models import Scope
from automations.models import HookRun, Topic, TopicAction
from tests.automations import drain_steps, problem
from tests.factories import make_definition, make_topic, make_topic_action

pytestmark = pytest.mark.django_db

URL = "/api/Topics"
READ_KEYS = {
    "topicID",
    "customerID",
    "name",
    "description",
    "keywords",
    "patterns",
    "isActive",
    "createdAt",
    "updatedAt",
}


def test_it_answers_401_without_a_key(client):
    problem(client.get(URL), 401)


def test_writing_needs_settings_manage(client_for, owner, workspace):
    client = client_for(owner, workspace, [Scope.TICKETS_READ])
    problem(client.post(URL, {"name": "Billing"}, format="json"), 403)
    topic = make_topic(workspace)
    problem(client.put(f"{URL}/{topic.pk}", {"topicID": topic.pk, "name": "x"}, format="json"), 403)
    problem(client.delete(f"{URL}/{topic.pk}"), 403)
    assert client.get(URL).status_code == 200
    assert client.get(f"{URL}/{topic.pk}").status_code == 200
    problem(client_for(owner, workspace, [Scope.ACTIONS_READ]).get(URL), 403)


def test_it_creates_a_topic(owner_client, workspace):
    response = owner_client.post(
        URL,
        {
            "name": "Billing",
            "description": "Invoices and refunds",
            "keywords": [" invoice ", "refund"],
            "patterns": [r"\binv-\d{6}\b"],
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert set(body) == READ_KEYS
    topic = Topic.objects.get()
    assert response["Location"] == f"/api/Topics/{topic.pk}"
    assert body["topicID"] == topic.pk
    assert body["customerID"] == workspace.pk
    assert body["keywords"] == ["invoice", "refund"]
    assert body["patterns"] == [r"\binv-\d{6}\b"]
    assert body["isActive"] is True


def test_only_the_name_is_needed(owner_client):
    response = owner_client.post(URL, {"name": "Other"}, format="json")
    assert response.status_code == 201
    body = response.json()
    assert (body["description"], body["keywords"], body["patterns"]) == (None, [], [])


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"name": "T", "description": "x" * 256}, "description"),
        ({"name": "T", "keywords": "invoice"}, "keywords"),
        ({"name": "T", "keywords": ["ok", ""]}, "keywords[1]"),
        ({"name": "T", "patterns": ["fine", "(unclosed"]}, "patterns[1]"),
        ({"name": "T", "patterns": ["[z-a]"]}, "patterns[0]"),
        ({"name": "T", "isActive": "sometimes"}, "isActive"),
    ],
)
def test_bad_topics_are_400s(owner_client, body, field):
    response = problem(owner_client.post(URL, body, format="json"), 400)
    assert list(response["errors"]) == [field]
    assert not Topic.objects.exists()


def test_a_bad_pattern_is_named_with_its_reason(owner_client):
    body = problem(
        owner_client.post(URL, {"name": "T", "patterns": ["a", "b("]}, format="json"), 400
    )
    assert "Not a valid regular expression" in body["errors"]["patterns[1]"][0]


@pytest.mark.parametrize("pattern", [r"(a)\1", r"(?=invoice)", r"(?<!re)fund", r"(?P<x>a)(?P=x)"])
def test_a_pattern_re2_cannot_run_is_a_400_naming_it(owner_client, pattern):
    body = problem(
        owner_client.post(URL, {"name": "T", "patterns": ["ok", pattern]}, format="json"), 400
    )
    assert list(body["errors"]) == ["patterns[1]"]
    assert body["errors"]["patterns[1]"][0].startswith("Not a valid regular expression")
    assert not Topic.objects.exists()


def test_put_with_a_backreference_is_a_400_and_changes_nothing(owner_client, workspace):
    topic = make_topic(workspace, patterns=["^pay"])
    body = problem(
        owner_client.put(
            f"{URL}/{topic.pk}",
            {"topicID": topic.pk, "name": "Billing", "patterns": [r"(a)\1"]},
            format="json",
        ),
        400,
    )
    assert "RE2" in body["errors"]["patterns[0]"][0]
    topic.refresh_from_db()
    assert topic.patterns == ["^pay"]


def test_a_catastrophic_pattern_does_not_freeze_inbound_messages(
    owner_client, workspace, email_identity, django_capture_on_commit_callbacks
):
    # The reproduction: (a+)+$ backtracks exponentially on Python's re, so this
    # message hung every request. RE2 matches in linear time: the test simply finishes.
    response = owner_client.post(
        URL, {"name": "r", "patterns": ["(a+)+$"], "isActive": True}, format="json"
    )
    assert response.status_code == 201, response.json()
    make_topic(workspace, name="Billing", keywords=["invoice"])
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(
            "/v1/inbound/messages",
            {
                "from": "dana@example.com",
                "to": email_identity.address,
                "subject": "invoice",
                "body": "a" * 5000 + "!",
            },
            format="json",
        )
    assert response.status_code == 201, response.json()
    drain_steps(django_capture_on_commit_callbacks)
    detected = HookRun.objects.get(hook_name="PostTopicDetection")
    assert detected.context["topic"]["name"] == "Billing"


def test_a_duplicate_name_is_a_409(owner_client, workspace, other_workspace):
    make_topic(workspace, name="Billing")
    make_topic(other_workspace, name="Shipping")
    body = problem(owner_client.post(URL, {"name": "Billing"}, format="json"), 409)
    assert body["code"] == "duplicate_topic"
    assert owner_client.post(URL, {"name": "Shipping"}, format="json").status_code == 201


def test_the_list_pages_and_sorts(owner_client, workspace, django_assert_num_queries):
    for name in ("Charlie", "Alpha", "Bravo"):
        make_topic(workspace, name=name)
    body = owner_client.get(URL, {"pageSize": 2}).json()
    assert [item["name"] for item in body["items"]] == ["Alpha", "Bravo"]
    assert (body["totalCount"], body["totalPages"]) == (3, 2)
    desc = owner_client.get(URL, {"sortBy": "TopicID", "sortOrder": "desc"}).json()
    assert [item["name"] for item in desc["items"]] == ["Bravo", "Alpha", "Charlie"]
    problem(owner_client.get(URL, {"sortBy": "Priority"}), 400)
    with django_assert_num_queries(4):
        owner_client.get(URL, {"pageSize": 100})


def test_it_reads_one_and_404s_for_others(owner_client, outsider_client, workspace):
    topic = make_topic(workspace)
    assert owner_client.get(f"{URL}/{topic.pk}").json()["name"] == "Billing"
    problem(outsider_client.get(f"{URL}/{topic.pk}"), 404)
    problem(owner_client.get(f"{URL}/999999"), 404)


def test_put_updates_and_answers_204(owner_client, workspace):
    topic = make_topic(workspace, keywords=["invoice"], description="Money")
    response = owner_client.put(
        f"{URL}/{topic.pk}",
        {"topicID": topic.pk, "name": "Payments", "patterns": ["^pay"], "isActive": False},
        format="json",
    )
    assert response.status_code == 204
    topic.refresh_from_db()
    assert (topic.name, topic.patterns, topic.is_active) == ("Payments", ["^pay"], False)
    assert (topic.keywords, topic.description) == (["invoice"], "Money")  # left out: kept


def test_put_with_another_topic_id_is_a_400(owner_client, workspace):
    topic = make_topic(workspace)
    body = problem(
        owner_client.put(
            f"{URL}/{topic.pk}", {"topicID": topic.pk + 1, "name": "X"}, format="json"
        ),
        400,
    )
    assert body["errors"] == {"topicID": ["Does not match the id in the URL."]}


def test_put_to_a_taken_name_is_a_409(owner_client, workspace):
    make_topic(workspace, name="Billing")
    topic = make_topic(workspace, name="Shipping")
    problem(
        owner_client.put(
            f"{URL}/{topic.pk}", {"topicID": topic.pk, "name": "Billing"}, format="json"
        ),
        409,
    )


def test_put_on_another_workspaces_topic_is_a_404(outsider_client, workspace):
    topic = make_topic(workspace)
    problem(
        outsider_client.put(f"{URL}/{topic.pk}", {"topicID": topic.pk, "name": "X"}, format="json"),
        404,
    )


def test_delete_removes_the_topic_and_its_links(owner_client, workspace):
    topic = make_topic(workspace)
    make_topic_action(workspace, action=make_definition(workspace), topic=topic)
    assert owner_client.delete(f"{URL}/{topic.pk}").status_code == 204
    assert not Topic.objects.exists()
    assert not TopicAction.objects.exists()
    problem(owner_client.delete(f"{URL}/{topic.pk}"), 404)
