"""A fake Twilio REST API (2010-04-01 Messages and Calls create) on loopback.

    with FakeTwilio() as twilio:
        settings.TWILIO_BASE_URL = twilio.url
        settings.TWILIO_ACCOUNT_SID = twilio.account_sid
        settings.TWILIO_AUTH_TOKEN = twilio.auth_token
        ...
        twilio.messages[0].form["Body"]

Speaks Twilio's wire format: `POST /2010-04-01/Accounts/{AccountSid}/Messages.json` and
`…/Calls.json`, HTTP Basic auth (account SID : auth token), form-encoded bodies, 201 with
Twilio-shaped JSON (`sid` SM/CA + 32 hex, `status` "queued", `date_created` in RFC 2822,
`uri`, …), and errors as Twilio's JSON `{"code","message","more_info","status"}`:
401/20003 for bad credentials, 404/20404 for an unknown resource or another account,
405/20004 for a wrong method, 400 with 21211 (invalid 'To'), 21212 (invalid 'From'),
21602 (no Body), 21604 (no 'To'), 21617 (Body over 1600), 21205 (no Url/Twiml), 32018
(Twiml over 4000 characters) and Twilio's test-credential magic 'To' numbers
(+15005550001 invalid, +15005550002 unroutable, +15005550003 no permission,
+15005550004 blocked/unsubscribed, +15005550009 not SMS-capable). `reject(number, code)`
adds more. Stricter than Twilio in one place: a Twiml that is not well-formed XML is
refused at once (400, 12100) rather than failing the call later.

Scripted 429 (with Retry-After), 500 and 503 answers use Twilio's codes 20429, 20500
and 20503; see tests.fakes for fail_next/drop_next/delay_next.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any
from xml.etree import ElementTree

from tests.fakes import FakeRequest, FakeResponse, FakeServer

API = "/2010-04-01"
ROUTE = re.compile(r"^/2010-04-01/Accounts/(?P<sid>[^/]+)/(?P<resource>Messages|Calls)\.json$")
E164 = re.compile(r"^\+[1-9]\d{1,14}$")

# Twilio's test credentials: https://www.twilio.com/docs/iam/test-credentials
MAGIC_SMS_TO = {
    "+15005550001": (21211, "The 'To' number +15005550001 is not a valid phone number."),
    "+15005550002": (21612, "The 'To' phone number is not currently reachable using the "
                     "'From' phone number via SMS."),
    "+15005550003": (21408, "Permission to send an SMS has not been enabled for the region "
                     "indicated by the 'To' number: +15005550003."),
    "+15005550004": (21610, "Attempt to send to unsubscribed recipient"),
    "+15005550009": (21614, "'To' number is not a valid mobile number"),
}  # fmt: skip
MAGIC_CALL_TO = {
    "+15005550001": (21217, "Phone number does not appear to be valid"),
    "+15005550002": (21214, "'To' phone number cannot be reached"),
    "+15005550003": (21215, "Geo Permission configuration is not permitting call"),
    "+15005550004": (21216, "Call blocked by Twilio blocklist"),
}

ERRORS = {
    429: (20429, "Too Many Requests"),
    500: (20500, "Internal Server Error"),
    503: (20503, "Service Unavailable"),
}

# GSM 03.38: basic set, and the extension characters that take two septets.
GSM_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXTENDED = set("^{}\\[~]|€\f")


def segments(body: str) -> int:
    """How many SMS segments Twilio would bill `body` as."""
    if all(ch in GSM_BASIC or ch in GSM_EXTENDED for ch in body):
        units, single, multi = sum(2 if ch in GSM_EXTENDED else 1 for ch in body), 160, 153
    else:
        units, single, multi = len(body.encode("utf-16-le")) // 2, 70, 67
    return 1 if units <= single else math.ceil(units / multi)


def twilio_error(status: int, code: int, message: str, **extra: Any) -> FakeResponse:
    return FakeResponse.json(
        status,
        {
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
            **extra,
        },
    )


@dataclass
class TwilioRecord:
    """One accepted create request and what the fake answered."""

    resource: str  # "Messages" | "Calls"
    sid: str
    form: dict[str, str]
    auth: tuple[str, str]
    headers: dict[str, str]
    content_type: str
    response: dict[str, Any] = field(default_factory=dict)


class FakeTwilio(FakeServer):
    def __init__(self, account_sid: str | None = None, auth_token: str | None = None) -> None:
        super().__init__()
        self.account_sid = account_sid or "AC" + secrets.token_hex(16)
        self.auth_token = auth_token or secrets.token_hex(16)
        self.accepted: list[TwilioRecord] = []
        self._rejections: dict[str, tuple[int, int, str]] = {}

    # -- what was accepted
    @property
    def messages(self) -> list[TwilioRecord]:
        with self.lock:
            return [r for r in self.accepted if r.resource == "Messages"]

    @property
    def calls(self) -> list[TwilioRecord]:
        with self.lock:
            return [r for r in self.accepted if r.resource == "Calls"]

    def reject(self, number: str, code: int, message: str = "", status: int = 400) -> None:
        """Answer every create to `number` with this Twilio error."""
        with self.lock:
            self._rejections[number] = (status, code, message or f"Rejected with {code}")

    # -- the API
    def error_response(self, status: int) -> FakeResponse:
        code, message = ERRORS.get(status, (20000 + status, f"HTTP {status}"))
        return twilio_error(status, code, message)

    def handle(self, request: FakeRequest) -> FakeResponse:
        route = ROUTE.match(request.path)
        if route is None:
            return twilio_error(404, 20404, f"The requested resource {request.path} was not found")
        if request.method != "POST":
            return twilio_error(405, 20004, "Method not allowed")
        auth = self._credentials(request)
        if auth != (self.account_sid, self.auth_token):
            response = twilio_error(
                401, 20003, "Authenticate", detail="Your AccountSid or AuthToken was incorrect."
            )
            response.headers["WWW-Authenticate"] = 'Basic realm="Twilio API"'
            return response
        if route["sid"] != self.account_sid:
            return twilio_error(404, 20404, f"The requested resource {request.path} was not found")
        content_type = request.headers.get("content-type", "")
        if not content_type.startswith("application/x-www-form-urlencoded"):
            return twilio_error(400, 20001, "Request body must be form-encoded")
        form = request.form()
        resource = route["resource"]
        error = (self._check_message if resource == "Messages" else self._check_call)(form)
        if error is not None:
            return error
        return self._create(resource, form, auth, request, content_type)

    @staticmethod
    def _credentials(request: FakeRequest) -> tuple[str, str] | None:
        scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            user, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return user, password

    def _rejected(self, to: str, magic: dict[str, tuple[int, str]]) -> FakeResponse | None:
        with self.lock:
            custom = self._rejections.get(to)
        if custom is not None:
            status, code, message = custom
            return twilio_error(status, code, message)
        if to in magic:
            code, message = magic[to]
            return twilio_error(400, code, message)
        return None

    def _check_numbers(self, form: dict[str, str], missing_to: int) -> FakeResponse | None:
        to, sender = form.get("To", ""), form.get("From", "")
        if not to:
            return twilio_error(400, missing_to, "A 'To' phone number is required.")
        if not E164.match(to):
            return twilio_error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        if not sender:
            return twilio_error(400, 21603, "A 'From' phone number is required.")
        if not E164.match(sender):
            return twilio_error(
                400,
                21212,
                f"The 'From' number {sender} is not a valid phone number, shortcode, "
                "or alphanumeric sender ID.",
            )
        return None

    def _check_message(self, form: dict[str, str]) -> FakeResponse | None:
        error = self._check_numbers(form, missing_to=21604)
        if error is not None:
            return error
        body = form.get("Body", "")
        if not body and not form.get("MediaUrl") and not form.get("ContentSid"):
            return twilio_error(400, 21602, "Message body is required.")
        if len(body) > 1600:
            return twilio_error(
                400, 21617, "The concatenated message body exceeds the 1600 character limit."
            )
        return self._rejected(form["To"], MAGIC_SMS_TO)

    def _check_call(self, form: dict[str, str]) -> FakeResponse | None:
        error = self._check_numbers(form, missing_to=21201)
        if error is not None:
            return error
        twiml = form.get("Twiml")
        if not twiml and not form.get("Url") and not form.get("ApplicationSid"):
            return twilio_error(400, 21205, "Url parameter is required.")
        if twiml:
            if len(twiml) > 4000:
                return twilio_error(
                    400, 32018, "Twiml size exceeded maximum allowed value of 4000 characters"
                )
            try:
                ElementTree.fromstring(twiml)  # noqa: S314 - our own test input
            except ElementTree.ParseError as exc:
                return twilio_error(400, 12100, f"Document parse failure: {exc}")
        return self._rejected(form["To"], MAGIC_CALL_TO)

    def _create(
        self,
        resource: str,
        form: dict[str, str],
        auth: tuple[str, str],
        request: FakeRequest,
        content_type: str,
    ) -> FakeResponse:
        prefix = "SM" if resource == "Messages" else "CA"
        sid = prefix + secrets.token_hex(16)
        now = format_datetime(datetime.now(UTC))
        uri = f"{API}/Accounts/{self.account_sid}/{resource}/{sid}.json"
        common = {
            "account_sid": self.account_sid,
            "api_version": "2010-04-01",
            "date_created": now,
            "date_updated": now,
            "direction": "outbound-api",
            "from": form["From"],
            "price": None,
            "price_unit": "USD",
            "sid": sid,
            "status": "queued",
            "to": form["To"],
            "uri": uri,
        }
        if resource == "Messages":
            data = {
                **common,
                "body": form.get("Body", ""),
                "date_sent": None,
                "error_code": None,
                "error_message": None,
                "messaging_service_sid": None,
                "num_media": "0",
                "num_segments": str(segments(form.get("Body", ""))),
                "subresource_uris": {"media": uri.replace(".json", "/Media.json")},
            }
        else:
            data = {
                **common,
                "annotation": None,
                "answered_by": None,
                "caller_name": None,
                "duration": None,
                "end_time": None,
                "forwarded_from": None,
                "from_formatted": form["From"],
                "group_sid": None,
                "parent_call_sid": None,
                "phone_number_sid": "PN" + secrets.token_hex(16),
                "queue_time": "0",
                "start_time": None,
                "to_formatted": form["To"],
                "trunk_sid": None,
                "subresource_uris": {
                    "notifications": uri.replace(".json", "/Notifications.json"),
                    "recordings": uri.replace(".json", "/Recordings.json"),
                },
            }
        record = TwilioRecord(
            resource=resource,
            sid=sid,
            form=form,
            auth=auth,
            headers=request.headers,
            content_type=content_type,
            response=data,
        )
        with self.lock:
            self.accepted.append(record)
        return FakeResponse.json(201, data)
