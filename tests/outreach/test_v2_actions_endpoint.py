"""GET /v2/actions and /v2/actions/{id}: the Salesloft facade (seed 001)."""

from __future__ import annotations

import copy
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import pytest
from django.db import connection
from django.utils import timezone
from openapi_schema_validator import OAS30StrictValidator, oas30_format_checker

from accounts.models import Membership, Scope
from outreach.api.salesloft import filters
from outreach.models import Action, ActionStatus
from tests.factories import make_action_row, make_cadence
from tests.outreach import page_plan

pytestmark = pytest.mark.django_db

# Salesloft's definition, vendored next to the facade from ../shared/reference/
# (so the suite runs on a fresh clone); a test checks the copies are the same.
OAS_NAME = "salesloft-actions.oas.json"
OAS_PATH = Path(filters.__file__).with_name(OAS_NAME)
SHARED_OAS_PATH = Path(__file__).resolve().parents[3] / "shared" / "reference" / OAS_NAME
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}\+00:00$")


def load_oas() -> dict:
    return json.loads(OAS_PATH.read_text())


def strict_validator(name: str) -> OAS30StrictValidator:
    """A validator for components.schemas[name] with $refs resolved, tightened:
    no properties beyond the schema's (plus `task`, which seed 001 shows), every
    embedded object with id and _href, the seed's always-present fields required,
    and (Metadata) paging's total_pages/total_count allowed as integers."""
    components = copy.deepcopy(load_oas()["components"])
    schemas = components["schemas"]
    schemas["Action"]["additionalProperties"] = False
    # Seed 001's example record has `task`; this copy of the definition lacks it.
    schemas["Action"]["properties"].setdefault(
        "task", {"$ref": "#/components/schemas/EmbeddedResource"}
    )
    schemas["Action"]["required"] = [
        "id",
        "due",
        "created_at",
        "updated_at",
        "type",
        "status",
        "due_on",
        "action_details",
    ]
    schemas["EmbeddedResource"]["additionalProperties"] = False
    schemas["EmbeddedResource"]["required"] = ["id", "_href"]
    metadata = schemas["Metadata"]
    metadata["additionalProperties"] = False
    metadata["properties"]["sorting"]["additionalProperties"] = False
    paging = metadata["properties"]["paging"]
    paging["properties"]["total_pages"] = {"type": "integer"}
    paging["properties"]["total_count"] = {"type": "integer"}
    paging["additionalProperties"] = False
    schema = {"$ref": f"#/components/schemas/{name}", "components": components}
    return OAS30StrictValidator(schema, format_checker=oas30_format_checker)


def assert_valid(validator: OAS30StrictValidator, instance) -> None:
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(instance)]
    assert errors == []


def listed(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["data"]]


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


# --- shape ----------------------------------------------------------------------
def test_a_cadence_action_reads_like_the_seed(owner_client, act, workspace, owner, make_contact):
    cadence, _, call = make_cadence(workspace, owner)
    contact = make_contact("pat@example.com")
    due = at("2024-01-01T00:00:00+00:00")
    action = act(
        type="call_contact",
        contact=contact,
        cadence=cadence,
        step=call,
        multitouch_group_id=7,
        scheduled_time=due,
    )
    body = owner_client.get("/v2/actions").json()
    assert set(body) == {"data", "metadata"}
    (record,) = body["data"]
    base = "http://testserver/v2"
    assert record == {
        "id": action.id,
        "due": True,
        "created_at": action.created_at.astimezone(UTC).isoformat(timespec="microseconds"),
        "updated_at": action.updated_at.astimezone(UTC).isoformat(timespec="microseconds"),
        "type": "phone",
        "status": "in_progress",
        "due_on": "2024-01-01T00:00:00.000000+00:00",
        "multitouch_group_id": 7,
        "action_details": {
            "id": action.id,
            "_href": f"{base}/action_details/call_instructions/{action.id}",
        },
        "user": {"id": owner.id, "_href": f"{base}/users/{owner.id}"},
        "person": {"id": contact.id, "_href": f"{base}/people/{contact.id}"},
        "cadence": {"id": cadence.id, "_href": f"{base}/cadences/{cadence.id}"},
        "step": {"id": call.id, "_href": f"{base}/steps/{call.id}"},
    }
    assert list(record)[:8] == [
        "id",
        "due",
        "created_at",
        "updated_at",
        "type",
        "status",
        "due_on",
        "multitouch_group_id",
    ]
    assert TIMESTAMP.match(record["created_at"]) and TIMESTAMP.match(record["updated_at"])
    assert body["metadata"] == {
        "filtering": {},
        "paging": {"per_page": 25, "current_page": 1, "next_page": None, "prev_page": None},
        "sorting": {"sort_by": "updated_at", "sort_direction": "DESC"},
    }


def test_a_one_off_action_omits_the_relations_it_lacks(owner_client, workspace, email_identity):
    action = make_action_row(workspace, email_identity, owner=None)  # no owner, contact, cadence
    (record,) = owner_client.get("/v2/actions").json()["data"]
    assert set(record) == {
        "id",
        "due",
        "created_at",
        "updated_at",
        "type",
        "status",
        "due_on",
        "action_details",
    }
    assert record["due"] is False
    assert record["action_details"]["_href"].endswith(f"/v2/action_details/email/{action.id}")


def test_a_task_action_links_its_task(owner_client, act):
    task = act(type="task")
    (record,) = owner_client.get("/v2/actions").json()["data"]
    assert record["type"] == "other"
    assert record["task"] == {"id": task.id, "_href": f"http://testserver/v2/tasks/{task.id}"}
    assert record["action_details"]["_href"].endswith(f"/action_details/other/{task.id}")


def test_hrefs_use_the_requests_scheme_and_host(owner_client, act, settings):
    settings.ALLOWED_HOSTS = ["api.example.com"]
    action = act()
    response = owner_client.get("/v2/actions", HTTP_HOST="api.example.com", secure=True)
    (record,) = response.json()["data"]
    assert record["user"]["_href"].startswith("https://api.example.com/v2/users/")
    assert record["action_details"]["_href"] == (
        f"https://api.example.com/v2/action_details/email/{action.id}"
    )


@pytest.mark.parametrize(
    ("our_type", "theirs"),
    [
        ("send_email", "email"),
        ("email_message", "email"),
        ("call_contact", "phone"),
        ("send_sms", "other"),
        ("linkedin_message", "other"),
        ("update_lifecycle_stage", "other"),
        ("task", "other"),
    ],
)
def test_types_map_to_salesloft_words(owner_client, act, our_type, theirs):
    action = act(type=our_type)
    assert owner_client.get("/v2/actions").json()["data"][0]["type"] == theirs
    assert listed(owner_client.get(f"/v2/actions?type={theirs}")) == [action.id]
    others = {"email", "phone", "other"} - {theirs}
    for word in others:
        assert listed(owner_client.get(f"/v2/actions?type={word}")) == []


# --- statuses and the detail route -------------------------------------------------
def test_only_actions_not_yet_executed_are_listed(owner_client, act):
    pending = act(status=ActionStatus.PENDING_APPROVAL)
    scheduled = act(status=ActionStatus.SCHEDULED)
    processing = act(status=ActionStatus.PROCESSING)
    for status in ("completed", "failed", "cancelled", "rejected"):
        act(status=status)
    body = owner_client.get("/v2/actions?sort_by=created_at&sort_direction=ASC").json()
    assert [(r["id"], r["status"]) for r in body["data"]] == [
        (pending.id, "in_progress"),
        (scheduled.id, "in_progress"),
        (processing.id, "pending_activity"),
    ]


@pytest.mark.parametrize("suffix", ["", ".json"])
def test_the_detail_route_reads_one_action_in_progress(owner_client, act, suffix):
    action = act(status=ActionStatus.PROCESSING)
    response = owner_client.get(f"/v2/actions/{action.id}{suffix}")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"data"}
    assert body["data"]["id"] == action.id
    assert body["data"]["status"] == "pending_activity"
    assert body["data"] == owner_client.get("/v2/actions").json()["data"][0]


@pytest.mark.parametrize("status", ["completed", "failed", "cancelled", "rejected"])
def test_a_finished_action_is_a_404(owner_client, act, status):
    action = act(status=status)
    response = owner_client.get(f"/v2/actions/{action.id}.json")
    assert response.status_code == 404
    body = response.json()
    assert body["status"] == 404 and body["code"] == "not_found"
    assert set(body) == {"status", "error", "code", "errors"}


def test_another_workspaces_action_is_a_404(outsider_client, owner_client, act):
    action = act()
    assert outsider_client.get(f"/v2/actions/{action.id}").status_code == 404
    assert listed(outsider_client.get("/v2/actions")) == []
    assert owner_client.get("/v2/actions/99999999999999999999999").status_code == 404
    assert owner_client.get("/v2/actions/abc").status_code == 404


def test_the_json_list_path_answers_the_same(owner_client, act):
    act(), act()
    assert owner_client.get("/v2/actions.json").json() == owner_client.get("/v2/actions").json()


# --- visibility -------------------------------------------------------------------
def test_visibility_admin_member_and_user_guid(
    owner_client, member_client, act, owner, member, workspace
):
    mine = act(owner=member)
    theirs = act(owner=owner)
    owner_guid = Membership.objects.get(workspace=workspace, user=owner).guid
    member_guid = Membership.objects.get(workspace=workspace, user=member).guid
    # An admin sees the workspace's and may narrow by user_guid.
    assert sorted(listed(owner_client.get("/v2/actions"))) == sorted([mine.id, theirs.id])
    assert listed(owner_client.get(f"/v2/actions?user_guid={member_guid}")) == [mine.id]
    both = f"/v2/actions?user_guid={member_guid},{owner_guid}"
    assert sorted(listed(owner_client.get(both))) == sorted([mine.id, theirs.id])
    # A member only its own: another's guid gives nothing of theirs, not a 403.
    assert listed(member_client.get("/v2/actions")) == [mine.id]
    assert listed(member_client.get(f"/v2/actions?user_guid={owner_guid}")) == []
    assert listed(member_client.get(f"/v2/actions?user_guid={member_guid}")) == [mine.id]
    assert member_client.get(f"/v2/actions/{theirs.id}").status_code == 404
    assert member_client.get(f"/v2/actions/{mine.id}").status_code == 200


def test_a_guid_of_another_workspace_matches_nothing(owner_client, act, outsider, other_workspace):
    act()
    guid = Membership.objects.get(workspace=other_workspace, user=outsider).guid
    assert listed(owner_client.get(f"/v2/actions?user_guid={guid}")) == []


def test_reading_needs_a_key_with_the_read_scope(client, client_for, owner, workspace):
    assert client.get("/v2/actions").status_code == 401
    writer = client_for(owner, workspace, [Scope.ACTIONS_WRITE])
    response = writer.get("/v2/actions")
    assert response.status_code == 403
    assert response.json()["code"] == "missing_scope"


# --- filters ----------------------------------------------------------------------
def test_ids_in_every_spelling(owner_client, act):
    a, b, c = act(), act(), act()
    expected = sorted([a.id, c.id])
    for query in (
        f"ids={a.id},{c.id}",
        f"ids={a.id}&ids={c.id}",
        f"ids[]={a.id}&ids[]={c.id}",
        f"ids%5B%5D={a.id}&ids%5B%5D={c.id}",
        f"ids={a.id}&ids[]={c.id}",
        f"ids={a.id},,{c.id},",
        f"ids={quote(f'{a.id}, {c.id}')}",
    ):
        assert sorted(listed(owner_client.get(f"/v2/actions?{query}"))) == expected, query
    body = owner_client.get(f"/v2/actions.json?ids={c.id},{a.id},{c.id}").json()
    assert body["metadata"]["filtering"] == {"ids": [c.id, a.id]}
    assert b.id not in listed(owner_client.get(f"/v2/actions?ids={a.id}"))


def test_relation_filters(owner_client, act, workspace, owner, make_contact):
    cadence, email, call = make_cadence(workspace, owner)
    other_cadence, other_email, _ = make_cadence(workspace, owner, name="Other")
    pat, sam = make_contact("pat@example.com"), make_contact("sam@example.com")
    a = act(cadence=cadence, step=email, contact=pat)
    b = act(cadence=cadence, step=call, contact=sam, multitouch_group_id=7, type="call_contact")
    c = act(cadence=other_cadence, step=other_email, contact=pat, multitouch_group_id=8)
    one_off = act()

    def ids(query: str) -> list[int]:
        return sorted(listed(owner_client.get(f"/v2/actions?{query}")))

    assert ids(f"step_id={email.id}") == [a.id]
    assert ids(f"cadence_id={cadence.id}") == sorted([a.id, b.id])
    assert ids(f"cadence_id={cadence.id},{other_cadence.id}") == sorted([a.id, b.id, c.id])
    assert ids(f"cadence_id[]={other_cadence.id}") == [c.id]
    assert ids(f"person_id={pat.id}") == sorted([a.id, c.id])
    assert ids(f"person_id={pat.id}&person_id={sam.id}") == sorted([a.id, b.id, c.id])
    assert ids("multitouch_group_id=7") == [b.id]
    assert ids("multitouch_group_id=7,8") == sorted([b.id, c.id])
    assert ids("multitouch_group_id[]=8") == [c.id]
    # Combinations narrow: every filter applies.
    assert ids(f"cadence_id={cadence.id}&person_id={pat.id}") == [a.id]
    assert ids(f"cadence_id={cadence.id}&type=phone") == [b.id]
    assert ids(f"person_id={pat.id}&multitouch_group_id=8&ids={a.id},{c.id}") == [c.id]
    assert ids(f"step_id={email.id}&person_id={sam.id}") == []
    assert one_off.id in ids("type=email")
    body = owner_client.get(
        f"/v2/actions?cadence_id={cadence.id}&type=PHONE&step_id={call.id}"
        f"&person_id={sam.id}&multitouch_group_id=7"
    ).json()
    assert [r["id"] for r in body["data"]] == [b.id]
    assert body["metadata"]["filtering"] == {
        "person_id": [sam.id],
        "cadence_id": [cadence.id],
        "multitouch_group_id": [7],
        "step_id": call.id,
        "type": "phone",
    }


def test_user_guid_combines_with_other_filters(owner_client, act, member, workspace):
    guid = Membership.objects.get(workspace=workspace, user=member).guid
    call = act(owner=member, type="call_contact")
    act(owner=member)
    act(type="call_contact")
    assert listed(owner_client.get(f"/v2/actions?user_guid[]={guid}&type=phone")) == [call.id]
    filtering = owner_client.get(f"/v2/actions?user_guid={guid}").json()["metadata"]["filtering"]
    assert filtering == {"user_guid": [str(guid)]}


def test_due_on_compares_with_microsecond_precision(owner_client, act):
    exact = act(scheduled_time=at("2030-05-01T12:00:00.123456+00:00"))
    before = act(scheduled_time=at("2030-05-01T12:00:00.123455+00:00"))
    after = act(scheduled_time=at("2030-05-01T12:00:00.123457+00:00"))
    stamp = quote("2030-05-01T12:00:00.123456+00:00")

    def ids(query: str) -> list[int]:
        return sorted(listed(owner_client.get(f"/v2/actions?{query}")))

    assert ids(f"due_on[gt]={stamp}") == [after.id]
    assert ids(f"due_on[gte]={stamp}") == sorted([exact.id, after.id])
    assert ids(f"due_on[lt]={stamp}") == [before.id]
    assert ids(f"due_on[lte]={stamp}") == sorted([before.id, exact.id])
    assert ids(f"due_on[gte]={stamp}&due_on[lte]={stamp}") == [exact.id]
    assert ids(f"due_on[gt]={stamp}&due_on[lt]={stamp}") == []
    # The same instant in another offset, naive (UTC), 'Z', and an unencoded '+'.
    assert ids(f"due_on[gte]={quote('2030-05-01T14:00:00.123456+02:00')}") == sorted(
        [exact.id, after.id]
    )
    assert ids("due_on[gt]=2030-05-01T12:00:00.123456") == [after.id]
    assert ids("due_on[lte]=2030-05-01T12:00:00.123456Z") == sorted([before.id, exact.id])
    assert ids("due_on[gt]=2030-05-01T12:00:00.123456+00:00") == [after.id]  # '+' sent raw
    assert ids("due_on[gte]=2030-05-02") == []
    assert ids("due_on[lt]=2030-05-02") == sorted([before.id, exact.id, after.id])
    filtering = owner_client.get(f"/v2/actions?due_on[gt]={stamp}&due_on[lte]=2031-01-01").json()
    assert filtering["metadata"]["filtering"] == {
        "due_on": {"gt": "2030-05-01T12:00:00.123456+00:00", "lte": "2031-01-01"}
    }


def test_updated_at_filters(owner_client, act):
    old = act(updated_at=at("2030-01-01T00:00:00.000001+00:00"))
    mid = act(updated_at=at("2030-01-01T00:00:00.000002+00:00"))
    new = act(updated_at=at("2030-01-01T00:00:00.000003+00:00"))
    stamp = quote("2030-01-01T00:00:00.000002+00:00")

    def ids(query: str) -> list[int]:
        return listed(owner_client.get(f"/v2/actions?{query}"))

    assert ids(f"updated_at[gt]={stamp}") == [new.id]
    assert ids(f"updated_at[gte]={stamp}") == [new.id, mid.id]
    assert ids(f"updated_at[lt]={stamp}") == [old.id]
    assert ids(f"updated_at[lte]={stamp}") == [mid.id, old.id]
    assert (
        ids(f"updated_at[gt]={quote('2030-01-01T00:00:00.000001Z')}&updated_at[lt]={stamp}") == []
    )
    # The cursor poller: updated_at[gt] with ascending order.
    assert ids("updated_at[gt]=2029-12-31T23:59:59&sort_direction=ASC") == [old.id, mid.id, new.id]
    # due_on and updated_at together.
    far = act(
        updated_at=at("2030-01-01T00:00:00.000003+00:00"),
        scheduled_time=at("2040-01-01T00:00:00+00:00"),
    )
    assert ids(f"updated_at[gte]={stamp}&due_on[gt]=2039-01-01") == [far.id]


# --- sorting ----------------------------------------------------------------------
def test_sorting_both_ways_with_ties_broken_by_id(owner_client, act):
    tie = at("2030-01-01T00:00:00+00:00")
    a = act(updated_at=tie, created_at=at("2029-01-03T00:00:00+00:00"))
    b = act(updated_at=tie, created_at=at("2029-01-01T00:00:00+00:00"))
    c = act(updated_at=at("2030-02-01T00:00:00+00:00"), created_at=at("2029-01-02T00:00:00+00:00"))

    def ids(query: str) -> list[int]:
        return listed(owner_client.get(f"/v2/actions?{query}"))

    assert ids("") == [c.id, b.id, a.id]  # updated_at DESC, then id DESC
    assert ids("sort_direction=ASC") == [a.id, b.id, c.id]
    assert ids("sort_direction=asc") == [a.id, b.id, c.id]
    assert ids("sort_by=updated_at&sort_direction=DESC") == [c.id, b.id, a.id]
    assert ids("sort_by=created_at") == [a.id, c.id, b.id]
    assert ids("sort_by=created_at&sort_direction=Asc") == [b.id, c.id, a.id]
    sorting = owner_client.get("/v2/actions?sort_by=created_at&sort_direction=asc").json()
    assert sorting["metadata"]["sorting"] == {"sort_by": "created_at", "sort_direction": "ASC"}


# --- paging -----------------------------------------------------------------------
def _paging(client, query: str) -> tuple[list[int], dict]:
    response = client.get(f"/v2/actions?{query}")
    return listed(response), response.json()["metadata"]["paging"]


def test_paging_first_middle_last_and_past_the_end(owner_client, act):
    made = [act() for _ in range(7)]
    newest_first = [a.id for a in reversed(made)]
    ids, paging = _paging(owner_client, "per_page=3")
    assert ids == newest_first[:3]
    assert paging == {"per_page": 3, "current_page": 1, "next_page": 2, "prev_page": None}
    ids, paging = _paging(owner_client, "per_page=3&page=2")
    assert ids == newest_first[3:6]
    assert paging == {"per_page": 3, "current_page": 2, "next_page": 3, "prev_page": 1}
    ids, paging = _paging(owner_client, "per_page=3&page=3")
    assert ids == newest_first[6:]
    assert paging == {"per_page": 3, "current_page": 3, "next_page": None, "prev_page": 2}
    ids, paging = _paging(owner_client, "per_page=3&page=9")
    assert ids == []
    assert paging == {"per_page": 3, "current_page": 9, "next_page": None, "prev_page": 8}
    # Exactly full last page: no next page.
    ids, paging = _paging(owner_client, "per_page=7")
    assert len(ids) == 7 and paging["next_page"] is None


def test_paging_counts(owner_client, act):
    for _ in range(7):
        act()
    _, paging = _paging(owner_client, "per_page=3&include_paging_counts=true")
    assert paging == {
        "per_page": 3,
        "current_page": 1,
        "next_page": 2,
        "prev_page": None,
        "total_pages": 3,
        "total_count": 7,
    }
    _, paging = _paging(owner_client, "per_page=3&page=2&include_paging_counts=TRUE")
    assert (paging["next_page"], paging["prev_page"], paging["total_pages"]) == (3, 1, 3)
    _, paging = _paging(owner_client, "per_page=3&page=3&include_paging_counts=1")
    assert (paging["next_page"], paging["prev_page"], paging["total_count"]) == (None, 2, 7)
    _, paging = _paging(owner_client, "per_page=3&page=5&include_paging_counts=true")
    assert paging["total_count"] == 7 and paging["next_page"] is None
    _, paging = _paging(owner_client, "per_page=3&include_paging_counts=false")
    assert "total_count" not in paging and "total_pages" not in paging
    _, paging = _paging(owner_client, "type=phone&include_paging_counts=true")
    assert (paging["total_count"], paging["total_pages"]) == (0, 0)


def test_limit_paging_counts_caps_the_counts(owner_client, act, monkeypatch):
    monkeypatch.setattr(filters, "PAGING_COUNT_LIMIT", 5)
    for _ in range(7):
        act()
    query = "per_page=2&include_paging_counts=true"
    _, paging = _paging(owner_client, f"{query}&limit_paging_counts=true")
    assert (paging["total_count"], paging["total_pages"]) == (5, 3)
    _, paging = _paging(owner_client, f"{query}&limit_paging_counts=false")
    assert (paging["total_count"], paging["total_pages"]) == (7, 4)
    _, paging = _paging(owner_client, query)  # default: exact counts
    assert paging["total_count"] == 7
    ids, paging = _paging(owner_client, f"{query}&limit_paging_counts=true&page=4")
    assert len(ids) == 1 and paging["total_count"] == 5  # rows past the cap still page


def test_per_page_defaults_to_25_and_accepts_100(owner_client, act):
    for _ in range(26):
        act()
    ids, paging = _paging(owner_client, "")
    assert len(ids) == 25 and paging["next_page"] == 2
    ids, paging = _paging(owner_client, "per_page=100")
    assert len(ids) == 26 and paging["next_page"] is None
    ids, paging = _paging(owner_client, "per_page=1&page=26")
    assert len(ids) == 1 and paging["prev_page"] == 25


# --- bad input --------------------------------------------------------------------
BAD = {
    "per_page": ["0", "101", "x"],
    "page": ["0", "-1", "2.5"],
    "sort_by": ["foo", "due_on"],
    "sort_direction": ["up", "descending"],
    "type": ["fax", "send_email"],
    "ids": ["a", "1,a", "0", "99999999999999999999"],
    "step_id": ["x", "1,2"],
    "person_id": ["p"],
    "cadence_id": ["-3"],
    "multitouch_group_id": ["1.5"],
    "user_guid": ["not-a-guid"],
    "due_on[gt]": ["yesterday", "2030-13-01", "2030-01-01T25:00:00"],
    "updated_at[lte]": ["soon"],
    "include_paging_counts": ["maybe", "yes"],
    "limit_paging_counts": ["sure"],
}


@pytest.mark.parametrize(
    ("name", "value"), [(name, value) for name, values in BAD.items() for value in values]
)
def test_a_bad_value_is_a_400_naming_the_parameter(owner_client, name, value):
    response = owner_client.get(f"/v2/actions?{name}={quote(value)}")
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["status"] == 400 and body["code"] == "invalid_request"
    assert list(body["errors"]) == [name]
    assert name in body["error"]


def test_every_bad_parameter_is_named_at_once(owner_client):
    query = "&".join(f"{name}={quote(values[0])}" for name, values in BAD.items())
    response = owner_client.get(f"/v2/actions.json?{query}")
    assert response.status_code == 400
    assert set(response.json()["errors"]) == set(BAD)


def test_unknown_range_operators_and_bare_range_names_are_refused(owner_client):
    response = owner_client.get("/v2/actions?due_on[eq]=2030-01-01&updated_at=2030-01-01")
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"due_on[eq]", "updated_at"}


def test_unknown_parameters_and_empty_filters_are_ignored(owner_client, act):
    action = act()
    assert listed(owner_client.get("/v2/actions?foo=bar&ids=&type=&step_id=")) == [action.id]


# --- performance ------------------------------------------------------------------
def test_the_list_runs_a_constant_number_of_queries(
    owner_client, act, workspace, owner, make_contact, django_assert_num_queries
):
    cadence, email, call = make_cadence(workspace, owner)
    contact = make_contact("pat@example.com")
    for n in range(60):
        act(cadence=cadence, step=call if n % 2 else email, contact=contact, type="call_contact")
    # key lookup, key touch, the page
    with django_assert_num_queries(3):
        assert len(listed(owner_client.get("/v2/actions?per_page=1"))) == 1
    with django_assert_num_queries(3):
        assert len(listed(owner_client.get("/v2/actions?per_page=100"))) == 60
    # ... plus one COUNT with the paging counts; user_guid is a subquery, not a query.
    guid, first = Membership.objects.get(user=owner).guid, Action.objects.first()
    with django_assert_num_queries(4):
        response = owner_client.get(
            "/v2/actions?per_page=100&include_paging_counts=true&limit_paging_counts=true"
            f"&user_guid={guid}&cadence_id={cadence.id}"
        )
        assert response.json()["metadata"]["paging"]["total_count"] == 60
    with django_assert_num_queries(3):
        assert owner_client.get(f"/v2/actions/{first.id}").status_code == 200


def test_the_default_order_is_served_by_an_index(owner_client, member_client, act, member):
    for n in range(3):
        act(owner=member if n else None)
    for client in (owner_client, member_client):
        plan = page_plan(client, "/v2/actions")
        if connection.vendor == "postgresql":
            # The partial index (workspace, updated_at, id) walked backwards: no sort.
            assert "action_v2_open_idx" in plan, plan
            assert "Sort" not in plan, plan
        else:
            # SQLite may prefer (workspace, updated_at), whose rowid is the id: no sort.
            assert "USING INDEX action_" in plan, plan
            assert "TEMP B-TREE" not in plan, plan


# --- the OAS ----------------------------------------------------------------------
def test_the_vendored_definition_is_salesloft_s():
    if SHARED_OAS_PATH.exists():  # next to the repository in the workspace
        assert json.loads(SHARED_OAS_PATH.read_text()) == load_oas()
    assert set(load_oas()["components"]["schemas"]) == {"Action", "EmbeddedResource", "Metadata"}


def test_records_and_metadata_validate_against_salesloft_s_definition(
    owner_client, member_client, act, workspace, owner, member, make_contact
):
    cadence, email, call = make_cadence(workspace, owner)
    contact = make_contact("pat@example.com")
    act(cadence=cadence, step=email, contact=contact, status=ActionStatus.PENDING_APPROVAL)
    act(
        cadence=cadence,
        step=call,
        contact=contact,
        multitouch_group_id=7,
        type="call_contact",
        status=ActionStatus.PROCESSING,
        scheduled_time=timezone.now() - timedelta(minutes=5),
    )
    one_off = act(owner=None)  # no user, person, cadence, step, group
    act(type="task", owner=member)
    action_schema, metadata_schema = strict_validator("Action"), strict_validator("Metadata")
    oas = load_oas()
    list_schema = oas["paths"]["/v2/actions.json"]["get"]["responses"]["200"]["content"]["*/*"]
    envelope = OAS30StrictValidator(
        {**list_schema["schema"], "components": oas["components"]},
        format_checker=oas30_format_checker,
    )
    for query in (
        "",
        "include_paging_counts=true",
        "include_paging_counts=true&limit_paging_counts=true&per_page=2&page=2",
        f"ids={one_off.id}&due_on[gt]=2000-01-01&updated_at[lte]=2100-01-01&type=email",
        "page=50",
    ):
        for client in (owner_client, member_client):
            body = client.get(f"/v2/actions.json?{query}").json()
            assert_valid(envelope, body)
            assert_valid(metadata_schema, body["metadata"])
            for record in body["data"]:
                assert_valid(action_schema, record)
                detail = client.get(f"/v2/actions/{record['id']}.json").json()
                assert_valid(action_schema, detail["data"])
    assert len(owner_client.get("/v2/actions").json()["data"]) == 4


# --- bad input that was a 500 on PostgreSQL (issue 11) -----------------------------
@pytest.mark.parametrize(
    "name", ["due_on[gt]", "due_on[gte]", "due_on[lt]", "updated_at[lte]", "updated_at[gt]"]
)
@pytest.mark.parametrize("offset", ["-16:00", "+16:00", "-23:59"])
def test_a_range_offset_beyond_15_59_is_a_400_naming_the_parameter(owner_client, name, offset):
    response = owner_client.get(f"/v2/actions?{name}={quote(f'2020-01-01T00:00:00{offset}')}")
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["errors"] == {name: ["The UTC offset must be between -15:59 and +15:59."]}


def test_a_range_offset_of_15_59_compares_the_same_instant(owner_client, act):
    action = act(scheduled_time=at("2030-05-01T12:00:00+00:00"))
    # 2030-05-01T12:00:00+00:00 is 2030-05-02T03:59:00+15:59.
    response = owner_client.get(f"/v2/actions?due_on[gte]={quote('2030-05-02T03:59:00+15:59')}")
    assert listed(response) == [action.id]
    response = owner_client.get(f"/v2/actions?due_on[gt]={quote('2030-05-02T03:59:00+15:59')}")
    assert listed(response) == []


def test_a_range_that_leaves_the_calendar_in_utc_is_a_400(owner_client):
    response = owner_client.get(f"/v2/actions?due_on[lt]={quote('9999-12-31T23:00:00-02:00')}")
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["due_on[lt]"]


@pytest.mark.parametrize("name", ["user_guid", "type", "sort_by", "ids", "due_on[gt]"])
def test_a_nul_in_a_filter_is_a_400_naming_it(owner_client, name):
    response = owner_client.get(f"/v2/actions?{name}=%00")
    assert response.status_code == 400
    assert list(response.json()["errors"]) == [name]
