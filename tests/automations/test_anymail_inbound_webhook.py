"""The ESP inbound webhook (django-anymail, Postmark's wire format here): mail to
an identity's address enters the inbound pipeline of that identity's workspace."""

from __future__ import annotations

import base64
import json

import pytest

from automations.models import HookRun
from contacts.models import Contact, Message

pytestmark = pytest.mark.django_db

URL = "/webhooks/anymail/postmark/inbound/"
SECRET = "hook:s3cret-webhook-password"


@pytest.fixture(autouse=True)
def webhook_secret(settings, anymail_esp):
    anymail_esp("postmark")
    settings.ANYMAIL = {"WEBHOOK_SECRET": SECRET}


def postmark(to: str, *, message_id: str = "<m1@mail.example.com>", sender="dana@example.com"):
    return {
        "FromFull": {"Email": sender, "Name": "Dana"},
        "ToFull": [{"Email": to, "Name": ""}],
        "CcFull": [],
        "Subject": "Question about my invoice",
        "TextBody": "Invoice #42 looks wrong.",
        "MessageID": "postmark-own-id",
        "Headers": [
            {"Name": "Message-ID", "Value": message_id},
            {"Name": "In-Reply-To", "Value": "<earlier@acme.example.com>"},
        ],
    }


def post(client, payload, auth: str = SECRET):
    return client.post(
        URL,
        json.dumps(payload),
        content_type="application/json",
        HTTP_AUTHORIZATION="Basic " + base64.b64encode(auth.encode()).decode(),
    )


def test_mail_to_an_identity_starts_the_pipeline(client, email_identity):
    response = post(client, postmark("Sales@Acme.example.com"))
    assert response.status_code == 200, response.content
    contact = Contact.objects.get(email="dana@example.com")
    message = Message.objects.get()
    assert (message.direction, message.conversation.contact) == ("inbound", contact)
    assert message.to_address == email_identity.address
    assert message.provider_message_id == "<m1@mail.example.com>"
    assert message.body == "Invoice #42 looks wrong."
    run = HookRun.objects.get()
    assert (run.hook_name, run.workspace) == ("PreSpam", email_identity.workspace)


def test_a_retried_delivery_is_received_once(client, email_identity):
    assert post(client, postmark(email_identity.address)).status_code == 200
    assert post(client, postmark(email_identity.address)).status_code == 200
    assert Message.objects.count() == 1
    assert HookRun.objects.count() == 1


def test_mail_for_no_identity_is_dropped(client, email_identity):
    assert post(client, postmark("someone-else@example.com")).status_code == 200
    assert not Message.objects.exists()
    assert not Contact.objects.exists()


def test_a_wrong_secret_is_refused(client, email_identity):
    response = post(client, postmark(email_identity.address), auth="hook:guess")
    assert response.status_code == 400
    assert not Message.objects.exists()


def test_without_a_configured_secret_every_call_is_refused(client, email_identity, settings):
    from config import settings as project_settings

    settings.ANYMAIL = project_settings.ANYMAIL  # the random default
    assert project_settings.ANYMAIL["WEBHOOK_SECRET"].startswith("off:")
    response = post(client, postmark(email_identity.address), auth="off:")
    assert response.status_code == 400
    assert not Message.objects.exists()


# Every webhook path django-anymail offers, Postmark's aside.
OTHER_ESP_PATHS = [
    "amazon_ses/inbound/",
    "amazon_ses/tracking/",
    "brevo/inbound/",
    "brevo/tracking/",
    "mailersend/inbound/",
    "mailersend/tracking/",
    "mailgun/inbound/",
    "mailgun/inbound_mime/",
    "mailgun/tracking/",
    "mailjet/inbound/",
    "mailjet/tracking/",
    "mailtrap/inbound/",
    "mailtrap/tracking/",
    "mandrill/",
    "mandrill/tracking/",
    "postal/inbound/",
    "postal/tracking/",
    "resend/inbound/",
    "resend/tracking/",
    "sendgrid/inbound/",
    "sendgrid/tracking/",
    "sendinblue/inbound/",
    "sendinblue/tracking/",
    "sparkpost/inbound/",
    "sparkpost/tracking/",
    "unisender_go/tracking/",
]
NOT_FOUND = {
    "status": "error",
    "error": {"code": "not_found", "message": "No such endpoint.", "fields": {}},
}


@pytest.mark.parametrize("esp_path", OTHER_ESP_PATHS)
def test_the_webhooks_of_an_esp_that_is_not_configured_do_not_exist(client, esp_path):
    client.raise_request_exception = False  # a 500 must show as a 500, not raise here
    response = client.post(
        f"/webhooks/anymail/{esp_path}", data="{}", content_type="application/json"
    )
    assert response.status_code == 404
    assert response.json() == NOT_FOUND


@pytest.mark.parametrize("debug", [False, True])
def test_without_a_configured_esp_no_webhook_exists(client, anymail_esp, settings, debug):
    settings.DEBUG = debug
    anymail_esp(None)
    for kind in ("inbound", "tracking"):
        response = client.post(
            f"/webhooks/anymail/postmark/{kind}/", data="{}", content_type="application/json"
        )
        assert response.status_code == 404
        assert response.json() == NOT_FOUND


def test_the_configured_esp_is_the_one_mounted(client, anymail_esp):
    anymail_esp("mailjet")
    assert client.post(URL, data="{}", content_type="application/json").status_code == 404
    response = client.post(
        "/webhooks/anymail/mailjet/tracking/", data="[]", content_type="application/json"
    )
    # Mailjet's view answers: without the webhook's Basic auth it refuses the call.
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_request"


def test_a_wrong_method_on_a_webhook_is_a_json_405(client):
    response = client.get(URL)
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"
    assert "POST" in response["Allow"]


def test_a_body_over_the_upload_limit_is_a_json_413(client, email_identity, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    payload = postmark(email_identity.address)
    payload["TextBody"] = "x" * 2000
    response = post(client, payload)
    assert response.status_code == 413
    assert response.json()["error"] == {
        "code": "payload_too_large",
        "message": "The request body is larger than 1000 bytes.",
        "fields": {},
    }
    assert not Message.objects.exists()
