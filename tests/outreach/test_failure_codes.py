"""Action.failure_code: set by every cause of failure, read by cadences instead
of the error text, shown on the /v1 action object and in the admin."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.actors import Actor
from config.queue import PermanentError, TransientError
from contacts import services as contact_services
from outreach import services
from outreach.execution import (
    action_claim_due,
    action_execute,
    action_reclaim_expired,
    actions_process_now,
    batch_start,
)
from outreach.executors import ExecutionResult, PermanentCode
from outreach.models import Action, ActionStatus, EnrollmentState, FailureCode, StopReason
from outreach.services import cadences
from tests.admin_helpers import grant, logged_in
from tests.outreach import PHONE
from tests.smtp_server import running_smtp_server

pytestmark = pytest.mark.django_db


def run_one(action: Action) -> str:
    Action.objects.filter(pk=action.pk).update(scheduled_time=timezone.now())
    [claim] = action_claim_due(limit=10, action_ids=[action.pk])
    return action_execute(action_id=claim.action_id, lease_token=claim.lease_token).status


def code_of(action: Action) -> str:
    action.refresh_from_db()
    return action.failure_code


def test_the_executors_codes_are_failure_codes():
    codes = {v for k, v in vars(PermanentCode).items() if not k.startswith("_")}
    assert codes <= set(FailureCode.values)


# --- the engine ---------------------------------------------------------------------
def test_a_suppressed_contact_fails_with_suppressed(scripted, due_sms, make_contact):
    scripted()
    contact = make_contact("john@example.com", phone=PHONE)
    contact_services.contact_suppress(
        contact=contact, flag="unsubscribed", reason="asked", actor=Actor.system("t")
    )
    action = due_sms()
    assert run_one(action) == "failed"
    assert code_of(action) == FailureCode.SUPPRESSED


@pytest.mark.parametrize("code", [PermanentCode.INVALID_RECIPIENT, PermanentCode.PROVIDER_REJECTED])
def test_a_permanent_errors_code_is_the_failure_code(scripted, due_sms, code):
    scripted(PermanentError("refused", code=code))
    action = due_sms()
    assert run_one(action) == "failed"
    assert code_of(action) == code
    assert action.error_message == "refused"


def test_a_permanent_error_without_a_code_is_other(scripted, due_sms):
    scripted(PermanentError("something final"))
    action = due_sms()
    assert run_one(action) == "failed"
    assert code_of(action) == FailureCode.OTHER


def test_exhausted_retries_give_up(scripted, due_sms, settings):
    settings.ACTION_MAX_RETRIES = 1
    scripted(TransientError("timeout"), TransientError("timeout"))
    action = due_sms()
    assert run_one(action) == "retrying"
    assert code_of(action) == ""  # retrying is not failed
    assert run_one(action) == "failed"
    assert code_of(action) == FailureCode.GAVE_UP


def test_an_executor_that_keeps_crashing_gives_up(scripted, due_sms, settings):
    settings.ACTION_MAX_RETRIES = 0
    scripted(ValueError("bug"))
    action = due_sms()
    assert run_one(action) == "failed"
    assert code_of(action) == FailureCode.GAVE_UP
    assert action.error_message == "Gave up after 1 attempts: ValueError: bug"


def test_leases_lost_past_the_retry_limit_give_up(scripted, due_sms, settings):
    settings.ACTION_MAX_RETRIES = 0
    scripted()
    action = due_sms()
    [claim] = action_claim_due(limit=1, action_ids=[action.pk])
    batch_start(claim.lease_token, [action.pk], "w1")  # the worker dies mid-send
    Action.objects.filter(pk=action.pk).update(
        lease_expires_at=timezone.now() - dt.timedelta(seconds=1)
    )
    assert action_reclaim_expired() == 1
    assert code_of(action) == FailureCode.GAVE_UP
    assert action.error_message == "Gave up after 1 attempts (lost)."


def test_a_retried_action_loses_its_failure_code_and_a_completed_one_has_none(
    scripted, due_sms, owner
):
    scripted(PermanentError("refused", code=PermanentCode.PROVIDER_REJECTED))
    action = due_sms()
    assert run_one(action) == "failed"
    services.action_retry(action=action, actor=Actor.for_user(owner))
    assert code_of(action) == ""
    assert run_one(action) == "completed"
    assert code_of(action) == ""


# --- the executors' codes through the engine ------------------------------------------
@pytest.mark.parametrize(
    ("to", "code"),
    [
        ("+15005550001", FailureCode.INVALID_RECIPIENT),  # 21211 invalid 'To'
        ("+15005550009", FailureCode.INVALID_RECIPIENT),  # 21614 not a mobile
        ("+15005550004", FailureCode.PROVIDER_REJECTED),  # 21610 blocked by the recipient
    ],
)
def test_twilios_rejections_are_coded(twilio, make_action, sms_identity, to, code):
    action = make_action(
        type="send_sms",
        identity=sms_identity,
        params={"recipient_phone": to, "message": "Hi"},
        require_approval=False,
    )
    assert run_one(action) == "failed"
    assert code_of(action) == code


def test_twilio_without_credentials_or_with_wrong_ones_is_not_configured(twilio, due_sms, settings):
    settings.TWILIO_AUTH_TOKEN = "not-the-token"
    wrong = due_sms()
    assert run_one(wrong) == "failed"
    settings.TWILIO_AUTH_TOKEN = ""
    missing = due_sms()
    assert run_one(missing) == "failed"
    assert code_of(wrong) == code_of(missing) == FailureCode.NOT_CONFIGURED


@pytest.mark.parametrize(
    ("stage", "smtp_code", "code"),
    [("rcpt", 550, FailureCode.INVALID_RECIPIENT), ("data", 554, FailureCode.PROVIDER_REJECTED)],
)
def test_smtp_refusals_are_coded(settings, make_action, stage, smtp_code, code):
    with running_smtp_server(settings) as smtp:
        smtp.fail_next(1, code=smtp_code, message="no", stage=stage)
        action = make_action(require_approval=False)
        assert run_one(action) == "failed"
    assert code_of(action) == code


# --- cadences read the code, not the text -----------------------------------------------
@pytest.fixture
def one_step_enrollment(workspace, owner, sms_identity, make_contact):
    actor = Actor.for_user(owner)
    cadence = cadences.cadence_create(workspace=workspace, actor=actor, name="One SMS")
    cadences.step_create(cadence=cadence, type="sms", day=1, params_template={"message": "Hi"})
    contact = make_contact("ada@example.com", phone=PHONE)
    return cadences.enrollment_create(
        workspace=workspace, actor=actor, cadence=cadence, contact=contact
    )


def test_a_failure_whose_text_says_suppressed_is_not_a_suppression_stop(
    scripted, one_step_enrollment
):
    def bounce_then_refuse(context):
        # The contact bounces meanwhile, but this failure is the provider's own.
        type(context.contact).objects.filter(pk=context.contact.pk).update(bounced=True)
        return PermanentError(
            "Provider: recipient on our suppressed list", code=PermanentCode.PROVIDER_REJECTED
        )

    scripted(bounce_then_refuse)
    action = one_step_enrollment.actions.get()
    assert run_one(action) == "failed"
    one_step_enrollment.refresh_from_db()
    assert one_step_enrollment.state == EnrollmentState.STOPPED
    assert one_step_enrollment.stop_reason == StopReason.STEP_FAILED


def test_a_suppressed_failure_stops_with_the_contacts_flag(scripted, one_step_enrollment):
    scripted()
    action = one_step_enrollment.actions.get()
    contact = one_step_enrollment.contact
    type(contact).objects.filter(pk=contact.pk).update(do_not_contact=True)
    assert run_one(action) == "failed"
    one_step_enrollment.refresh_from_db()
    assert one_step_enrollment.stop_reason == StopReason.DO_NOT_CONTACT


# --- where it shows -----------------------------------------------------------------------
def test_the_v1_action_object_shows_the_failure_code(scripted, due_sms, owner_client):
    scripted(PermanentError("refused", code=PermanentCode.INVALID_RECIPIENT))
    failed, scheduled = due_sms(), due_sms()
    assert run_one(failed) == "failed"

    body = owner_client.get(f"/v1/actions/{failed.public_id}").json()
    assert body["action"]["failure_code"] == "invalid_recipient"
    assert body["action"]["error_message"] == "refused"
    assert (
        owner_client.get(f"/v1/actions/{scheduled.public_id}").json()["action"]["failure_code"]
        is None
    )
    listed = owner_client.get("/v1/actions").json()["actions"]
    assert {a["id"]: a["failure_code"] for a in listed} == {
        failed.public_id: "invalid_recipient",
        scheduled.public_id: None,
    }


def test_the_schema_documents_the_failure_code_as_a_nullable_enum():
    schema = APIClient().get("/api/schema/?format=json").json()
    field = schema["components"]["schemas"]["Action"]["properties"]["failure_code"]
    assert field.get("readOnly") is True
    assert field.get("nullable") is True
    ref = next(item["$ref"] for item in field["oneOf"] if "$ref" in item)
    enum = schema["components"]["schemas"][ref.rsplit("/", 1)[-1]]["enum"]
    assert set(enum) == set(FailureCode.values)


def test_the_admins_action_page_shows_the_failure_code(scripted, due_sms, owner):
    grant(owner, "approve_action")
    scripted(PermanentError("refused", code=PermanentCode.PROVIDER_REJECTED))
    action = due_sms()
    assert run_one(action) == "failed"

    page = logged_in(owner).get(f"/admin/outreach/action/{action.pk}/change/").content.decode()
    assert "field-failure_code" in page
    assert "Rejected by the provider" in page


def test_process_outcomes_carry_the_actions_public_ids(scripted, due_sms, workspace):
    scripted(ExecutionResult("SM1"), PermanentError("no", code=PermanentCode.INVALID_ACTION))
    made = [due_sms(), due_sms()]
    outcomes = actions_process_now(workspace=workspace, limit=10)
    assert sorted(o.public_id for o in outcomes) == sorted(a.public_id for a in made)
    assert {o.status for o in outcomes} == {"completed", "failed"}
    assert ActionStatus.FAILED in set(Action.objects.values_list("status", flat=True))
