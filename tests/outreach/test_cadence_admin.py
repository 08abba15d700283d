"""Cadences (with steps inline) and enrollments in the admin, through Django's
test client: saves go through outreach.services.cadences, tenancy holds, and "Stop
selected enrollments" stops through the service."""

from __future__ import annotations

import json

import pytest

from accounts.actors import Actor
from outreach import step_templates
from outreach.models import Action, ActionStatus, Cadence, Enrollment, Step
from outreach.services import cadences
from tests.admin_helpers import grant, logged_in, messages_of

pytestmark = pytest.mark.django_db

CADENCES = "/admin/outreach/cadence/"
ENROLLMENTS = "/admin/outreach/enrollment/"
EMAIL = {"subject": "Hi {{ contact.firstname }}", "body": "Hello!"}
PERMS = [
    "add_cadence",
    "change_cadence",
    "view_cadence",
    "add_step",
    "change_step",
    "delete_step",
    "view_step",
    "view_enrollment",
    "change_enrollment",
]


@pytest.fixture
def staff(owner):
    grant(owner, *PERMS)
    return logged_in(owner)


@pytest.fixture
def cadence(workspace, owner, email_identity):
    cadence = cadences.cadence_create(workspace=workspace, actor=Actor.for_user(owner), name="Q3")
    cadences.step_create(cadence=cadence, type="email", params_template=EMAIL)
    cadences.step_create(cadence=cadence, type="other", day=2, name="Call")
    return cadence


@pytest.fixture
def enrollment(workspace, owner, cadence, make_contact):
    ada = make_contact("ada@example.com", firstname="Ada")
    return cadences.enrollment_create(
        workspace=workspace, actor=Actor.for_user(owner), cadence=cadence, contact=ada
    )


def step_rows(rows: list[dict], *, initial: int = 0) -> dict:
    data = {
        "steps-TOTAL_FORMS": str(len(rows)),
        "steps-INITIAL_FORMS": str(initial),
        "steps-MIN_NUM_FORMS": "0",
        "steps-MAX_NUM_FORMS": "1000",
    }
    for n, row in enumerate(rows):
        for key, value in row.items():
            if isinstance(value, bool):
                if value:
                    data[f"steps-{n}-{key}"] = "on"
            else:
                data[f"steps-{n}-{key}"] = "" if value is None else str(value)
    return data


def step_row(**fields) -> dict:
    row = {
        "order": "",
        "day": 1,
        "type": "email",
        "name": "",
        "params_template": '{"subject": "Hi {{ contact.firstname }}", "body": "Hello!"}',
        "identity": "",
        "require_approval": False,
        "multitouch_group_id": "",
    }
    row.update(fields)
    return row


def existing_rows(cadence: Cadence, **changes_by_order) -> list[dict]:
    rows = []
    for step in cadence.steps.order_by("order"):
        row = step_row(
            id=step.pk,
            cadence=cadence.pk,
            order=step.order,
            day=step.day,
            type=step.type,
            name=step.name,
            params_template=json.dumps(step.params_template),
            identity=step.identity_id or "",
            require_approval=step.require_approval,
        )
        row.update(changes_by_order.get(f"step{step.order}", {}))
        rows.append(row)
    return rows


def test_it_creates_a_cadence_with_steps_through_the_services(staff, workspace, owner):
    data = {
        "workspace": workspace.pk,
        "name": "Inbound",
        "owner": owner.pk,
        "sharing": "team",
        "is_active": "on",
        **step_rows([step_row(), step_row(type="other", day=3, name="Call", params_template="")]),
    }
    response = staff.post(f"{CADENCES}add/", data)
    assert response.status_code == 302, response.context["errors"] if response.context else ""
    cadence = Cadence.objects.get()
    assert (cadence.name, cadence.owner, cadence.workspace) == ("Inbound", owner, workspace)
    steps = list(cadence.steps.order_by("order").values_list("order", "type", "day", "workspace"))
    assert steps == [(1, "email", 1, workspace.pk), (2, "other", 3, workspace.pk)]


def test_a_bad_template_shows_on_its_field_and_nothing_is_saved(staff, workspace, owner):
    data = {
        "workspace": workspace.pk,
        "name": "Broken",
        "owner": owner.pk,
        "sharing": "team",
        "is_active": "on",
        **step_rows([step_row(params_template='{"subject": "Hi {{ contact.firstname"}')]),
    }
    response = staff.post(f"{CADENCES}add/", data)
    assert response.status_code == 200
    [formset] = response.context["inline_admin_formsets"]
    errors = formset.formset.forms[0].errors
    assert "params_template" in errors
    text = " ".join(errors["params_template"])
    assert "params_template.subject" in text and "params_template.body" in text
    assert not Cadence.objects.exists()
    assert not Step.objects.exists()


def test_the_change_page_lists_steps_in_order_and_edits_them(staff, cadence, email_identity):
    page = staff.get(f"{CADENCES}{cadence.pk}/change/")
    assert page.status_code == 200
    [formset] = page.context["inline_admin_formsets"]
    assert [f.instance.order for f in formset.formset.forms if f.instance.pk] == [1, 2]
    # Swap the two steps' orders and rename the cadence in one save.
    data = {
        "name": "Q3 v2",
        "owner": cadence.owner_id,
        "sharing": "team",
        "is_active": "on",
        **step_rows(existing_rows(cadence, step1={"order": 2}, step2={"order": 1}), initial=2),
    }
    response = staff.post(f"{CADENCES}{cadence.pk}/change/", data)
    assert response.status_code == 302, response.context["errors"] if response.context else ""
    cadence.refresh_from_db()
    assert cadence.name == "Q3 v2"
    assert list(cadence.steps.order_by("order").values_list("type", flat=True)) == [
        "other",
        "email",
    ]


def test_a_step_in_use_cannot_be_deleted_in_the_admin(staff, cadence, enrollment):
    rows = existing_rows(cadence, step1={"DELETE": True})
    data = {
        "name": "Q3",
        "owner": cadence.owner_id,
        "sharing": "team",
        "is_active": "on",
        **step_rows(rows, initial=2),
    }
    response = staff.post(f"{CADENCES}{cadence.pk}/change/", data)
    assert response.status_code == 200
    assert "current step of active enrollments" in str(
        response.context["inline_admin_formsets"][0].formset.non_form_errors()
    )
    assert cadence.steps.count() == 2


def test_unchecking_active_stops_the_enrollments(staff, cadence, enrollment):
    data = {
        "name": "Q3",
        "owner": cadence.owner_id,
        "sharing": "team",
        **step_rows(existing_rows(cadence), initial=2),
    }
    response = staff.post(f"{CADENCES}{cadence.pk}/change/", data)
    assert response.status_code == 302
    enrollment.refresh_from_db()
    assert (enrollment.state, enrollment.stop_reason) == ("stopped", "cadence_deactivated")
    assert Action.objects.get().status == ActionStatus.CANCELLED


def test_another_workspaces_cadences_and_choices_are_hidden(
    staff, cadence, other_workspace, outsider, workspace
):
    theirs = cadences.cadence_create(
        workspace=other_workspace, actor=Actor.for_user(outsider), name="Theirs"
    )
    listed = staff.get(CADENCES)
    assert [c.name for c in listed.context["cl"].result_list] == ["Q3"]
    assert staff.get(f"{CADENCES}{theirs.pk}/change/").status_code == 302  # "doesn't exist"
    add = staff.get(f"{CADENCES}add/")
    workspaces = list(add.context["adminform"].form.fields["workspace"].queryset)
    assert workspaces == [workspace]
    [formset] = add.context["inline_admin_formsets"]
    identities = formset.formset.forms[0].fields["identity"].queryset
    assert {i.workspace_id for i in identities} == {workspace.pk}


def test_enrollments_are_listed_with_filters(staff, enrollment, cadence, workspace, owner):
    other = cadences.cadence_create(workspace=workspace, actor=Actor.for_user(owner), name="B")
    cadences.step_create(cadence=other, type="other")
    second = cadences.enrollment_create(
        workspace=workspace, actor=Actor.for_user(owner), cadence=other, contact=enrollment.contact
    )
    cadences.enrollment_stop(enrollment=second, reason="meeting_booked", actor=Actor.system("t"))

    def listed(query: str) -> list[int]:
        response = staff.get(f"{ENROLLMENTS}?{query}")
        assert response.status_code == 200
        return [e.pk for e in response.context["cl"].result_list]

    assert sorted(listed("")) == sorted([enrollment.pk, second.pk])
    assert listed("state__exact=active") == [enrollment.pk]
    assert listed("stop_reason__exact=meeting_booked") == [second.pk]
    assert listed(f"cadence__id__exact={cadence.pk}") == [enrollment.pk]
    page = staff.get(f"{ENROLLMENTS}{enrollment.pk}/change/")
    assert page.status_code == 200
    assert Action.objects.get(enrollment=enrollment).public_id in page.content.decode()


def test_stop_selected_enrollments_stops_through_the_service(staff, enrollment):
    response = staff.post(
        ENROLLMENTS,
        {"action": "stop_enrollments", "_selected_action": [enrollment.pk]},
        follow=True,
    )
    assert response.status_code == 200
    assert "Stopped 1 enrollment." in messages_of(response)
    enrollment.refresh_from_db()
    assert (enrollment.state, enrollment.stop_reason) == ("stopped", "manual")
    assert "alice@example.org" in enrollment.stop_note
    assert Action.objects.get().status == ActionStatus.CANCELLED
    again = staff.post(
        ENROLLMENTS,
        {"action": "stop_enrollments", "_selected_action": [enrollment.pk]},
        follow=True,
    )
    assert "1 already ended: nothing was changed for them." in messages_of(again)


def test_stopping_needs_the_change_permission(owner, enrollment):
    grant(owner, "view_enrollment")
    client = logged_in(owner)
    page = client.get(ENROLLMENTS)
    assert "stop_enrollments" not in page.content.decode()
    client.post(ENROLLMENTS, {"action": "stop_enrollments", "_selected_action": [enrollment.pk]})
    enrollment.refresh_from_db()
    assert enrollment.state == "active"


def test_another_workspaces_enrollments_are_hidden(
    staff, enrollment, other_workspace, outsider, make_contact
):
    from outreach import services

    services.identity_create(
        workspace=other_workspace, channel="email", address="x@globex.example.com"
    )
    theirs_cadence = cadences.cadence_create(
        workspace=other_workspace, actor=Actor.for_user(outsider), name="Theirs"
    )
    cadences.step_create(cadence=theirs_cadence, type="other")
    theirs = cadences.enrollment_create(
        workspace=other_workspace,
        actor=Actor.for_user(outsider),
        cadence=theirs_cadence,
        contact=make_contact("t@example.com", other_workspace),
    )
    listed = staff.get(ENROLLMENTS)
    assert [e.pk for e in listed.context["cl"].result_list] == [enrollment.pk]
    staff.post(ENROLLMENTS, {"action": "stop_enrollments", "_selected_action": [theirs.pk]})
    assert Enrollment.objects.get(pk=theirs.pk).state == "active"


def test_a_superuser_outside_the_workspace_creates_an_ownerless_team_cadence(workspace, outsider):
    from django.contrib.auth import get_user_model

    root = get_user_model().objects.create_superuser("root", "root@example.org", "pw")
    client = logged_in(root)
    base = {"workspace": workspace.pk, "name": "Ops", "sharing": "team", "is_active": "on"}
    refused = client.post(
        f"{CADENCES}add/", {**base, "owner": outsider.pk, **step_rows([step_row(type="other")])}
    )
    assert refused.status_code == 200
    assert refused.context["adminform"].form.errors["owner"] == ["Not a member of this workspace."]
    response = client.post(f"{CADENCES}add/", {**base, **step_rows([])})
    assert response.status_code == 302
    cadence = Cadence.objects.get()
    assert (cadence.owner, cadence.workspace) == (None, workspace)


# --- The template vocabulary and the preview ---------------------------------------------------
def change_data(cadence: Cadence, **changes_by_order) -> dict:
    return {
        "name": cadence.name,
        "owner": cadence.owner_id,
        "sharing": "team",
        "is_active": "on",
        **step_rows(existing_rows(cadence, **changes_by_order), initial=cadence.steps.count()),
    }


def test_an_unknown_variable_shows_on_the_template_and_nothing_is_saved(staff, cadence):
    typo = '{"subject": "Hi {{ contact.frist_name }}", "body": "Hello!"}'
    response = staff.post(
        f"{CADENCES}{cadence.pk}/change/", change_data(cadence, step1={"params_template": typo})
    )
    assert response.status_code == 200
    [formset] = response.context["inline_admin_formsets"]
    assert formset.formset.forms[0].errors["params_template"] == [
        "params_template.subject: Unknown variable 'contact.frist_name' "
        "(did you mean 'contact.firstname'?)."
    ]
    assert cadence.steps.get(order=1).params_template == EMAIL


def test_the_steps_of_a_save_are_checked_against_one_vocabulary(staff, cadence, monkeypatch):
    calls = []
    real = step_templates.custom_property_names
    monkeypatch.setattr(
        step_templates, "custom_property_names", lambda ws: calls.append(ws) or real(ws)
    )
    typo = '{"subject": "Hi {{ contact.frist_name }}", "body": "Hello!"}'
    response = staff.post(
        f"{CADENCES}{cadence.pk}/change/", change_data(cadence, step1={"params_template": typo})
    )
    assert response.status_code == 200
    assert len(response.context["inline_admin_formsets"][0].formset.forms) == 2
    # Once for the formset's checks of every step, once for the page's previews.
    assert calls == [cadence.workspace_id] * 2


def test_the_change_page_previews_each_step_for_the_first_contact(staff, cadence, make_contact):
    page = staff.get(f"{CADENCES}{cadence.pk}/change/")
    assert "Jane Doe" in page.context["preview_for"]  # no contact yet: the built-in sample
    assert dict(page.context["step_previews"][0]["params"])["subject"] == "Hi Jane"

    make_contact("ada@example.com", firstname="Ada")
    page = staff.get(f"{CADENCES}{cadence.pk}/change/")
    email, task = page.context["step_previews"]
    assert page.context["preview_for"] == "Ada <ada@example.com>, the workspace's first contact"
    assert dict(email["params"]) == {"to": "ada@example.com", "subject": "Hi Ada", "body": "Hello!"}
    assert dict(task["params"]) == {"title": "Call"}
    html = page.content.decode()
    assert 'id="step-preview"' in html and "Hi Ada" in html
    assert f'formaction="{CADENCES}{cadence.pk}/preview/"' in html


def test_the_preview_button_renders_the_unsaved_steps_and_saves_nothing(
    staff, cadence, make_contact
):
    make_contact("ada@example.com", firstname="Ada")
    edited = '{"subject": "Hello {{ endUser.firstName }}", "body": "From {{ sender.name }}"}'
    typo = '{"title": "{{ step.nmae }}"}'
    data = change_data(cadence, step1={"params_template": edited}, step2={"params_template": typo})
    response = staff.post(f"{CADENCES}{cadence.pk}/preview/", data)
    assert response.status_code == 200
    email, task = response.context["step_previews"]
    assert dict(email["params"])["subject"] == "Hello Ada"
    assert task["errors"] == [
        (
            "params_template",
            "params_template.title: Unknown variable 'step.nmae' (did you mean 'step.name'?).",
        )
    ]
    assert cadence.steps.get(order=1).params_template == EMAIL  # nothing saved
    assert staff.get(f"{CADENCES}{cadence.pk}/preview/").status_code == 302  # POST only


def test_the_preview_needs_the_change_permission(owner, cadence):
    grant(owner, "view_cadence", "view_step")
    viewer = logged_in(owner)
    assert viewer.get(f"{CADENCES}{cadence.pk}/change/").status_code == 200
    assert viewer.post(f"{CADENCES}{cadence.pk}/preview/", change_data(cadence)).status_code == 403
