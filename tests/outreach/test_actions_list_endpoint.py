from __future__ import annotations

import pytest

from accounts.actors import Actor
from accounts.models import Scope
from outreach.services import action_cancel, identity_create

pytestmark = pytest.mark.django_db


def ids(response) -> list[str]:
    return [a["id"] for a in response.json()["actions"]]


def test_it_lists_with_the_seeds_envelope(owner_client, make_action):
    first, second = make_action(), make_action()
    response = owner_client.get("/v1/actions")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "success"
    assert ids(response) == [second.public_id, first.public_id]  # newest first
    assert body["pagination"] == {"total_items": 2, "limit": 20, "skip": 0}
    row = body["actions"][0]
    assert set(row) >= {
        "id",
        "type",
        "status",
        "params",
        "identity_id",
        "scheduled_time",
        "created_at",
        "updated_at",
        "executed_at",
        "retry_count",
        "error_message",
        "list_id",
        "item_id",
        "description",
        "require_approval",
        "direct",
    }


def test_it_filters_by_status_type_list_item_and_identity(owner_client, make_action, workspace):
    sms = identity_create(workspace=workspace, channel="sms", address="+14155550100")
    a = make_action(list_id="L1", item_id="I1")
    b = make_action(list_id="L2", require_approval=False)
    c = make_action(
        type="send_sms", identity=sms, params={"recipient_phone": "+14155551234", "message": "m"}
    )
    action_cancel(action=b, actor=Actor.system("test"))
    assert ids(owner_client.get("/v1/actions?status=cancelled")) == [b.public_id]
    assert ids(owner_client.get("/v1/actions?type=send_sms")) == [c.public_id]
    assert ids(owner_client.get("/v1/actions?list_id=L1")) == [a.public_id]
    assert ids(owner_client.get("/v1/actions?item_id=I1")) == [a.public_id]
    assert ids(owner_client.get(f"/v1/actions?identity_id={sms.public_id}")) == [c.public_id]
    assert ids(owner_client.get("/v1/actions?status=pending_approval&type=send_email")) == [
        a.public_id
    ]


def test_it_sorts_by_an_allowed_field(owner_client, make_action):
    late = make_action(scheduled_time=_at("2031-01-01T00:00:00Z"))
    early = make_action(scheduled_time=_at("2030-01-01T00:00:00Z"))
    asc = owner_client.get("/v1/actions?sort_by=scheduled_time&sort_dir=asc")
    assert ids(asc) == [early.public_id, late.public_id]
    desc = owner_client.get("/v1/actions?sort_by=scheduled_time&sort_dir=desc")
    assert ids(desc) == [late.public_id, early.public_id]


def _at(text: str):
    from django.utils.dateparse import parse_datetime

    return parse_datetime(text)


def test_it_pages_with_limit_and_skip(owner_client, make_action):
    made = [make_action() for _ in range(5)]
    response = owner_client.get("/v1/actions?limit=2&skip=2")
    assert ids(response) == [made[2].public_id, made[1].public_id]
    assert response.json()["pagination"] == {"total_items": 5, "limit": 2, "skip": 2}


def test_it_names_every_bad_parameter(owner_client):
    response = owner_client.get(
        "/v1/actions?status=sent&type=fax&sort_by=password&sort_dir=up&limit=500&skip=-3"
    )
    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {"status", "type", "sort_by", "sort_dir"}
    response = owner_client.get("/v1/actions?limit=500&skip=-3")
    assert set(response.json()["error"]["fields"]) == {"limit", "skip"}


def test_a_member_sees_only_its_own_actions(member_client, make_action, member):
    make_action()  # the owner's
    mine = make_action(user=member)
    assert ids(member_client.get("/v1/actions")) == [mine.public_id]


def test_another_workspace_sees_nothing(outsider_client, make_action):
    make_action()
    assert owner_ids_empty(outsider_client)


def owner_ids_empty(client) -> bool:
    return client.get("/v1/actions").json()["actions"] == []


def test_reading_needs_the_read_scope(client_for, owner, workspace):
    client = client_for(owner, workspace, [Scope.ACTIONS_WRITE])
    assert client.get("/v1/actions").status_code == 403


def test_the_list_runs_a_constant_number_of_queries(
    owner_client, make_action, django_assert_num_queries, workspace
):
    sms = identity_create(workspace=workspace, channel="sms", address="+14155550100")
    for n in range(60):
        if n % 2:
            make_action()
        else:
            make_action(
                type="send_sms",
                identity=sms,
                params={"recipient_phone": "+14155551234", "message": f"m{n}"},
            )
    # key lookup, last-used touch, count, page (with identity and owner joined)
    with django_assert_num_queries(4):
        assert len(owner_client.get("/v1/actions?limit=1").json()["actions"]) == 1
    with django_assert_num_queries(4):
        assert len(owner_client.get("/v1/actions?limit=100").json()["actions"]) == 60


@pytest.mark.parametrize("skip", ["100000000000000000000", "2147483648"])
def test_a_skip_past_the_cap_is_a_400_naming_skip(owner_client, skip):
    response = owner_client.get("/v1/actions", {"skip": skip})
    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["skip"]


def test_the_largest_skip_is_an_empty_page(owner_client, make_action):
    make_action()
    response = owner_client.get("/v1/actions", {"skip": 2**31 - 1})
    assert response.status_code == 200
    assert ids(response) == []
    assert response.json()["pagination"]["total_items"] == 1
