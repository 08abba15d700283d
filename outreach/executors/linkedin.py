"""LinkedIn executor: `linkedin_message` through a LinkedIn automation provider's webhook.

We do not talk to LinkedIn. An operator points LINKEDIN_WEBHOOK_URL at a service that
sends LinkedIn messages, and each action becomes one signed JSON POST to it, signed the
Standard Webhooks way (https://www.standardwebhooks.com/):

    webhook-id:        action-<uuid>   (the action's idempotency key)
    webhook-timestamp: 1714000000      (unix seconds of this attempt)
    webhook-signature: v1,<base64(HMAC-SHA256(key, "{id}.{timestamp}.{body}"))>

`key` is the base64 part of LINKEDIN_WEBHOOK_SECRET after its `whsec_` prefix, decoded.

Idempotency — decision: the webhook-id carries it. Standard Webhooks keeps a message's
webhook-id the same on every retry so the receiver can de-duplicate; ours is the
action's idempotency key, stable across retries and reclaimed leases. Only the timestamp
(and so the signature) and `sent_at` change between attempts. A receiver that follows
the spec therefore sends the LinkedIn message once however often we retry, which is why
every ambiguous failure (timeout, dropped connection, 5xx) is simply retried here.

Responses: 2xx → sent (provider message id from the JSON `id` or `message_id`, else the
webhook-id); 408, 425, 429, 5xx and network errors → TransientError (Retry-After
honoured); any other status → PermanentError. Redirects are not followed (the signed
body must not be replayed to another address).

Configuration: LINKEDIN_WEBHOOK_URL and LINKEDIN_WEBHOOK_SECRET are required, else
PermanentError "LinkedIn provider is not configured". The URL is operator-set and
trusted, so it may point anywhere (loopback in tests: no SSRF guard), but only http(s)
is accepted.

Shape: a SendingExecutor (outreach.executors). `prepare` (main thread) checks the
configuration and builds the body and its headers; the session's `send` (a send thread,
no database) signs and POSTs it through the process's pooled client
(outreach.executors.pooled_http); `record` (main thread) stores the Message. The
signature is made in `send`, not in `prepare`: a prepared delivery may wait in its batch
(the send concurrency bound, the provider's cap, a Retry-After pause), and a receiver
refuses a webhook-timestamp more than 5 minutes old.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx
from django.conf import settings
from django.utils import timezone

from config.queue import PermanentError, TransientError, parse_retry_after
from contacts.models import ConversationChannel
from outreach.executors import (
    ExecutionContext,
    ExecutionResult,
    PermanentCode,
    Prepared,
    execute_whole,
    register,
)
from outreach.executors.common import record_outbound_message, transport_error
from outreach.executors.pooled_http import pooled_client

NOT_CONFIGURED = (
    "LinkedIn provider is not configured (set LINKEDIN_WEBHOOK_URL and LINKEDIN_WEBHOOK_SECRET)."
)
SECRET_PREFIX = "whsec_"  # noqa: S105 - the format's prefix, not a secret
SIGNATURE_VERSION = "v1"
PROVIDER = "linkedin"
DEFAULT_TOLERANCE_SECONDS = 5 * 60  # the spec's suggested replay window
RETRYABLE_STATUSES = {408, 425, 429}


# --- Standard Webhooks signing ---------------------------------------------------------
class WebhookVerificationError(Exception):
    """A delivery whose headers or signature do not check out (answer 401)."""


def secret_key(secret: str) -> bytes:
    """The HMAC key of a `whsec_<base64>` secret (the prefix is optional)."""
    encoded = secret.strip().removeprefix(SECRET_PREFIX)
    try:
        key = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("The webhook secret must be 'whsec_' followed by base64.") from None
    if not key:
        raise ValueError("The webhook secret is empty.")
    return key


def _as_bytes(body: bytes | str) -> bytes:
    return body.encode() if isinstance(body, str) else body


def sign_webhook(secret: str, msg_id: str, timestamp: int | str, body: bytes | str) -> str:
    """The `webhook-signature` value: `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`."""
    signed = f"{msg_id}.{timestamp}.".encode() + _as_bytes(body)
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return f"{SIGNATURE_VERSION},{base64.b64encode(digest).decode()}"


def verify_webhook(
    secret: str,
    headers: Mapping[str, str],
    body: bytes | str,
    *,
    tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> str:
    """Check a delivery as a Standard Webhooks receiver does; return its webhook-id.

    `headers` may be any mapping (header names are matched case-insensitively) and
    `body` must be the raw bytes received. The timestamp must lie within
    `tolerance_seconds` of `now` (replay protection), and one of the space-separated
    `v1,<sig>` entries must match, compared in constant time. Raises
    WebhookVerificationError otherwise.
    """
    lowered = {str(name).lower(): value for name, value in headers.items()}
    msg_id = lowered.get("webhook-id")
    timestamp = lowered.get("webhook-timestamp")
    signatures = lowered.get("webhook-signature")
    if not msg_id or not timestamp or not signatures:
        raise WebhookVerificationError("Missing webhook-id, webhook-timestamp or signature.")
    try:
        sent_at = int(timestamp)
    except ValueError:
        raise WebhookVerificationError("webhook-timestamp is not unix seconds.") from None
    current = time.time() if now is None else now
    if abs(current - sent_at) > tolerance_seconds:
        raise WebhookVerificationError("webhook-timestamp is outside the tolerance window.")
    try:
        expected = sign_webhook(secret, msg_id, timestamp, body).partition(",")[2]
    except ValueError as exc:
        raise WebhookVerificationError(str(exc)) from None
    for entry in signatures.split():
        version, _, signature = entry.partition(",")
        if version == SIGNATURE_VERSION and hmac.compare_digest(
            signature.encode(), expected.encode()
        ):
            return msg_id
    raise WebhookVerificationError("No matching signature.")


# --- the executor ----------------------------------------------------------------------
def _config() -> tuple[str, str]:
    url = (settings.LINKEDIN_WEBHOOK_URL or "").strip()
    secret = (settings.LINKEDIN_WEBHOOK_SECRET or "").strip()
    if not url or not secret:
        raise PermanentError(NOT_CONFIGURED, code=PermanentCode.NOT_CONFIGURED)
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise PermanentError(
            f"LINKEDIN_WEBHOOK_URL must be an http(s) URL with a host; refusing {parts.scheme!r}.",
            code=PermanentCode.NOT_CONFIGURED,
        )
    try:
        secret_key(secret)
    except ValueError as exc:
        raise PermanentError(
            f"LINKEDIN_WEBHOOK_SECRET is invalid: {exc}", code=PermanentCode.NOT_CONFIGURED
        ) from None
    return url, secret


def _provider_id(response: httpx.Response, fallback: str) -> str:
    try:
        data = response.json()
    except ValueError:
        return fallback
    if isinstance(data, dict):
        for key in ("id", "message_id"):
            value = data.get(key)
            if isinstance(value, str | int) and not isinstance(value, bool) and str(value):
                return str(value)[:255]
    return fallback


def payload_for(context: ExecutionContext) -> dict[str, Any]:
    action, identity = context.action, context.identity
    return {
        "type": "linkedin.message.send",
        "action_id": action.public_id,
        "idempotency_key": context.idempotency_key,
        "sender": {"profile_url": identity.address, "name": identity.display_name},
        "recipient": {"profile_url": action.params["profile_url"]},
        "message": action.params["message"],
        "sent_at": timezone.now().isoformat().replace("+00:00", "Z"),
    }


@dataclass(frozen=True)
class WebhookRequest:
    """One delivery, complete but unsigned: a send thread needs nothing else (no
    settings, no database). The secret travels per request, so the pool holds none."""

    url: str
    body: bytes
    msg_id: str  # the webhook-id: the action's idempotency key
    headers: dict[str, str]
    secret: str = field(repr=False)  # never in a log line
    timeout: float


def send_request(request: WebhookRequest) -> str:
    """Sign and POST one delivery through the pooled client; the provider's message id,
    or an ExecutionError. Network only."""
    timestamp = str(int(time.time()))
    headers = {
        **request.headers,
        "webhook-id": request.msg_id,
        "webhook-timestamp": timestamp,
        "webhook-signature": sign_webhook(request.secret, request.msg_id, timestamp, request.body),
    }
    try:
        response = pooled_client(PROVIDER).post(
            request.url, content=request.body, headers=headers, timeout=request.timeout
        )
    except httpx.TransportError as exc:
        raise transport_error("LinkedIn provider", exc) from None

    status = response.status_code
    if not 200 <= status < 300:
        text = response.text[:300].strip() or response.reason_phrase
        detail = {"http_status": status, "body": text}
        message = f"LinkedIn provider answered HTTP {status}: {text}"
        if status in RETRYABLE_STATUSES or status >= 500:
            raise TransientError(
                message,
                retry_after=parse_retry_after(response.headers.get("Retry-After")),
                detail=detail,
            )
        raise PermanentError(message, code=PermanentCode.PROVIDER_REJECTED, detail=detail)
    return _provider_id(response, fallback=request.msg_id)


class WebhookSession:
    """A batch's webhook session: stateless, the pool holds (and reopens) connections."""

    def send(self, payload: WebhookRequest) -> str:
        return send_request(payload)

    def close(self) -> None:
        pass  # the pool is the process's, shared with other sessions


@register
class LinkedInWebhookExecutor:
    types = ("linkedin_message",)

    def execute(self, context: ExecutionContext) -> ExecutionResult:
        return execute_whole(self, context)

    def prepare(self, context: ExecutionContext) -> Prepared:
        url, secret = _config()
        payload = payload_for(context)
        body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
        request = WebhookRequest(
            url=url,
            body=body,
            msg_id=context.idempotency_key,
            headers={
                "Content-Type": "application/json",
                "Accept": "application/json",
                "User-Agent": "outreach-hub",
            },
            secret=secret,
            timeout=settings.PROVIDER_TIMEOUT_SECONDS,
        )
        return Prepared(
            provider=PROVIDER,
            session_key=PROVIDER,
            payload=request,
            extra={
                "to_address": payload["recipient"]["profile_url"],
                "body": payload["message"],
            },
        )

    def open_session(self, prepared: Prepared) -> WebhookSession:
        return WebhookSession()

    def record(self, context: ExecutionContext, prepared: Prepared, answer: str) -> ExecutionResult:
        recorded = record_outbound_message(
            context=context,
            channel=ConversationChannel.LINKEDIN,
            to_address=prepared.extra["to_address"],
            body=prepared.extra["body"],
            provider_message_id=answer,
        )
        return ExecutionResult(
            provider_message_id=answer,
            detail={"provider": "linkedin_webhook", "message_recorded": recorded},
        )
