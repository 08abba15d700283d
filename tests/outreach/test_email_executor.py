"""The email executor against a real SMTP server (aiosmtpd on 127.0.0.1).

The executor is called directly with an ExecutionContext, as the worker does.
"""

from __future__ import annotations

import datetime as dt
import re
from urllib.parse import urlsplit

import pytest
import requests
from anymail.exceptions import AnymailAPIError, AnymailRecipientsRefused, AnymailRequestsAPIError
from django.core import mail
from django.utils import timezone

from config.queue import PermanentError, TransientError
from contacts.models import Conversation, Message
from contacts.unsubscribe import contact_from_token
from outreach.executors import REGISTRY, ExecutionContext, idempotency_key_for
from outreach.executors import email as email_executor
from tests.smtp_server import free_port, running_smtp_server

TO = "contact@example.com"


@pytest.fixture
def smtp_server(settings):
    with running_smtp_server(settings) as server:
        yield server


@pytest.fixture(autouse=True)
def _public_base_url(settings):
    settings.PUBLIC_BASE_URL = "https://hub.example.com"


def run(action, attempt: int = 1):
    context = ExecutionContext(
        action=action,
        identity=action.identity,
        contact=action.contact,
        attempt=attempt,
        idempotency_key=idempotency_key_for(action),
    )
    return REGISTRY[action.type].execute(context)


def expected_message_id(action) -> str:
    return f"<action-{action.uuid}@acme.example.com>"


def send_email(make_action, **params):
    return make_action(
        type="send_email",
        params={"to": TO, "subject": "Hello", "body": "Hi there!", **params},
        require_approval=False,
    )


def thread(workspace, contact, *, subject="Pricing", channel="email", ids=()):
    """A conversation with one message per id (oldest first), an hour apart."""
    start = timezone.now() - dt.timedelta(days=1)
    conversation = Conversation.objects.create(
        workspace=workspace,
        contact=contact,
        channel=channel,
        subject=subject,
        last_message_at=start + dt.timedelta(hours=len(ids)),
    )
    for hour, provider_id in enumerate(ids):
        Message.objects.create(
            workspace=workspace,
            conversation=conversation,
            direction="inbound" if hour % 2 else "outbound",
            from_address="x@example.com",
            to_address="y@example.com",
            subject=subject,
            body=f"message {hour}",
            sent_at=start + dt.timedelta(hours=hour),
            provider_message_id=provider_id,
        )
    return conversation


# --- send_email --------------------------------------------------------------
def test_send_email_delivers_one_complete_message(make_action, smtp_server):
    action = send_email(
        make_action,
        cc=["cc1@example.com", "cc2@example.org"],
        bcc=["hidden@example.com"],
        reply_to="replies@acme.example.com",
        body="Hi there!\nSecond line, déjà vu.",
    )
    assert action.contact is None

    result = run(action)

    [received] = smtp_server.messages
    message = received.message
    assert received.mail_from == "sales@acme.example.com"
    assert sorted(received.rcpt_tos) == sorted(
        [TO, "cc1@example.com", "cc2@example.org", "hidden@example.com"]
    )
    assert message["From"] == "Acme Sales <sales@acme.example.com>"
    assert message["To"] == TO
    assert message["Cc"] == "cc1@example.com, cc2@example.org"
    assert message["Bcc"] is None
    assert b"hidden@example.com" not in received.data
    assert message["Reply-To"] == "replies@acme.example.com"
    assert message["Subject"] == "Hello"
    assert received.body.rstrip("\n") == "Hi there!\nSecond line, déjà vu."
    assert message["Message-ID"] == expected_message_id(action)
    assert message["X-Outreach-Action-Id"] == action.public_id
    assert message["In-Reply-To"] is None
    assert message["List-Unsubscribe"] is None  # no contact to unsubscribe
    assert result.provider_message_id == expected_message_id(action)
    assert result.detail["message_id"] == expected_message_id(action)
    # Decision: a send to no known contact and no thread is not stored.
    assert result.detail["stored"] is False
    assert not Message.objects.exists()


def test_message_id_is_the_same_on_every_attempt(make_action, smtp_server):
    action = send_email(make_action)

    first = run(action, attempt=1)
    second = run(action, attempt=2)

    ids = [received["Message-ID"] for received in smtp_server.messages]
    assert ids == [expected_message_id(action)] * 2
    assert first.provider_message_id == second.provider_message_id == ids[0]


def test_message_ids_differ_between_actions(make_action, smtp_server):
    run(send_email(make_action))
    run(send_email(make_action))
    first, second = (received["Message-ID"] for received in smtp_server.messages)
    assert first != second


def test_a_stored_send_is_not_sent_again(make_action, make_contact, smtp_server):
    """Sent and recorded, then the worker died before marking the action completed:
    the reclaimed attempt finds the Message and does not send twice."""
    make_contact(TO)
    action = send_email(make_action)

    first = run(action, attempt=1)
    second = run(action, attempt=2)

    assert len(smtp_server.messages) == 1
    assert Message.objects.count() == 1
    assert second.provider_message_id == first.provider_message_id
    assert second.detail["already_sent"] is True
    assert second.detail["conversation_id"] == first.detail["conversation_id"]


def test_contact_gets_one_click_unsubscribe(make_action, make_contact, smtp_server):
    contact = make_contact(TO)
    action = send_email(make_action)
    assert action.contact == contact

    run(action)

    [received] = smtp_server.messages
    header = received["List-Unsubscribe"].strip()  # Django folds long headers
    match = re.fullmatch(r"<(https://hub\.example\.com/u/([A-Za-z0-9._-]+)/?)>", header)
    assert match, header
    assert urlsplit(match[1]).scheme == "https"
    assert contact_from_token(match[2]) == contact
    assert received["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_recipient_matching_a_contact_gets_unsubscribe(make_action, make_contact, smtp_server):
    """The contact was created after the action: matched on the recipient at send time."""
    action = send_email(make_action, to="Late@Example.com")
    assert action.contact is None
    contact = make_contact("late@example.com")

    result = run(action)

    [received] = smtp_server.messages
    token = re.search(r"/u/([^/>]+)", received["List-Unsubscribe"])[1]
    assert contact_from_token(token) == contact
    assert Conversation.objects.get(public_id=result.detail["conversation_id"]).contact == contact


def test_send_is_stored_in_a_new_conversation_per_email(make_action, make_contact, smtp_server):
    contact = make_contact(TO)
    before = timezone.now()

    first = run(send_email(make_action, subject="First", cc=["cc@example.com"]))
    second = run(send_email(make_action, subject="Second"))

    conversations = Conversation.objects.filter(contact=contact).order_by("id")
    assert [c.subject for c in conversations] == ["First", "Second"]
    assert [c.public_id for c in conversations] == [
        first.detail["conversation_id"],
        second.detail["conversation_id"],
    ]
    conversation = conversations[0]
    assert conversation.channel == "email"
    assert conversation.last_message_at >= before
    [message] = conversation.messages.all()
    assert message.direction == "outbound"
    assert message.from_address == "sales@acme.example.com"
    assert message.to_address == f"{TO}, cc@example.com"
    assert message.subject == "First"
    assert message.body == "Hi there!"
    assert message.sent_at >= before
    assert message.provider_message_id == first.provider_message_id
    assert message.workspace_id == contact.workspace_id


def test_send_email_with_thread_id_replies_in_that_thread(
    workspace, make_action, make_contact, smtp_server
):
    contact = make_contact(TO)
    conversation = thread(workspace, contact, ids=["root@example.com", "<second@example.com>"])

    result = run(send_email(make_action, subject="Re: Pricing", thread_id=conversation.public_id))

    [received] = smtp_server.messages
    assert received["In-Reply-To"] == "<second@example.com>"
    assert received["References"] == "<root@example.com> <second@example.com>"
    assert result.detail["conversation_id"] == conversation.public_id
    assert conversation.messages.count() == 3


def test_send_email_with_an_unknown_thread_fails_permanently(make_action, smtp_server):
    with pytest.raises(PermanentError, match="th_nope"):
        run(send_email(make_action, thread_id="th_nope"))
    assert smtp_server.messages == []


def test_storage_failure_after_the_send_does_not_fail_the_action(
    make_action, make_contact, smtp_server, monkeypatch
):
    """The email is gone; failing the action would send it again."""
    make_contact(TO)

    def broken_store(*args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(email_executor, "_store", broken_store)
    action = send_email(make_action)

    result = run(action)

    assert len(smtp_server.messages) == 1
    assert result.provider_message_id == expected_message_id(action)
    assert result.detail["stored"] is False


def test_any_django_backend_works(settings, make_action):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    action = send_email(make_action)

    run(action)

    [sent] = mail.outbox
    assert sent.message()["Message-ID"] == expected_message_id(action)


# --- email_message -----------------------------------------------------------
def reply(make_action, conversation, **params):
    return make_action(
        type="email_message",
        params={"thread_id": conversation.public_id, "body": "Thanks, here it is.", **params},
        require_approval=False,
    )


def test_email_message_replies_in_the_thread(workspace, make_action, make_contact, smtp_server):
    contact = make_contact("ada@example.com")
    conversation = thread(
        workspace,
        contact,
        subject="Pricing",
        # Stored with and without brackets, one not a message id, one without any.
        ids=["first@example.com", "<second@example.com>", "ESP-123", "", " <third@example.org> "],
    )
    previous_last = conversation.last_message_at
    action = reply(make_action, conversation)

    result = run(action)

    [received] = smtp_server.messages
    assert received.rcpt_tos == ("ada@example.com",)
    assert received["To"] == "ada@example.com"
    assert received["Subject"] == "Re: Pricing"
    assert received["In-Reply-To"] == "<third@example.org>"
    assert received["References"] == (
        "<first@example.com> <second@example.com> <third@example.org>"
    )
    assert received["Message-ID"] == expected_message_id(action)
    assert received.body.rstrip("\n") == "Thanks, here it is."
    assert received["List-Unsubscribe"]  # the thread's contact

    conversation.refresh_from_db()
    assert conversation.last_message_at > previous_last
    latest = conversation.messages.order_by("-sent_at", "-id").first()
    assert latest.provider_message_id == result.provider_message_id
    assert latest.direction == "outbound"
    assert latest.to_address == "ada@example.com"
    assert latest.subject == "Re: Pricing"
    assert Conversation.objects.count() == 1


def test_a_reply_to_the_reply_threads_on_it(workspace, make_action, make_contact, smtp_server):
    conversation = thread(workspace, make_contact("ada@example.com"), ids=["root@example.com"])
    first = run(reply(make_action, conversation))
    run(reply(make_action, conversation))

    second = smtp_server.messages[1]
    assert second["In-Reply-To"] == first.provider_message_id
    assert second["References"] == f"<root@example.com> {first.provider_message_id}"


@pytest.mark.parametrize(
    ("thread_subject", "params", "expected"),
    [
        ("Re: Pricing", {}, "Re: Pricing"),
        ("RE: Pricing", {}, "RE: Pricing"),
        ("Re[2]: Pricing", {}, "Re[2]: Pricing"),
        ("Pricing", {"subject": "A new angle"}, "A new angle"),
    ],
)
def test_reply_subject_is_not_stacked(
    workspace, make_action, make_contact, smtp_server, thread_subject, params, expected
):
    conversation = thread(workspace, make_contact("ada@example.com"), subject=thread_subject)
    run(reply(make_action, conversation, **params))
    [received] = smtp_server.messages
    assert received["Subject"] == expected
    assert received["In-Reply-To"] is None  # no message with an id yet


def test_references_are_bounded(workspace, make_action, make_contact, smtp_server):
    ids = [f"m{n}@example.com" for n in range(30)]
    conversation = thread(workspace, make_contact("ada@example.com"), ids=ids)
    run(reply(make_action, conversation))
    references = smtp_server.messages[0]["References"].split()
    assert len(references) == 20
    assert references[0] == "<m0@example.com>"  # the root stays
    assert references[1:] == [f"<m{n}@example.com>" for n in range(11, 30)]


@pytest.mark.parametrize("case", ["unknown", "other_workspace", "sms", "no_contact"])
def test_email_message_to_a_bad_thread_fails_permanently(
    case, workspace, other_workspace, make_action, make_contact, smtp_server
):
    contact = make_contact("ada@example.com")
    conversation = {
        "unknown": Conversation(public_id="th_doesnotexist0000"),
        "other_workspace": thread(other_workspace, None),
        "sms": thread(workspace, contact, channel="sms"),
        "no_contact": thread(workspace, None),
    }[case]
    messages_before = Message.objects.count()
    action = reply(make_action, conversation)

    with pytest.raises(PermanentError) as excinfo:
        run(action)

    assert conversation.public_id in excinfo.value.message
    assert smtp_server.messages == []
    assert Message.objects.count() == messages_before


def test_a_suppressed_thread_contact_is_not_emailed(
    workspace, make_action, make_contact, smtp_server
):
    contact = make_contact("ada@example.com")
    conversation = thread(workspace, contact)
    contact.unsubscribed = True
    contact.save()

    with pytest.raises(PermanentError, match="suppressed"):
        run(reply(make_action, conversation))
    assert smtp_server.messages == []


# --- failures ----------------------------------------------------------------
def test_recipient_refused_with_550_is_permanent(make_action, make_contact, smtp_server):
    make_contact(TO)
    smtp_server.reject_recipient(TO, 550, "5.1.1 No such user here")

    with pytest.raises(PermanentError) as excinfo:
        run(send_email(make_action))

    assert "550" in excinfo.value.message
    assert "No such user" in excinfo.value.message
    assert smtp_server.messages == []
    assert not Message.objects.exists()


@pytest.mark.parametrize(
    ("stage", "code", "error"),
    [
        ("rcpt", 450, TransientError),
        ("data", 451, TransientError),
        ("data", 554, PermanentError),
        ("mail", 421, TransientError),
        ("mail", 553, PermanentError),
    ],
)
def test_smtp_answers_map_to_transient_or_permanent(
    stage, code, error, make_action, make_contact, smtp_server
):
    make_contact(TO)
    smtp_server.fail_next(1, code=code, message="try something", stage=stage)

    with pytest.raises(error) as excinfo:
        run(send_email(make_action))

    assert type(excinfo.value) is error
    assert str(code) in excinfo.value.message
    assert smtp_server.messages == []
    assert not Message.objects.exists()


def test_transient_failure_then_success(make_action, make_contact, smtp_server):
    make_contact(TO)
    action = send_email(make_action)
    smtp_server.fail_next(1, code=451, message="try later")

    with pytest.raises(TransientError):
        run(action, attempt=1)
    result = run(action, attempt=2)

    [received] = smtp_server.messages
    assert received["Message-ID"] == result.provider_message_id == expected_message_id(action)
    assert Message.objects.count() == 1


def test_server_down_is_transient(settings, make_action, make_contact):
    make_contact(TO)
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", free_port()
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False

    with pytest.raises(TransientError, match="Could not reach the mail server"):
        run(send_email(make_action))
    assert not Message.objects.exists()


def test_slow_server_times_out_as_transient(settings, make_action, smtp_server):
    settings.PROVIDER_TIMEOUT_SECONDS = 1
    smtp_server.delay_next(1, seconds=2.5)

    with pytest.raises(TransientError, match="did not answer within 1s"):
        run(send_email(make_action))


def test_secrets_are_not_in_error_messages(settings, make_action):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", free_port()
    settings.EMAIL_HOST_USER, settings.EMAIL_HOST_PASSWORD = "mailer", "hunter2-secret"

    with pytest.raises(TransientError) as excinfo:
        run(send_email(make_action))
    assert "hunter2" not in excinfo.value.message


# --- header injection -------------------------------------------------------------
def test_header_injection_in_subject_is_refused(make_action, smtp_server):
    action = send_email(make_action, subject="Hello\r\nBcc: evil@example.com")

    with pytest.raises(PermanentError, match="line break"):
        run(action)
    assert smtp_server.messages == []


def test_header_injection_in_display_name_is_refused(email_identity, make_action, smtp_server):
    action = send_email(make_action)
    email_identity.display_name = "Acme\r\nBcc: evil@example.com"
    email_identity.save()
    action.refresh_from_db()

    with pytest.raises(PermanentError):
        run(action)
    assert smtp_server.messages == []


def test_header_injection_in_a_stored_thread_subject_is_neutralised(
    workspace, make_action, make_contact, smtp_server
):
    conversation = thread(
        workspace, make_contact("ada@example.com"), subject="Hi\r\nBcc: evil@example.com"
    )
    run(reply(make_action, conversation))
    [received] = smtp_server.messages
    assert received.rcpt_tos == ("ada@example.com",)
    assert received["Bcc"] is None
    assert received["Subject"] == "Re: Hi Bcc: evil@example.com"


def test_non_ascii_display_name_is_encoded(email_identity, make_action, smtp_server):
    email_identity.display_name = "Zoë, Acme Sales"
    email_identity.save()
    action = send_email(make_action)
    action.refresh_from_db()

    run(action)

    [received] = smtp_server.messages
    assert received["From"].addresses[0].display_name == "Zoë, Acme Sales"
    assert received["From"].addresses[0].addr_spec == "sales@acme.example.com"
    assert b"Zo\xc3\xab" not in received.data.split(b"\r\n\r\n", 1)[0]  # encoded-word


# --- anymail (ESPs) -----------------------------------------------------------
@pytest.fixture
def anymail_test_backend(settings):
    settings.EMAIL_BACKEND = "anymail.backends.test.EmailBackend"
    settings.ANYMAIL = {}


def test_anymail_gets_message_id_and_metadata(anymail_test_backend, make_action, make_contact):
    make_contact(TO)
    action = send_email(make_action)

    result = run(action)

    [sent] = mail.outbox
    assert sent.extra_headers["Message-ID"] == expected_message_id(action)
    assert sent.anymail_test_params["metadata"] == {
        "action_id": action.public_id,
        "idempotency_key": idempotency_key_for(action),
    }
    # The test ESP's id is its outbox index; the stored Message keeps the Message-ID.
    assert result.provider_message_id == "0"
    assert result.detail["esp_message_id"] == "0"
    assert Message.objects.get().provider_message_id == expected_message_id(action)


def test_anymail_429_is_transient_with_retry_after(anymail_test_backend, make_action, monkeypatch):
    from anymail.backends.test import EmailBackend

    response = requests.Response()
    response.status_code = 429
    response.reason = "Too Many Requests"
    response.headers["Retry-After"] = "7"
    response._content = b'{"error": "slow down", "api_key": "sk-secret"}'

    def post_to_esp(self, payload, message):
        raise AnymailRequestsAPIError(
            "Test API response 429", email_message=message, response=response, backend=self
        )

    monkeypatch.setattr(EmailBackend, "post_to_esp", post_to_esp)

    with pytest.raises(TransientError) as excinfo:
        run(send_email(make_action))

    assert excinfo.value.retry_after == 7
    assert "429" in excinfo.value.message
    assert "sk-secret" not in excinfo.value.message


@pytest.mark.parametrize(
    ("exc", "error"),
    [
        (AnymailAPIError("boom", status_code=500), TransientError),
        (AnymailAPIError("boom", status_code=503), TransientError),
        (AnymailAPIError("network down"), TransientError),
        (AnymailAPIError("bad", status_code=400), PermanentError),
        (AnymailAPIError("unauthorised", status_code=401), PermanentError),
        (AnymailRecipientsRefused(), PermanentError),
    ],
)
def test_anymail_errors_map_to_transient_or_permanent(exc, error):
    mapped = email_executor._anymail_error(exc)
    assert type(mapped) is error


def test_email_executor_handles_both_types():
    assert REGISTRY["send_email"] is REGISTRY["email_message"]
    assert isinstance(REGISTRY["send_email"], email_executor.EmailExecutor)
