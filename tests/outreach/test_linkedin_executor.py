"""The LinkedIn executor: Standard Webhooks deliveries to a fake receiver on loopback."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from datetime import datetime

import pytest

from config.queue import PermanentError, TransientError
from contacts.models import Conversation, Message
from outreach import services as outreach_services
from outreach.executors import (
    ExecutionContext,
    Prepared,
    executor_for,
    idempotency_key_for,
    is_sending,
    pooled_http,
)
from outreach.executors.linkedin import (
    WebhookVerificationError,
    sign_webhook,
    verify_webhook,
)
from tests.fakes import unused_url
from tests.fakes.webhook import FakeWebhookReceiver, new_secret
from tests.outreach import context_of, sends_from_threads

JANE = "https://www.linkedin.com/in/jane-doe"
MESSAGE = "Hi Jane — «quick» question & an emoji 🚀"


@pytest.fixture
def receiver(settings):
    with FakeWebhookReceiver() as fake:
        settings.LINKEDIN_WEBHOOK_URL = fake.url + "/hooks/linkedin"
        settings.LINKEDIN_WEBHOOK_SECRET = fake.secret
        settings.PROVIDER_TIMEOUT_SECONDS = 5
        yield fake
        assert fake.errors == []


@pytest.fixture
def linkedin_identity(workspace, owner):
    return outreach_services.identity_create(
        workspace=workspace,
        channel="linkedin",
        address="https://www.linkedin.com/in/acme-sales",
        display_name="Acme Sales",
        owner=owner,
    )


@pytest.fixture
def linkedin_message(make_action, linkedin_identity):
    def make(profile_url: str = JANE, message: str = MESSAGE):
        return make_action(
            type="linkedin_message",
            identity=linkedin_identity,
            params={"profile_url": profile_url, "message": message},
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


# --- signing -------------------------------------------------------------------------
def test_signing_matches_the_standard_webhooks_reference_vector():
    # The test vector of the Standard Webhooks reference libraries.
    assert (
        sign_webhook(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            b'{"test": 2432232314}',
        )
        == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    )


def _headers(secret: str, body: bytes, msg_id: str = "msg_1", ts: int | None = None) -> dict:
    ts = int(time.time()) if ts is None else ts
    return {
        "Webhook-Id": msg_id,
        "Webhook-Timestamp": str(ts),
        "Webhook-Signature": sign_webhook(secret, msg_id, ts, body),
    }


def test_verification_accepts_a_good_delivery_and_any_matching_signature():
    secret, body = new_secret(), b'{"a":1}'
    headers = _headers(secret, body)
    assert verify_webhook(secret, headers, body) == "msg_1"

    # several signatures (a secret rotation): one match is enough
    headers["Webhook-Signature"] = "v1,bm9wZQ== " + headers["Webhook-Signature"]
    assert verify_webhook(secret, headers, body) == "msg_1"


@pytest.mark.parametrize(
    "tamper",
    ["body", "secret", "id", "timestamp", "stale", "future", "missing", "version"],
)
def test_verification_refuses_anything_tampered(tamper):
    secret, body = new_secret(), b'{"message":"hello"}'
    headers = _headers(secret, body)
    if tamper == "body":
        body = b'{"message":"hellO"}'
    elif tamper == "secret":
        secret = new_secret()
    elif tamper == "id":
        headers["Webhook-Id"] = "msg_2"
    elif tamper == "timestamp":
        headers["Webhook-Timestamp"] = str(int(headers["Webhook-Timestamp"]) + 1)
    elif tamper == "stale":
        headers = _headers(secret, body, ts=int(time.time()) - 301)
    elif tamper == "future":
        headers = _headers(secret, body, ts=int(time.time()) + 301)
    elif tamper == "missing":
        del headers["Webhook-Signature"]
    elif tamper == "version":
        headers["Webhook-Signature"] = headers["Webhook-Signature"].replace("v1,", "v2,")

    with pytest.raises(WebhookVerificationError):
        verify_webhook(secret, headers, body)


# --- the delivery --------------------------------------------------------------------
def test_it_posts_a_delivery_the_receiver_verifies(receiver, linkedin_message):
    action = linkedin_message()

    result = run(action)

    assert receiver.rejected == []
    [delivery] = receiver.deliveries
    assert delivery.path == "/hooks/linkedin"
    assert delivery.headers["content-type"] == "application/json"
    # check the signature independently of sign_webhook
    key = base64.b64decode(receiver.secret.removeprefix("whsec_"))
    signed = f"{delivery.webhook_id}.{delivery.timestamp}.".encode() + delivery.body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    assert delivery.signature == f"v1,{expected}"
    assert abs(int(delivery.timestamp) - time.time()) < 60
    # the provider's id for the message
    assert result.provider_message_id.startswith("lim_")


def test_the_webhook_id_is_the_actions_idempotency_key(receiver, linkedin_message):
    action = linkedin_message()

    run(action)

    assert receiver.unique_ids == [idempotency_key_for(action)]
    assert receiver.unique_ids == [f"action-{action.uuid}"]


def test_the_body_carries_the_action(receiver, linkedin_message):
    action = linkedin_message()

    run(action)

    payload = receiver.deliveries[0].json()
    sent_at = payload.pop("sent_at")
    assert payload == {
        "type": "linkedin.message.send",
        "action_id": action.public_id,
        "idempotency_key": idempotency_key_for(action),
        "sender": {"profile_url": "https://www.linkedin.com/in/acme-sales", "name": "Acme Sales"},
        "recipient": {"profile_url": JANE},
        "message": MESSAGE,
    }
    assert sent_at.endswith("Z")
    assert abs(datetime.fromisoformat(sent_at).timestamp() - time.time()) < 60


def test_a_retry_keeps_the_webhook_id_so_the_receiver_delivers_once(receiver, linkedin_message):
    action = linkedin_message()
    receiver.fail_next(1, 503)

    with pytest.raises(TransientError):
        run(action)
    result = run(action, attempt=2)

    first, second = receiver.attempts
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    assert receiver.unique_ids == [idempotency_key_for(action)]
    assert len(receiver.deliveries) == 1  # the 503 was not processed
    assert result.provider_message_id.startswith("lim_")


def test_a_response_lost_after_delivery_is_retried_and_deduplicated(
    receiver, linkedin_message, make_contact
):
    make_contact("jane@example.com", linkedin_url=JANE)
    action = linkedin_message()
    receiver.drop_next(1, after_processing=True)

    with pytest.raises(TransientError) as caught:
        run(action)
    assert caught.value.detail["outcome"] == "unknown"
    first_try = receiver.deliveries[0]
    result = run(action, attempt=2)

    assert [d.duplicate for d in receiver.deliveries] == [False, True]
    assert first_try.webhook_id == receiver.deliveries[1].webhook_id
    assert len(receiver.unique_ids) == 1
    assert result.provider_message_id.startswith("lim_")
    assert Message.objects.filter(provider_message_id=result.provider_message_id).count() == 1


def test_a_second_send_of_the_same_action_is_stored_once(receiver, linkedin_message, make_contact):
    make_contact("jane@example.com", linkedin_url=JANE)
    action = linkedin_message()

    first = run(action)
    second = run(action, attempt=2)  # e.g. a reclaimed lease

    assert first.provider_message_id == second.provider_message_id
    assert Message.objects.count() == 1


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503])
def test_retryable_answers_are_transient(receiver, linkedin_message, status):
    receiver.fail_next(1, status, retry_after=30)

    with pytest.raises(TransientError) as caught:
        run(linkedin_message())

    assert f"HTTP {status}" in caught.value.message
    assert caught.value.retry_after == 30
    assert receiver.unique_ids == []


@pytest.mark.parametrize("status", [400, 404, 410, 422])
def test_other_client_errors_are_permanent(receiver, linkedin_message, status):
    receiver.fail_next(1, status, body={"error": "recipient_not_connected"})

    with pytest.raises(PermanentError, match=f"HTTP {status}.*recipient_not_connected"):
        run(linkedin_message())


def test_a_receiver_that_refuses_our_signature_is_a_permanent_error(
    settings, receiver, linkedin_message
):
    settings.LINKEDIN_WEBHOOK_SECRET = new_secret()  # not the receiver's

    with pytest.raises(PermanentError, match="HTTP 401"):
        run(linkedin_message())

    [(_, reason)] = receiver.rejected
    assert reason == "No matching signature."


def test_provider_down_is_transient(settings, receiver, linkedin_message):
    settings.LINKEDIN_WEBHOOK_URL = unused_url() + "/hooks/linkedin"

    with pytest.raises(TransientError) as caught:
        run(linkedin_message())

    assert caught.value.detail["outcome"] == "not_sent"


def test_a_timeout_is_transient(settings, receiver, linkedin_message):
    settings.PROVIDER_TIMEOUT_SECONDS = 0.3
    receiver.delay_next(1, seconds=2)

    with pytest.raises(TransientError, match="timed out"):
        run(linkedin_message())


def test_the_provider_id_falls_back_to_message_id_then_the_webhook_id(receiver, linkedin_message):
    receiver.respond_next(1, 200, body={"message_id": "li-42"})
    assert run(linkedin_message()).provider_message_id == "li-42"

    receiver.respond_next(1, 202, body={"queued": True})
    action = linkedin_message()
    assert run(action).provider_message_id == idempotency_key_for(action)


def test_redirects_are_not_followed(receiver, linkedin_message):
    receiver.respond_next(1, 307, body={})

    with pytest.raises(PermanentError, match="HTTP 307"):
        run(linkedin_message())

    assert len(receiver.attempts) == 1


# --- configuration -------------------------------------------------------------------
@pytest.mark.parametrize("missing", ["LINKEDIN_WEBHOOK_URL", "LINKEDIN_WEBHOOK_SECRET"])
def test_not_configured_fails_permanently(settings, receiver, linkedin_message, missing):
    setattr(settings, missing, "")

    with pytest.raises(PermanentError, match="LinkedIn provider is not configured"):
        run(linkedin_message())

    assert receiver.attempts == []


@pytest.mark.parametrize(
    "url", ["ftp://127.0.0.1/hook", "file:///etc/passwd", "gopher://127.0.0.1:70/", "//x/y"]
)
def test_a_non_http_url_is_refused(settings, receiver, linkedin_message, url):
    settings.LINKEDIN_WEBHOOK_URL = url

    with pytest.raises(PermanentError, match="must be an http\\(s\\) URL"):
        run(linkedin_message())

    assert receiver.attempts == []


def test_a_malformed_secret_is_refused(settings, receiver, linkedin_message):
    settings.LINKEDIN_WEBHOOK_SECRET = "whsec_not base64!"

    with pytest.raises(PermanentError, match="LINKEDIN_WEBHOOK_SECRET is invalid"):
        run(linkedin_message())

    assert receiver.attempts == []


# --- the contact's conversation ------------------------------------------------------
def test_a_message_to_a_contact_is_stored_in_their_linkedin_conversation(
    receiver, linkedin_message, make_contact
):
    contact = make_contact("jane@example.com", linkedin_url=JANE)
    action = linkedin_message()
    assert action.contact == contact

    result = run(action)

    [conversation] = Conversation.objects.filter(contact=contact)
    assert conversation.channel == "linkedin"
    [message] = conversation.messages.all()
    assert (message.direction, message.from_address, message.to_address, message.body) == (
        "outbound",
        "https://www.linkedin.com/in/acme-sales",
        JANE,
        MESSAGE,
    )
    assert message.provider_message_id == result.provider_message_id
    assert conversation.last_message_at == message.sent_at


def test_a_refused_message_stores_nothing(receiver, linkedin_message, make_contact):
    make_contact("jane@example.com", linkedin_url=JANE)
    receiver.fail_next(1, 400)

    with pytest.raises(PermanentError):
        run(linkedin_message())

    assert not Message.objects.exists()
    assert not Conversation.objects.exists()


# --- the sending shape: prepare, send on threads through one pooled client, record ----
def test_it_is_a_sending_executor_that_prepares_without_leaking_the_secret(
    receiver, linkedin_message
):
    executor = executor_for("linkedin_message")
    assert is_sending(executor)

    prepared = executor.prepare(context_of(linkedin_message()))

    assert isinstance(prepared, Prepared)
    assert (prepared.provider, prepared.session_key) == ("linkedin", "linkedin")
    assert receiver.secret not in repr(prepared)
    assert receiver.attempts == []  # preparing sends nothing


def test_concurrent_deliveries_from_many_threads_each_arrive_once_through_one_pool(
    receiver, linkedin_message, make_contact, settings, fresh_pools
):
    """A batch's shape: prepare and record on the main thread, the signed POSTs on
    threads that all hit the pool at once. The pool is capped by the setting."""
    settings.WORKER_SEND_CONCURRENCY = 4
    contact = make_contact("jane@example.com", linkedin_url=JANE)
    actions = [linkedin_message(message=f"Message {n}") for n in range(20)]
    executor = executor_for("linkedin_message")
    contexts = [context_of(action) for action in actions]
    client = pooled_http.pooled_client("linkedin")
    _answers, results = sends_from_threads(executor, contexts)

    assert receiver.rejected == []  # every signature checked out
    assert sorted(receiver.unique_ids) == sorted(idempotency_key_for(a) for a in actions)
    assert [d.duplicate for d in receiver.deliveries] == [False] * 20  # each exactly once
    assert len({r.provider_message_id for r in results}) == 20
    assert all(r.provider_message_id.startswith("lim_") for r in results)
    assert Message.objects.filter(conversation__contact=contact).count() == 20
    assert 1 <= receiver.connections <= 4  # shared connections, within the pool's bound
    assert pooled_http.pooled_client("linkedin") is client
    assert pooled_http.pooled_client("twilio") is not client  # one pool per provider


def test_deliveries_reuse_the_pooled_client_and_its_connection(
    receiver, linkedin_message, fresh_pools
):
    run(linkedin_message())
    client = pooled_http.pooled_client("linkedin")
    run(linkedin_message())

    assert pooled_http.pooled_client("linkedin") is client
    assert len(receiver.unique_ids) == 2
    assert receiver.connections == 1  # the second delivery rode the first one's connection


def test_a_changed_secret_applies_to_the_next_delivery(
    settings, receiver, linkedin_message, fresh_pools
):
    """The secret and URL travel per request: the pool keeps no stale ones."""
    run(linkedin_message())
    settings.LINKEDIN_WEBHOOK_SECRET = new_secret()

    with pytest.raises(PermanentError, match="HTTP 401"):
        run(linkedin_message())
