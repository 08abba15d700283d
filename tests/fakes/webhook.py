"""A Standard Webhooks receiver on loopback (the LinkedIn provider's endpoint).

    with FakeWebhookReceiver() as receiver:
        settings.LINKEDIN_WEBHOOK_URL = receiver.url + "/linkedin"
        settings.LINKEDIN_WEBHOOK_SECRET = receiver.secret
        ...
        receiver.unique_ids, receiver.deliveries, receiver.payloads

It behaves as the spec asks of a receiver: it verifies `webhook-signature` over
"{webhook-id}.{webhook-timestamp}.{raw body}" with the `whsec_` secret and refuses a
missing, stale (beyond 5 minutes) or wrong signature with 401; it de-duplicates by
`webhook-id`, answering a repeat 200 with the id it gave the first time and
`"duplicate": true` without processing it again. A first delivery gets 200
`{"id": "lim_<hex>", "status": "accepted"}`.

Recorded: `deliveries` (every verified request, duplicates included), `unique_ids` (each
webhook-id once, in arrival order), `payloads` (the first body per id, parsed) and
`rejected` (requests refused with 401, with the reason). Scripted failures
(fail_next/drop_next/delay_next) come from tests.fakes; they happen before verification,
so nothing is recorded for them except in `attempts`.
"""

from __future__ import annotations

import base64
import json
import secrets
from dataclasses import dataclass
from typing import Any

from outreach.executors.linkedin import WebhookVerificationError, verify_webhook
from tests.fakes import FakeRequest, FakeResponse, FakeServer


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


@dataclass
class Delivery:
    webhook_id: str
    timestamp: str
    signature: str
    path: str
    headers: dict[str, str]
    body: bytes
    duplicate: bool

    def json(self) -> Any:
        return json.loads(self.body)


class FakeWebhookReceiver(FakeServer):
    def __init__(self, secret: str | None = None) -> None:
        super().__init__()
        self.secret = secret or new_secret()
        self.deliveries: list[Delivery] = []
        self.unique_ids: list[str] = []
        self.payloads: dict[str, Any] = {}
        self.rejected: list[tuple[FakeRequest, str]] = []
        self._receipts: dict[str, str] = {}  # webhook-id -> the id we answered

    def error_response(self, status: int) -> FakeResponse:
        return FakeResponse.json(status, {"error": f"HTTP {status}", "status": status})

    def handle(self, request: FakeRequest) -> FakeResponse:
        if request.method != "POST":
            return FakeResponse.json(405, {"error": "method_not_allowed"})
        try:
            verify_webhook(self.secret, request.headers, request.body)
        except WebhookVerificationError as exc:
            with self.lock:
                self.rejected.append((request, str(exc)))
            return FakeResponse.json(401, {"error": "invalid_signature", "message": str(exc)})
        if not request.headers.get("content-type", "").startswith("application/json"):
            return FakeResponse.json(415, {"error": "unsupported_media_type"})
        try:
            payload = request.json()
        except ValueError:
            return FakeResponse.json(400, {"error": "invalid_json"})

        webhook_id = request.headers["webhook-id"]
        with self.lock:
            duplicate = webhook_id in self._receipts
            if not duplicate:
                self._receipts[webhook_id] = "lim_" + secrets.token_hex(12)
                self.unique_ids.append(webhook_id)
                self.payloads[webhook_id] = payload
            self.deliveries.append(
                Delivery(
                    webhook_id=webhook_id,
                    timestamp=request.headers["webhook-timestamp"],
                    signature=request.headers["webhook-signature"],
                    path=request.path,
                    headers=request.headers,
                    body=request.body,
                    duplicate=duplicate,
                )
            )
            receipt = self._receipts[webhook_id]
        answer: dict[str, Any] = {"id": receipt, "status": "accepted"}
        if duplicate:
            answer["duplicate"] = True
        return FakeResponse.json(200, answer)
