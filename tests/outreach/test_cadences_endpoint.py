"""/v1/cadences, their steps and enrollments, and /v1/enrollments."""

from __future__ import annotations

import pytest
from django.db import connection, reset_queries
from django.test.utils import CaptureQueriesContext

from accounts.actors import Actor
from accounts.models import Membership, Scope
from contacts import services as contact_services
from outreach.models import Action, ActionStatus, Cadence, Enrollment, Step
from outreach.services import cadences

pytestmark = pytest.mark.django_db

EMAIL = {"subject": "Hi {{ contact.firstname }}", "body": "Hello {{ contact.firstname }}!"}


@pytest.fixture
def cadence(workspace, owner, email_identity, sms_identity):
    cadence = cadences.cadence_create(workspace=workspace, actor=Actor.for_user(owner), name="Q3")
    cadences.step_create(cadence=cadence, type="email", params_template=EMAIL)
    cadences.step_create(
        cadence=cadence,
        type="sms",
        day=2,
        params_template={"message": "Hi {{ contact.firstname }}"},
    )
    return cadence


@pytest.fixture
def ada(make_contact):
    return make_contact("ada@example.com", firstname="Ada", phone="+14155550123")


def queries_of(fetch) -> int:
    reset_queries()  # the test client's request_started resets the log anyway
    with CaptureQueriesContext(connection) as captured:
        fetch()
    return len(captured)


def guid_of(user, workspace) -> str:
    return str(Membership.objects.get(user=user, workspace=workspace).guid)


def enroll_url(cadence) -> str:
    return f"/v1/cadences/{cadence.pk}/enrollments"


# --- Cadences -------------------------------------------------------------------------
def test_it_creates_a_cadence_owned_by_the_keys_user(owner_client, owner):
    response = owner_client.post("/v1/cadences", {"name": "Inbound leads"}, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["status"] == "success"
    cadence = body["cadence"]
    assert cadence == {
        "id": cadence["id"],
        "name": "Inbound leads",
        "sharing": "team",
        "is_active": True,
        "owner": {"id": owner.pk, "email": owner.email},
        "steps_count": 0,
        "active_enrollments_count": 0,
        "created_at": cadence["created_at"],
        "updated_at": cadence["updated_at"],
        "steps": [],
    }
    assert isinstance(cadence["id"], int)


def test_create_names_every_bad_field(owner_client):
    response = owner_client.post(
        "/v1/cadences", {"name": "", "sharing": "public", "is_active": "maybe"}, format="json"
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_request"
    assert set(error["fields"]) == {"name", "sharing", "is_active"}


def test_it_lists_cadences_with_counts_filters_and_pagination(
    owner_client, cadence, workspace, owner, ada
):
    cadences.enrollment_create(
        workspace=workspace, actor=Actor.for_user(owner), cadence=cadence, contact=ada
    )
    other = cadences.cadence_create(workspace=workspace, actor=Actor.for_user(owner), name="Old")
    cadences.cadence_update(
        cadence=other, actor=Actor.for_user(owner), changes={"is_active": False}
    )
    body = owner_client.get("/v1/cadences").json()
    assert [c["name"] for c in body["cadences"]] == ["Q3", "Old"]
    assert body["cadences"][0]["steps_count"] == 2
    assert body["cadences"][0]["active_enrollments_count"] == 1
    assert body["pagination"] == {"total_items": 2, "limit": 20, "skip": 0}
    active = owner_client.get("/v1/cadences?is_active=true&limit=1").json()
    assert [c["name"] for c in active["cadences"]] == ["Q3"]
    page = owner_client.get("/v1/cadences?limit=1&skip=1").json()
    assert [c["name"] for c in page["cadences"]] == ["Old"]
    bad = owner_client.get("/v1/cadences?is_active=perhaps&sharing=x&limit=0")
    assert bad.status_code == 400
    assert set(bad.json()["error"]["fields"]) >= {"is_active", "sharing"}


def test_the_list_runs_a_constant_number_of_queries(
    owner_client, workspace, owner, make_contact, email_identity, django_assert_num_queries
):
    actor = Actor.for_user(owner)

    def add(n: int) -> None:
        cadence = cadences.cadence_create(workspace=workspace, actor=actor, name=f"C{n}")
        cadences.step_create(cadence=cadence, type="email", params_template=EMAIL)
        contact = make_contact(f"c{n}@example.com", firstname="C")
        cadences.enrollment_create(
            workspace=workspace, actor=actor, cadence=cadence, contact=contact
        )

    add(0)
    one = queries_of(lambda: owner_client.get("/v1/cadences"))
    assert one >= 2  # (key lookup, count, page)
    for n in range(1, 6):
        add(n)
    reset_queries()
    with django_assert_num_queries(one):
        assert len(owner_client.get("/v1/cadences").json()["cadences"]) == 6


def test_retrieve_shows_the_steps_in_order(owner_client, cadence, email_identity):
    body = owner_client.get(f"/v1/cadences/{cadence.pk}").json()["cadence"]
    assert [(s["order"], s["type"], s["action_type"], s["day"]) for s in body["steps"]] == [
        (1, "email", "send_email", 1),
        (2, "sms", "send_sms", 2),
    ]
    step = body["steps"][0]
    assert step["params_template"] == EMAIL
    assert step["identity_id"] is None
    assert step["cadence_id"] == cadence.pk


def test_deactivating_through_patch_stops_the_enrollments(owner_client, cadence, ada):
    enrolled = owner_client.post(enroll_url(cadence), {"contact_id": ada.public_id}, format="json")
    assert enrolled.status_code == 201
    response = owner_client.patch(
        f"/v1/cadences/{cadence.pk}", {"is_active": False, "name": "Q3 (old)"}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["cadence"]["is_active"] is False
    assert response.json()["cadence"]["name"] == "Q3 (old)"
    enrollment = Enrollment.objects.get()
    assert (enrollment.state, enrollment.stop_reason) == ("stopped", "cadence_deactivated")
    assert Action.objects.get().status == ActionStatus.CANCELLED


# --- Visibility and tenancy -------------------------------------------------------------
def test_a_member_cannot_see_another_users_personal_cadence(
    member_client, owner_client, workspace, owner, member
):
    personal = cadences.cadence_create(
        workspace=workspace, actor=Actor.for_user(owner), name="Mine", sharing="personal"
    )
    team = cadences.cadence_create(workspace=workspace, actor=Actor.for_user(owner), name="Ours")
    own = cadences.cadence_create(
        workspace=workspace, actor=Actor.for_user(member), name="Bob's", sharing="personal"
    )
    listed = {c["name"] for c in member_client.get("/v1/cadences").json()["cadences"]}
    assert listed == {"Ours", "Bob's"}
    assert member_client.get(f"/v1/cadences/{personal.pk}").status_code == 404
    assert member_client.get(f"/v1/cadences/{personal.pk}/steps").status_code == 404
    assert member_client.get(f"/v1/cadences/{team.pk}").status_code == 200
    assert member_client.get(f"/v1/cadences/{own.pk}").status_code == 200
    # Admins see every cadence.
    assert {c["name"] for c in owner_client.get("/v1/cadences").json()["cadences"]} == {
        "Mine",
        "Ours",
        "Bob's",
    }


def test_a_member_changes_only_cadences_it_owns(member_client, workspace, owner, member):
    team = cadences.cadence_create(workspace=workspace, actor=Actor.for_user(owner), name="Ours")
    response = member_client.patch(f"/v1/cadences/{team.pk}", {"name": "x"}, format="json")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"
    add_step = member_client.post(f"/v1/cadences/{team.pk}/steps", {"type": "other"}, format="json")
    assert add_step.status_code == 403
    own = member_client.post("/v1/cadences", {"name": "Bob's"}, format="json").json()["cadence"]
    renamed = member_client.patch(f"/v1/cadences/{own['id']}", {"name": "Bob's 2"}, format="json")
    assert renamed.status_code == 200


def test_another_workspaces_records_are_404(outsider_client, cadence, ada, owner_client):
    enrollment_id = owner_client.post(
        enroll_url(cadence), {"contact_id": ada.public_id}, format="json"
    ).json()["enrollment"]["id"]
    step = cadence.steps.first()
    for path in (
        f"/v1/cadences/{cadence.pk}",
        f"/v1/cadences/{cadence.pk}/steps",
        f"/v1/cadences/{cadence.pk}/steps/{step.pk}",
        f"/v1/cadences/{cadence.pk}/enrollments",
        f"/v1/enrollments/{enrollment_id}",
    ):
        response = outsider_client.get(path)
        assert response.status_code == 404, path
        assert response.json()["error"]["code"] == "not_found"
    assert (
        outsider_client.patch(
            f"/v1/cadences/{cadence.pk}", {"name": "x"}, format="json"
        ).status_code
        == 404
    )
    assert outsider_client.delete(f"/v1/cadences/{cadence.pk}/steps/{step.pk}").status_code == 404
    assert outsider_client.post(f"/v1/enrollments/{enrollment_id}/stop").status_code == 404
    assert Enrollment.objects.get().state == "active"
    assert outsider_client.get("/v1/cadences").json()["cadences"] == []


def test_a_step_of_another_cadence_is_404(owner_client, cadence, workspace, owner):
    other = cadences.cadence_create(workspace=workspace, actor=Actor.for_user(owner), name="B")
    step = cadence.steps.first()
    assert owner_client.get(f"/v1/cadences/{other.pk}/steps/{step.pk}").status_code == 404


def test_reads_need_actions_read_and_writes_actions_write(client_for, owner, workspace, cadence):
    reader = client_for(owner, workspace, [Scope.ACTIONS_READ])
    assert reader.get("/v1/cadences").status_code == 200
    assert reader.get(f"/v1/cadences/{cadence.pk}/steps").status_code == 200
    response = reader.post("/v1/cadences", {"name": "x"}, format="json")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "missing_scope"
    assert (
        reader.post(
            f"/v1/cadences/{cadence.pk}/steps", {"type": "other"}, format="json"
        ).status_code
        == 403
    )
    contacts_only = client_for(owner, workspace, [Scope.CONTACTS_READ])
    assert contacts_only.get("/v1/cadences").status_code == 403
    assert contacts_only.get(f"/v1/cadences/{cadence.pk}/enrollments").status_code == 403


# --- Steps ----------------------------------------------------------------------------
def test_it_adds_updates_and_deletes_steps(owner_client, cadence, sms_identity):
    url = f"/v1/cadences/{cadence.pk}/steps"
    response = owner_client.post(
        url,
        {
            "type": "sms",
            "day": 4,
            "name": "Nudge",
            "params_template": {"message": "Still there, {{ contact.firstname }}?"},
            "identity_id": sms_identity.public_id,
            "require_approval": True,
            "multitouch_group_id": 7,
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    step = response.json()["step"]
    assert (step["order"], step["day"], step["identity_id"], step["multitouch_group_id"]) == (
        3,
        4,
        sms_identity.public_id,
        7,
    )
    assert step["require_approval"] is True

    detail = f"{url}/{step['id']}"
    assert owner_client.get(detail).json()["step"] == step
    patched = owner_client.patch(detail, {"day": 5, "identity_id": None}, format="json")
    assert patched.status_code == 200
    assert (patched.json()["step"]["day"], patched.json()["step"]["identity_id"]) == (5, None)

    listed = owner_client.get(url).json()
    assert [s["order"] for s in listed["steps"]] == [1, 2, 3]
    assert listed["pagination"]["total_items"] == 3

    deleted = owner_client.delete(detail)
    assert deleted.status_code == 200
    assert deleted.json() == {"status": "success", "deleted": step["id"]}
    assert not Step.objects.filter(pk=step["id"]).exists()
    assert owner_client.get(detail).status_code == 404


def test_a_bad_template_is_a_400_naming_the_template_key(owner_client, cadence):
    response = owner_client.post(
        f"/v1/cadences/{cadence.pk}/steps",
        {"type": "email", "params_template": {"subject": "Hi {{ contact.firstname", "bdy": "x"}},
        format="json",
    )
    assert response.status_code == 400
    fields = response.json()["error"]["fields"]
    # The broken subject, the unknown key, and the body it therefore lacks.
    assert set(fields) == {"params_template.subject", "params_template.bdy", "params_template.body"}
    missing = owner_client.post(
        f"/v1/cadences/{cadence.pk}/steps",
        {"type": "email", "params_template": {"body": "no subject"}},
        format="json",
    )
    assert set(missing.json()["error"]["fields"]) == {"params_template.subject"}


def test_a_template_nested_too_deeply_is_a_400_naming_the_template_key(owner_client, cadence):
    # 100 nested parentheses: Jinja2's parser ran out of stack, a 500 before.
    deep = "{{ " + "(" * 100 + "contact.firstname" + ")" * 100 + " }}"
    response = owner_client.post(
        f"/v1/cadences/{cadence.pk}/steps",
        {"type": "email", "params_template": {"subject": "Hi", "body": deep}},
        format="json",
    )
    assert response.status_code == 400, response.content
    fields = response.json()["error"]["fields"]
    assert list(fields) == ["params_template.body"]
    assert "more than 20 levels deep" in fields["params_template.body"][0]
    assert cadence.steps.count() == 2


def test_step_refusals(owner_client, cadence, ada, email_identity):
    url = f"/v1/cadences/{cadence.pk}/steps"
    unknown = owner_client.post(
        url, {"type": "fax", "day": 0, "identity_id": "id_nope"}, format="json"
    )
    assert unknown.status_code == 400
    assert set(unknown.json()["error"]["fields"]) == {"type", "day"}
    no_identity = owner_client.post(url, {"type": "other", "identity_id": "id_nope"}, format="json")
    assert set(no_identity.json()["error"]["fields"]) == {"identity_id"}
    taken = owner_client.post(url, {"type": "other", "order": 1}, format="json")
    assert taken.status_code == 409
    assert taken.json()["error"]["code"] == "step_order_taken"
    owner_client.post(enroll_url(cadence), {"contact_id": ada.public_id}, format="json")
    in_use = owner_client.delete(f"{url}/{cadence.steps.get(order=1).pk}")
    assert in_use.status_code == 409
    assert in_use.json()["error"]["code"] == "step_in_use"


# --- Enrollments ----------------------------------------------------------------------
def test_enrolling_answers_201_with_the_enrollment_and_its_first_action(
    owner_client, cadence, ada, owner, workspace
):
    response = owner_client.post(enroll_url(cadence), {"contact_id": ada.public_id}, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    action = Action.objects.get()
    assert body["action_id"] == action.public_id
    enrollment = body["enrollment"]
    assert enrollment == {
        "id": enrollment["id"],
        "cadence_id": cadence.pk,
        "contact_id": ada.public_id,
        "user": {"id": owner.pk, "email": owner.email},
        "user_guid": guid_of(owner, workspace),
        "state": "active",
        "current_step_id": cadence.steps.get(order=1).pk,
        "current_step_order": 1,
        "current_action_id": action.public_id,
        "stop_reason": None,
        "stop_note": "",
        "started_at": enrollment["started_at"],
        "finished_at": None,
        "created_at": enrollment["created_at"],
        "updated_at": enrollment["updated_at"],
    }
    assert action.params["subject"] == "Hi Ada"
    assert (
        owner_client.get(f"/v1/enrollments/{enrollment['id']}").json()["enrollment"] == enrollment
    )
    # The action is an ordinary action on /v1/actions.
    listed = owner_client.get("/v1/actions").json()["actions"]
    assert [a["id"] for a in listed] == [action.public_id]


def test_enrolling_twice_is_a_409(owner_client, cadence, ada):
    assert (
        owner_client.post(
            enroll_url(cadence), {"contact_id": ada.public_id}, format="json"
        ).status_code
        == 201
    )
    again = owner_client.post(enroll_url(cadence), {"contact_id": ada.public_id}, format="json")
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "already_enrolled"
    assert Action.objects.count() == 1


def test_enrolling_a_suppressed_contact_is_a_409_naming_the_reason(owner_client, cadence, ada):
    contact_services.contact_suppress(
        contact=ada, flag="do_not_contact", reason="legal hold", actor=Actor.system("t")
    )
    response = owner_client.post(enroll_url(cadence), {"contact_id": ada.public_id}, format="json")
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "contact_suppressed"
    assert "do not contact: legal hold" in error["message"]
    assert error["fields"] == {"contact_id": ["Suppressed: do not contact: legal hold."]}
    assert not Enrollment.objects.exists()


def test_enroll_refusals(owner_client, cadence, workspace, owner, make_contact, other_workspace):
    unknown = owner_client.post(enroll_url(cadence), {"contact_id": "ct_nope"}, format="json")
    assert unknown.status_code == 400
    assert set(unknown.json()["error"]["fields"]) == {"contact_id"}
    theirs = make_contact("t@example.com", other_workspace)
    elsewhere = owner_client.post(
        enroll_url(cadence), {"contact_id": theirs.public_id}, format="json"
    )
    assert elsewhere.status_code == 400
    empty = cadences.cadence_create(workspace=workspace, actor=Actor.for_user(owner), name="E")
    ada = make_contact("ada2@example.com", firstname="Ada")
    no_steps = owner_client.post(enroll_url(empty), {"contact_id": ada.public_id}, format="json")
    assert no_steps.status_code == 409
    assert no_steps.json()["error"]["code"] == "cadence_has_no_steps"
    bad_guid = owner_client.post(
        enroll_url(cadence), {"contact_id": ada.public_id, "user_guid": "nope"}, format="json"
    )
    assert set(bad_guid.json()["error"]["fields"]) == {"user_guid"}


def test_an_admin_enrolls_for_another_user_and_a_member_only_for_itself(
    owner_client, member_client, cadence, ada, make_contact, workspace, owner, member
):
    response = owner_client.post(
        enroll_url(cadence),
        {"contact_id": ada.public_id, "user_guid": guid_of(member, workspace)},
        format="json",
    )
    assert response.status_code == 201
    assert response.json()["enrollment"]["user"]["id"] == member.pk
    assert Action.objects.get().owner == member

    grace = make_contact("grace@example.com", firstname="Grace", phone="+14155550124")
    refused = member_client.post(
        enroll_url(cadence),
        {"contact_id": grace.public_id, "user_guid": guid_of(owner, workspace)},
        format="json",
    )
    assert refused.status_code == 403
    mine = member_client.post(enroll_url(cadence), {"contact_id": grace.public_id}, format="json")
    assert mine.status_code == 201


def test_members_see_only_their_own_enrollments(
    owner_client, member_client, cadence, ada, make_contact
):
    theirs = owner_client.post(enroll_url(cadence), {"contact_id": ada.public_id}, format="json")
    grace = make_contact("grace@example.com", firstname="Grace", phone="+14155550124")
    mine = member_client.post(enroll_url(cadence), {"contact_id": grace.public_id}, format="json")
    listed = member_client.get(enroll_url(cadence)).json()["enrollments"]
    assert [e["id"] for e in listed] == [mine.json()["enrollment"]["id"]]
    their_id = theirs.json()["enrollment"]["id"]
    assert member_client.get(f"/v1/enrollments/{their_id}").status_code == 404
    assert member_client.post(f"/v1/enrollments/{their_id}/stop").status_code == 404
    assert len(owner_client.get(enroll_url(cadence)).json()["enrollments"]) == 2


def test_the_enrollment_list_filters_and_runs_a_constant_number_of_queries(
    owner_client, cadence, make_contact, django_assert_num_queries
):
    contacts = [make_contact(f"p{n}@example.com", firstname="P") for n in range(6)]
    ids = []
    for contact in contacts[:1]:
        ids.append(
            owner_client.post(
                enroll_url(cadence), {"contact_id": contact.public_id}, format="json"
            ).json()["enrollment"]["id"]
        )
    one = queries_of(lambda: owner_client.get(enroll_url(cadence)))
    assert one >= 3  # (key lookup, cadence, count, page)
    for contact in contacts[1:]:
        ids.append(
            owner_client.post(
                enroll_url(cadence), {"contact_id": contact.public_id}, format="json"
            ).json()["enrollment"]["id"]
        )
    reset_queries()
    with django_assert_num_queries(one):
        assert len(owner_client.get(enroll_url(cadence)).json()["enrollments"]) == 6
    owner_client.post(f"/v1/enrollments/{ids[0]}/stop", {"reason": "manual"}, format="json")
    stopped = owner_client.get(f"{enroll_url(cadence)}?state=stopped").json()
    assert [e["id"] for e in stopped["enrollments"]] == [ids[0]]
    by_contact = owner_client.get(f"{enroll_url(cadence)}?contact_id={contacts[2].public_id}")
    assert [e["id"] for e in by_contact.json()["enrollments"]] == [ids[2]]
    assert owner_client.get(f"{enroll_url(cadence)}?state=paused").status_code == 400


def test_stop_answers_200_then_409(owner_client, cadence, ada):
    enrollment = owner_client.post(
        enroll_url(cadence), {"contact_id": ada.public_id}, format="json"
    ).json()["enrollment"]
    url = f"/v1/enrollments/{enrollment['id']}/stop"
    response = owner_client.post(
        url, {"reason": "meeting_booked", "note": "Demo Tue"}, format="json"
    )
    assert response.status_code == 200, response.json()
    stopped = response.json()["enrollment"]
    assert (stopped["state"], stopped["stop_reason"], stopped["stop_note"]) == (
        "stopped",
        "meeting_booked",
        "Demo Tue",
    )
    assert stopped["finished_at"] is not None
    assert Action.objects.get().status == ActionStatus.CANCELLED
    again = owner_client.post(url, {"reason": "manual"}, format="json")
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "enrollment_not_active"


def test_stop_takes_only_a_persons_reasons(owner_client, cadence, ada):
    enrollment = owner_client.post(
        enroll_url(cadence), {"contact_id": ada.public_id}, format="json"
    ).json()["enrollment"]
    response = owner_client.post(
        f"/v1/enrollments/{enrollment['id']}/stop", {"reason": "bounced"}, format="json"
    )
    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {"reason"}
    default = owner_client.post(f"/v1/enrollments/{enrollment['id']}/stop")
    assert default.json()["enrollment"]["stop_reason"] == "manual"


def test_cadence_ids_are_integers_in_the_path(owner_client):
    assert owner_client.get("/v1/cadences/abc").status_code == 404
    assert Cadence.objects.count() == 0


@pytest.mark.parametrize(
    "path", ["/v1/cadences", "/v1/cadences/{id}/steps", "/v1/cadences/{id}/enrollments"]
)
def test_a_skip_past_the_cap_is_a_400_naming_skip(owner_client, cadence, path):
    response = owner_client.get(path.format(id=cadence.pk), {"skip": "100000000000000000000"})
    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["skip"]


def test_step_numbers_beyond_their_columns_are_400s_naming_them(owner_client, cadence):
    # Found by `make fuzz`: an order of 489021493842129649664 reached PostgreSQL
    # ("integer out of range", a 500).
    url = f"/v1/cadences/{cadence.pk}/steps"
    body = {"type": "other", "params_template": {"note": "Call"}}
    for field, value in (("order", 2**69), ("order", 10_001), ("multitouch_group_id", 2**63)):
        response = owner_client.post(url, {**body, field: value}, format="json")
        assert response.status_code == 400, (field, value)
        assert set(response.json()["error"]["fields"]) == {field}
    step = cadence.steps.order_by("order").first()
    response = owner_client.patch(f"{url}/{step.pk}", {"order": 2**40}, format="json")
    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {"order"}


def test_a_step_delete_is_documented_as_the_200_it_answers(client):
    # It answers 200 with {"status": "success", "deleted": id}; the document said 204.
    schema = client.get("/api/schema/?format=json").json()
    responses = schema["paths"]["/v1/cadences/{cadence_id}/steps/{step_id}"]["delete"]["responses"]
    assert "200" in responses
    assert "204" not in responses


# --- The template vocabulary --------------------------------------------------------------
def test_an_unknown_variable_is_a_400_naming_the_key_and_the_variable(owner_client, cadence):
    # It rendered "Hi ," for every contact before, with only a worker log line.
    url = f"/v1/cadences/{cadence.pk}/steps"
    response = owner_client.post(
        url,
        {"type": "email", "params_template": {"subject": "s", "body": "{{ contact.frist_name }}"}},
        format="json",
    )
    assert response.status_code == 400, response.json()
    assert response.json()["error"]["fields"] == {
        "params_template.body": [
            "Unknown variable 'contact.frist_name' (did you mean 'contact.firstname'?)."
        ]
    }
    step = cadence.steps.get(order=1)
    patched = owner_client.patch(
        f"{url}/{step.pk}",
        {"params_template": {"subject": "{{ endUser.nmae }}", "body": "b"}},
        format="json",
    )
    assert patched.status_code == 400
    assert patched.json()["error"]["fields"] == {
        "params_template.subject": [
            "Unknown variable 'endUser.nmae' (did you mean 'endUser.name'?)."
        ]
    }
    assert cadence.steps.count() == 2
    step.refresh_from_db()
    assert step.params_template == EMAIL


def test_both_vocabularies_are_accepted_and_render_alike(owner_client, cadence, ada):
    url = f"/v1/cadences/{cadence.pk}/steps"
    both = {
        "subject": "{{ contact.firstname }} / {{ endUser.firstName }}",
        "body": "{{ contact.firstName }} {{ endUser.firstname }} {{ endUser.contactId }}",
    }
    step = cadence.steps.get(order=1)
    response = owner_client.patch(f"{url}/{step.pk}", {"params_template": both}, format="json")
    assert response.status_code == 200, response.json()
    owner_client.post(enroll_url(cadence), {"contact_id": ada.public_id}, format="json")
    params = Action.objects.get().params
    assert params["subject"] == "Ada / Ada"
    assert params["body"] == f"Ada Ada {ada.public_id}"


def test_a_custom_property_is_known_once_a_contact_carries_it(owner_client, cadence, make_contact):
    url = f"/v1/cadences/{cadence.pk}/steps"
    step = {"type": "email", "params_template": {"subject": "s", "body": "On {{ contact.plan }}"}}
    refused = owner_client.post(url, step, format="json")
    assert refused.json()["error"]["fields"] == {
        "params_template.body": ["Unknown variable 'contact.plan'."]
    }
    # Saying it may be missing is enough, before any contact has it...
    guarded = {"subject": "s", "body": "{{ contact.plan | default('your plan') }}"}
    response = owner_client.post(url, {"type": "email", "params_template": guarded}, format="json")
    assert response.status_code == 201, response.json()
    # ...and once one does, it is a property of the workspace.
    make_contact("grace@example.com", plan="pro")
    assert owner_client.post(url, step, format="json").status_code == 201
