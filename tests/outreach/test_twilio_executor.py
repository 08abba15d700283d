"""The Twilio executors (send_sms, call_contact) against a fake Twilio on loopback."""

from __future__ import annotations

import json
import os
import re
import select
import signal
import time
from collections import Counter
from email.utils import formatdate
from xml.etree import ElementTree

import pytest

from config.queue import PermanentError, TransientError, parse_retry_after
from contacts.models import Conversation, ConversationStatus, Direction, Message
from outreach import services as outreach_services
from outreach.executors import (
    ExecutionContext,
    Prepared,
    executor_for,
    idempotency_key_for,
    is_sending,
    pooled_http,
)
from tests.fakes import unused_url
from tests.fakes.twilio import FakeTwilio, segments
from tests.outreach import context_of, sends_from_threads

JANE = "+14155550123"


@pytest.fixture
def twilio(twilio):
    """The conftest's fake Twilio, whose own code must raise nothing."""
    yield twilio
    assert twilio.errors == []


@pytest.fixture
def phone_identity(workspace, owner):
    return outreach_services.identity_create(
        workspace=workspace,
        channel="phone",
        address="+14155550101",
        display_name="Acme Sales",
        owner=owner,
    )


@pytest.fixture
def send_sms(make_action, sms_identity):
    def make(to: str = JANE, message: str = "Hi Jane, quick question?", **params):
        return make_action(
            type="send_sms",
            identity=sms_identity,
            params={"recipient_phone": to, "message": message, **params},
            require_approval=False,
        )

    return make


@pytest.fixture
def call_contact(make_action, phone_identity):
    def make(to: str = JANE, **params):
        return make_action(
            type="call_contact",
            identity=phone_identity,
            params={"recipient_phone": to, **params},
            require_approval=False,
        )

    return make


def run(action, attempt: int = 1):
    context = ExecutionContext(
        action=action,
        identity=action.identity,
        contact=action.contact,
        attempt=attempt,
        idempotency_key=idempotency_key_for(action),
    )
    return executor_for(action.type).execute(context)


def say_text(twiml: str) -> str:
    response = ElementTree.fromstring(twiml)  # noqa: S314 - our own output
    assert response.tag == "Response"
    [say] = response
    assert say.tag == "Say"
    return say.text


# --- SMS -----------------------------------------------------------------------------
def test_it_sends_an_sms_with_twilios_form_fields_and_basic_auth(twilio, send_sms):
    action = send_sms(message="Hi Jane & co, 50% off <today>")

    result = run(action)

    [sent] = twilio.messages
    assert sent.form == {
        "To": JANE,
        "From": "+14155550100",
        "Body": "Hi Jane & co, 50% off <today>",
    }
    assert sent.auth == (twilio.account_sid, twilio.auth_token)
    assert sent.content_type.startswith("application/x-www-form-urlencoded")
    assert "i-twilio-idempotency-token" not in sent.headers  # not a REST API feature
    assert re.fullmatch(r"SM[0-9a-f]{32}", result.provider_message_id)
    assert result.provider_message_id == sent.sid
    assert result.detail["status"] == "queued"


def test_the_fake_answers_with_a_twilio_shaped_message(twilio, send_sms):
    run(send_sms(message="Hello"))

    data = twilio.messages[0].response
    assert data["status"] == "queued"
    assert data["account_sid"] == twilio.account_sid
    assert data["uri"] == f"/2010-04-01/Accounts/{twilio.account_sid}/Messages/{data['sid']}.json"
    assert data["date_created"].endswith("+0000")
    assert (data["to"], data["from"], data["body"], data["num_segments"]) == (
        JANE,
        "+14155550100",
        "Hello",
        "1",
    )


def test_segments_are_counted_as_twilio_bills_them():
    assert segments("a" * 160) == 1
    assert segments("a" * 161) == 2
    assert segments("é" * 70) == 1  # é is in GSM 03.38
    assert segments("ł" * 71) == 2  # ł is not: UCS-2, 67 per part
    assert segments("€" * 80) == 1  # extension characters count twice


def test_it_sends_the_status_callback_when_configured(twilio, send_sms, settings):
    settings.TWILIO_STATUS_CALLBACK_URL = "https://hub.example.com/twilio/status"

    run(send_sms())

    assert twilio.messages[0].form["StatusCallback"] == "https://hub.example.com/twilio/status"


# --- calls ---------------------------------------------------------------------------
def test_a_call_says_the_script_in_escaped_twiml(twilio, call_contact):
    script = 'Press 1 if <urgent> & "ready" — or hang up'

    result = run(call_contact(script=script))

    [call] = twilio.calls
    assert call.form["To"] == JANE
    assert call.form["From"] == "+14155550101"
    assert call.form["Twiml"] == (
        '<Response><Say>Press 1 if &lt;urgent&gt; &amp; "ready" — or hang up</Say></Response>'
    )
    assert say_text(call.form["Twiml"]) == script
    assert re.fullmatch(r"CA[0-9a-f]{32}", result.provider_message_id)
    assert result.provider_message_id == call.sid


def test_a_call_without_a_script_greets_the_recipient_by_name(twilio, call_contact):
    run(call_contact(recipient_name="Jane O'Brien & Sons"))

    say = say_text(twilio.calls[0].form["Twiml"])
    assert say == "Hello Jane O'Brien & Sons. This is Acme Sales calling."


def test_control_characters_are_dropped_so_the_twiml_stays_well_formed(twilio, call_contact):
    run(call_contact(script="Hi\x0b there\x1b"))

    assert say_text(twilio.calls[0].form["Twiml"]) == "Hi there"


def test_a_script_over_twilios_twiml_limit_fails_without_calling(twilio, call_contact):
    with pytest.raises(PermanentError, match="32018"):
        run(call_contact(script="word " * 800))

    assert twilio.attempts == []


# --- errors --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("to", "code"),
    [("+15005550001", 21211), ("+15005550004", 21610), ("+15005550009", 21614)],
)
def test_a_rejected_recipient_fails_permanently_with_twilios_code_and_stores_nothing(
    twilio, send_sms, make_contact, to, code
):
    make_contact("magic@example.com", phone=to)
    action = send_sms(to=to)
    assert action.contact is not None

    with pytest.raises(PermanentError) as caught:
        run(action)

    assert f"Twilio error {code}:" in caught.value.message
    assert "(HTTP 400)" in caught.value.message
    assert caught.value.detail["twilio_code"] == code
    assert caught.value.detail["more_info"] == f"https://www.twilio.com/docs/errors/{code}"
    assert twilio.accepted == []
    assert not Message.objects.exists()
    assert not Conversation.objects.exists()


def test_an_invalid_call_recipient_fails_permanently(twilio, call_contact):
    twilio.reject(JANE, 21211, "The 'To' number is not a valid phone number.")

    with pytest.raises(PermanentError, match="Twilio error 21211"):
        run(call_contact())


def test_a_429_is_transient_and_honours_retry_after(twilio, send_sms):
    action = send_sms()
    twilio.fail_next(1, 429, retry_after=7)

    with pytest.raises(TransientError) as caught:
        run(action)

    assert caught.value.retry_after == 7
    assert caught.value.detail["twilio_code"] == 20429
    assert caught.value.detail["outcome"] == "not_sent"  # Twilio never processes a 429
    assert twilio.accepted == []
    # the retry goes through
    assert run(action, attempt=2).provider_message_id == twilio.messages[0].sid


@pytest.mark.parametrize("status", [500, 503])
def test_a_server_error_is_transient_with_an_unknown_outcome(twilio, send_sms, status):
    twilio.fail_next(1, status)

    with pytest.raises(TransientError) as caught:
        run(send_sms())

    assert f"HTTP {status}" in caught.value.message
    assert caught.value.retry_after is None
    assert caught.value.detail["outcome"] == "unknown"


def test_a_503_with_retry_after_honours_it(twilio, send_sms):
    twilio.fail_next(1, 503, retry_after=120)

    with pytest.raises(TransientError) as caught:
        run(send_sms())

    assert caught.value.retry_after == 120


def test_retry_after_may_be_an_http_date():
    assert 25 <= parse_retry_after(formatdate(time.time() + 30, usegmt=True)) <= 30
    assert parse_retry_after(formatdate(time.time() - 30, usegmt=True)) == 0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def test_provider_down_is_transient_and_nothing_was_sent(settings, twilio, send_sms):
    settings.TWILIO_BASE_URL = unused_url()

    with pytest.raises(TransientError) as caught:
        run(send_sms())

    assert caught.value.detail["outcome"] == "not_sent"


def test_a_timeout_is_transient_with_an_unknown_outcome(settings, twilio, send_sms):
    settings.PROVIDER_TIMEOUT_SECONDS = 0.3
    twilio.delay_next(1, seconds=2)

    with pytest.raises(TransientError, match="timed out") as caught:
        run(send_sms())

    assert caught.value.detail["outcome"] == "unknown"


def test_a_response_lost_after_twilio_accepted_is_transient_and_may_duplicate(twilio, send_sms):
    """The case no Twilio idempotency key can cover: documented in the module."""
    action = send_sms()
    twilio.drop_next(1, after_processing=True)

    with pytest.raises(TransientError) as caught:
        run(action)
    assert caught.value.detail["outcome"] == "unknown"
    run(action, attempt=2)

    assert len(twilio.messages) == 2


def test_a_success_without_a_sid_is_not_retried(twilio, send_sms):
    twilio.respond_next(1, 201, body={"status": "queued"})

    with pytest.raises(PermanentError, match="without a resource sid"):
        run(send_sms())


def test_wrong_credentials_fail_permanently(settings, twilio, send_sms):
    settings.TWILIO_AUTH_TOKEN = "not-the-token"

    with pytest.raises(PermanentError, match="Twilio error 20003") as caught:
        run(send_sms())

    assert caught.value.detail["http_status"] == 401


@pytest.mark.parametrize("missing", ["TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN"])
def test_not_configured_fails_permanently(settings, twilio, send_sms, call_contact, missing):
    setattr(settings, missing, "")

    for action in (send_sms(), call_contact()):
        with pytest.raises(PermanentError, match="Twilio is not configured"):
            run(action)

    assert twilio.attempts == []


# --- the contact's conversation ------------------------------------------------------
def test_an_sms_to_a_contact_is_stored_in_their_sms_conversation(twilio, send_sms, make_contact):
    contact = make_contact("jane@example.com", phone=JANE, firstname="Jane")
    action = send_sms(message="First")
    assert action.contact == contact

    result = run(action)

    [conversation] = Conversation.objects.filter(contact=contact)
    assert conversation.channel == "sms"
    assert conversation.status == ConversationStatus.OPEN
    assert conversation.workspace_id == action.workspace_id
    [message] = conversation.messages.all()
    assert message.direction == Direction.OUTBOUND
    assert (message.from_address, message.to_address, message.body) == (
        "+14155550100",
        JANE,
        "First",
    )
    assert message.provider_message_id == result.provider_message_id
    assert message.workspace_id == action.workspace_id
    assert conversation.last_message_at == message.sent_at
    assert result.detail["message_recorded"] is True

    # the next SMS goes into the same conversation
    run(send_sms(message="Second"))
    conversation.refresh_from_db()
    assert list(conversation.messages.values_list("body", flat=True)) == ["First", "Second"]
    assert conversation.last_message_at == conversation.messages.last().sent_at


def test_the_open_conversation_is_reused_and_a_closed_one_is_not(
    twilio, send_sms, make_contact, workspace
):
    contact = make_contact("jane@example.com", phone=JANE)
    closed = Conversation.objects.create(
        workspace=workspace, contact=contact, channel="sms", status=ConversationStatus.CLOSED
    )
    run(send_sms())
    assert closed.messages.count() == 0
    opened = Conversation.objects.get(contact=contact, status=ConversationStatus.OPEN)

    run(send_sms())

    assert opened.messages.count() == 2
    assert Conversation.objects.filter(contact=contact).count() == 2


def test_a_call_is_stored_in_the_contacts_phone_conversation(twilio, call_contact, make_contact):
    contact = make_contact("jane@example.com", phone=JANE)

    result = run(call_contact(script="Hello Jane"))

    message = Message.objects.get(conversation__contact=contact)
    assert message.conversation.channel == "phone"
    assert message.body == "Hello Jane"
    assert message.provider_message_id == result.provider_message_id


def test_without_a_contact_nothing_is_stored(twilio, send_sms):
    action = send_sms()
    assert action.contact is None

    result = run(action)

    assert result.detail["message_recorded"] is False
    assert not Message.objects.exists()


# --- the sending shape: prepare, send on threads through one pooled client, record ----
def test_both_are_sending_executors_that_prepare_without_leaking_credentials(
    twilio, send_sms, call_contact
):
    for action in (send_sms(), call_contact()):
        executor = executor_for(action.type)
        assert is_sending(executor)

        prepared = executor.prepare(context_of(action))

        assert isinstance(prepared, Prepared)
        assert (prepared.provider, prepared.session_key) == ("twilio", "twilio")
        assert twilio.auth_token not in repr(prepared)  # engines log what they hold
    assert twilio.attempts == []  # preparing sends nothing


def test_concurrent_sends_from_many_threads_each_arrive_once_through_one_pool(
    twilio, send_sms, make_contact, settings, fresh_pools
):
    """A batch's shape: prepare and record on the main thread (the database), the sends
    on threads that all hit the pool at once. The pool is capped by the setting."""
    settings.WORKER_SEND_CONCURRENCY = 4
    contact = make_contact("jane@example.com", phone=JANE)
    actions = [send_sms(message=f"Message {n}") for n in range(20)]
    executor = executor_for("send_sms")
    contexts = [context_of(action) for action in actions]
    client = pooled_http.pooled_client("twilio")
    answers, results = sends_from_threads(executor, contexts)

    bodies = Counter(record.form["Body"] for record in twilio.messages)
    assert bodies == Counter(f"Message {n}" for n in range(20))  # each exactly once
    assert len(twilio.attempts) == 20
    assert [r.provider_message_id for r in results] == [a["sid"] for a in answers]
    assert len({r.provider_message_id for r in results}) == 20
    assert all(r.detail["message_recorded"] for r in results)
    assert Message.objects.filter(conversation__contact=contact).count() == 20
    assert 1 <= twilio.connections <= 4  # shared connections, within the pool's bound
    assert pooled_http.pooled_client("twilio") is client


def test_sends_reuse_the_pooled_client_and_its_connection(twilio, send_sms, fresh_pools):
    first = run(send_sms(message="One"))
    client = pooled_http.pooled_client("twilio")
    second = run(send_sms(message="Two"))

    assert pooled_http.pooled_client("twilio") is client
    assert first.provider_message_id != second.provider_message_id
    assert len(twilio.messages) == 2
    assert twilio.connections == 1  # the second send rode the first one's connection


def test_settings_changed_between_sends_apply_to_the_next_send(
    settings, twilio, send_sms, fresh_pools
):
    """Credentials and URL travel per request: the pool does not keep stale ones."""
    run(send_sms())
    settings.TWILIO_AUTH_TOKEN = "rotated-away"

    with pytest.raises(PermanentError, match="Twilio error 20003"):
        run(send_sms())

    with FakeTwilio() as other:
        settings.TWILIO_BASE_URL = other.url
        settings.TWILIO_ACCOUNT_SID = other.account_sid
        settings.TWILIO_AUTH_TOKEN = other.auth_token
        run(send_sms())
        assert len(other.messages) == 1
    assert len(twilio.messages) == 1


def test_a_forked_child_gets_its_own_pool_and_leaves_the_parents_connection_alone(
    twilio, send_sms, fresh_pools
):
    """Celery's prefork pool forks after import: a child must never write into its
    parent's pooled sockets. The child sends through a pool of its own (a second
    connection at the fake); the parent's pool and connection carry on unharmed."""
    executor = executor_for("send_sms")
    run(send_sms(message="parent, before"))
    parent_client = pooled_http.pooled_client("twilio")
    assert twilio.connections == 1
    child_action = send_sms(message="from the child")
    child_context = context_of(child_action)
    prepared = executor.prepare(child_context)  # the main thread's part, in the parent

    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: network only, then leave without running pytest's teardown
        status = 1
        try:
            os.close(read_end)
            fresh = pooled_http.pooled_client("twilio") is not parent_client
            answer = executor.open_session(prepared).send(prepared.payload)
            os.write(write_end, json.dumps({"fresh": fresh, "answer": answer}).encode())
            status = 0
        finally:
            os._exit(status)
    os.close(write_end)
    try:
        ready, _, _ = select.select([read_end], [], [], 60)  # a safety net, not a timing
        if not ready:
            os.kill(pid, signal.SIGKILL)
        report = b""
        while chunk := os.read(read_end, 65536):
            report += chunk
    finally:
        os.close(read_end)
        _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, report
    child = json.loads(report)

    assert child["fresh"] is True
    assert twilio.connections == 2  # the child opened its own
    result = executor.record(child_context, prepared, child["answer"])
    assert result.provider_message_id == child["answer"]["sid"]
    # the parent's pool still works, with the same client
    run(send_sms(message="parent, after"))
    assert pooled_http.pooled_client("twilio") is parent_client
    assert [m.form["Body"] for m in twilio.messages] == [
        "parent, before",
        "from the child",
        "parent, after",
    ]
