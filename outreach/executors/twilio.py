"""Twilio executors: `send_sms` (Messages resource) and `call_contact` (Calls resource).

Spoken over Twilio's REST API with httpx: `POST {TWILIO_BASE_URL}/2010-04-01/Accounts/
{AccountSid}/Messages.json` (or `Calls.json`), HTTP Basic auth with the account SID and
auth token, a form-encoded body, JSON back. The created resource's `sid` (`SM…`, `CA…`)
is the action's provider message id.

Configuration: TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN are required; without them every
SMS and call fails at once with "Twilio is not configured" (a PermanentError: retrying
cannot help until an operator sets them, and a failed action is visible, where a retried
one would only burn its retries). TWILIO_STATUS_CALLBACK_URL, when set, is sent as
`StatusCallback` with both messages and calls. TWILIO_BASE_URL only changes for tests.

Idempotency — decision: no idempotency key is sent.
Twilio's REST API has no idempotency key for creating a Message or a Call. The
`I-Twilio-Idempotency-Token` header appears in Twilio's docs only on the webhooks Twilio
*sends to you* (so a receiver can spot Twilio's own retries); nothing documents it being
honoured on `POST …/Messages.json` or `Calls.json`, and Twilio's error 20500 page says
plainly that sending an SMS or starting a call is not idempotent: "if you get a 500 …
and you retry the request, it is possible for a customer to receive multiple messages
or calls". Sending the header anyway would only suggest a guarantee that does not exist.

What SMS and calls rely on instead is the dispatcher's lease: one worker holds an action
at a time, so each lease makes at most one request to Twilio. Exactly-once then holds
whenever the outcome of that request is known:
- 2xx: sent; 4xx: not sent (rejected); 429: not sent (Twilio's docs: "never processed
  and always safe to retry"); a connection that could not be opened: not sent.
- Unknown: a 5xx, a read timeout, or a connection dropped after the request went out:
  Twilio may or may not have created the message. Retrying (what TransientError asks
  for) can deliver it twice; not retrying can lose it. We retry (nothing lost; a rare
  duplicate SMS is the lesser harm for outreach), and mark these errors with
  `detail["outcome"] = "unknown"` (versus `"not_sent"`) so the worker can apply a
  stricter policy per type if it wants. A worker killed after Twilio accepted but before
  the result was recorded is the same case: the reclaimed lease sends again.

Errors: 429 and 5xx → TransientError (Retry-After honoured, in seconds or as an HTTP
date); network errors and timeouts → TransientError; any other 4xx → PermanentError
carrying Twilio's `code` and `message` (21211 invalid 'To', 21610 unsubscribed
recipient, 20003 bad credentials, …). A 2xx without a `sid` is a PermanentError, not a
retry: the message was probably created, and a retry would send it again.

After a success the executor records the outbound Message in the contact's open
`sms`/`phone` conversation (created when there is none); see
outreach.executors.common.record_outbound_message.

Shape: both are SendingExecutors (outreach.executors). `prepare` (main thread) checks the
configuration and builds a TwilioRequest (URL, form, credentials, timeout); the session's
`send` (a send thread, no database) POSTs it through the process's pooled client
(outreach.executors.pooled_http) and maps the answer to the errors above; `record` (main
thread) stores the Message. Every batch's Twilio calls share one session key, "twilio":
the pool, not the session, holds the connections.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote
from xml.sax.saxutils import escape

import httpx
from django.conf import settings

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

logger = logging.getLogger(__name__)

API_VERSION = "2010-04-01"
TWIML_MAX_CHARS = 4000  # Twilio error 32018: "Twiml size exceeded maximum allowed value"
NOT_CONFIGURED = "Twilio is not configured (set TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN)."

# Characters XML 1.0 forbids even when escaped; Twilio would refuse the TwiML.
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


PROVIDER = "twilio"
HEADERS = {"Accept": "application/json", "User-Agent": "outreach-hub"}


# --- Twilio ---------------------------------------------------------------------------
@dataclass(frozen=True)
class TwilioRequest:
    """One create call, complete: a send thread needs nothing else (no settings, no
    database). The credentials travel per request, so a pooled client holds none."""

    url: str
    form: dict[str, str]
    auth: tuple[str, str] = field(repr=False)  # never in a log line
    timeout: float


def send_request(request: TwilioRequest) -> dict[str, Any]:
    """POST a create through the pooled client; the created resource's JSON, or an
    ExecutionError. Network only."""
    try:
        response = pooled_client(PROVIDER).post(
            request.url,
            data=request.form,
            auth=request.auth,
            headers=HEADERS,
            timeout=request.timeout,
        )
    except httpx.TransportError as exc:
        raise transport_error("Twilio", exc) from None
    return TwilioClient._result(response)


class TwilioSession:
    """A batch's Twilio session: stateless, the pool holds (and reopens) connections."""

    def send(self, payload: TwilioRequest) -> dict[str, Any]:
        return send_request(payload)

    def close(self) -> None:
        pass  # the pool is the process's, shared with other sessions


class TwilioClient:
    """The two create calls we make. The base URL comes from settings: operator-set and
    trusted (tests point it at a loopback fake), so no SSRF guard applies here."""

    def __init__(self, *, account_sid: str, auth_token: str, base_url: str, timeout: float):
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    @classmethod
    def from_settings(cls) -> TwilioClient:
        sid = (settings.TWILIO_ACCOUNT_SID or "").strip()
        token = (settings.TWILIO_AUTH_TOKEN or "").strip()
        if not sid or not token:
            raise PermanentError(NOT_CONFIGURED, code=PermanentCode.NOT_CONFIGURED)
        return cls(
            account_sid=sid,
            auth_token=token,
            base_url=settings.TWILIO_BASE_URL,
            timeout=settings.PROVIDER_TIMEOUT_SECONDS,
        )

    def resource_url(self, resource: str) -> str:
        sid = quote(self.account_sid, safe="")
        return f"{self.base_url}/{API_VERSION}/Accounts/{sid}/{resource}.json"

    def request(self, resource: str, form: dict[str, str]) -> TwilioRequest:
        return TwilioRequest(
            url=self.resource_url(resource),
            form=form,
            auth=(self.account_sid, self.auth_token),
            timeout=self.timeout,
        )

    def create(self, resource: str, form: dict[str, str]) -> dict[str, Any]:
        """POST a create; the JSON of the created resource, or an ExecutionError."""
        return send_request(self.request(resource, form))

    @staticmethod
    def _result(response: httpx.Response) -> dict[str, Any]:
        status = response.status_code
        try:
            data = response.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            data = {}
        if 200 <= status < 300:
            sid = data.get("sid")
            if not isinstance(sid, str) or not sid:
                raise PermanentError(
                    f"Twilio answered HTTP {status} without a resource sid; the request was "
                    "probably accepted, so it is not retried.",
                    code=PermanentCode.PROVIDER_REJECTED,
                    detail={"http_status": status, "outcome": "unknown"},
                )
            return data

        code = data.get("code")
        message = str(data.get("message") or response.text[:300] or response.reason_phrase)
        detail = {"http_status": status, "twilio_code": code, "more_info": data.get("more_info")}
        described = f"Twilio error {code}: {message}" if code else f"Twilio: {message}"
        if status == 429 or status >= 500:
            detail["outcome"] = "not_sent" if status == 429 else "unknown"
            raise TransientError(
                f"{described} (HTTP {status})",
                retry_after=parse_retry_after(response.headers.get("Retry-After")),
                detail=detail,
            )
        raise PermanentError(
            f"{described} (HTTP {status})", code=_failure_code(status, code), detail=detail
        )


# Twilio error codes that mean the `To` number cannot be sent to
# (https://www.twilio.com/docs/api/errors): invalid, unreachable, not a mobile.
INVALID_RECIPIENT_CODES = {21211, 21214, 21217, 21401, 21612, 21614}
# Our credentials or account, not the message (20003: authentication failed).
NOT_CONFIGURED_CODES = {20003}


def _failure_code(status: int, code: object) -> str:
    """The FailureCode of a 4xx answer (outreach.executors.PermanentCode)."""
    if code in INVALID_RECIPIENT_CODES:
        return PermanentCode.INVALID_RECIPIENT
    if code in NOT_CONFIGURED_CODES or status == 401:
        return PermanentCode.NOT_CONFIGURED
    return PermanentCode.PROVIDER_REJECTED


def status_callback() -> dict[str, str]:
    url = (settings.TWILIO_STATUS_CALLBACK_URL or "").strip()
    return {"StatusCallback": url} if url else {}


def default_greeting(recipient_name: str, caller_name: str) -> str:
    greeting = f"Hello {recipient_name}." if recipient_name else "Hello."
    if caller_name:
        greeting += f" This is {caller_name} calling."
    return greeting


def say_twiml(text: str) -> str:
    """`<Response><Say>text</Say></Response>`, the text XML-escaped."""
    return f"<Response><Say>{escape(_XML_INVALID.sub('', text))}</Say></Response>"


def _result(data: dict[str, Any], recorded: bool) -> ExecutionResult:
    return ExecutionResult(
        provider_message_id=data["sid"],
        detail={"provider": "twilio", "status": data.get("status"), "message_recorded": recorded},
    )


class _TwilioExecutor:
    """What SMS and calls share: one session key, the pooled session, and `record`.
    `prepare` puts what `record` stores in `extra` (channel, to, body)."""

    def execute(self, context: ExecutionContext) -> ExecutionResult:
        return execute_whole(self, context)

    def open_session(self, prepared: Prepared) -> TwilioSession:
        return TwilioSession()

    def record(
        self, context: ExecutionContext, prepared: Prepared, answer: dict[str, Any]
    ) -> ExecutionResult:
        recorded = record_outbound_message(
            context=context,
            channel=prepared.extra["channel"],
            to_address=prepared.extra["to_address"],
            body=prepared.extra["body"],
            provider_message_id=answer["sid"],
        )
        return _result(answer, recorded)

    @staticmethod
    def _prepared(request: TwilioRequest, channel: str, body: str) -> Prepared:
        return Prepared(
            provider=PROVIDER,
            session_key=PROVIDER,
            payload=request,
            extra={"channel": channel, "to_address": request.form["To"], "body": body},
        )


@register
class TwilioSmsExecutor(_TwilioExecutor):
    types = ("send_sms",)

    def prepare(self, context: ExecutionContext) -> Prepared:
        client = TwilioClient.from_settings()
        params = context.action.params
        form = {
            "To": params["recipient_phone"],
            "From": context.identity.address,
            "Body": params["message"],
            **status_callback(),
        }
        return self._prepared(
            client.request("Messages", form), ConversationChannel.SMS, form["Body"]
        )


@register
class TwilioCallExecutor(_TwilioExecutor):
    types = ("call_contact",)

    def prepare(self, context: ExecutionContext) -> Prepared:
        client = TwilioClient.from_settings()
        params = context.action.params
        script = (params.get("script") or "").strip() or default_greeting(
            params.get("recipient_name", ""), context.identity.display_name
        )
        twiml = say_twiml(script)
        if len(twiml) > TWIML_MAX_CHARS:
            raise PermanentError(
                f"The call script makes {len(twiml)} characters of TwiML; Twilio accepts at "
                f"most {TWIML_MAX_CHARS} (error 32018). Shorten the script.",
                code=PermanentCode.INVALID_ACTION,
            )
        form = {
            "To": params["recipient_phone"],
            "From": context.identity.address,
            "Twiml": twiml,
            **status_callback(),
        }
        return self._prepared(client.request("Calls", form), ConversationChannel.PHONE, script)
