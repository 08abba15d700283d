"""/v1/webhooks: every endpoint, the envelope, 400s naming fields, 404 across
workspaces, the scope, constant-query lists."""

from __future__ import annotations

import pytest
from standardwebhooks import Webhook

from accounts.models import Scope
from webhooks.models import Delivery, DeliveryStatus, Subscription

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _http_ok(settings):
    settings.WEBHOOKS_REQUIRE_HTTPS = False


def create(client, **body):
    body = {"url": "https://hooks.example.com/in", "events": ["*"], **body}
    return client.post("/v1/webhooks", body, format="json")


def test_create_shows_the_secret_once(owner_client):
    response = create(owner_client, events=["action.approved"], description="CRM")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "success"
    hook = body["webhook"]
    assert hook["id"].startswith("wh_")
    assert hook["secret"].startswith("whsec_")
    Webhook(hook["secret"])  # a valid Standard Webhooks secret
    assert hook["events"] == ["action.approved"] and hook["is_active"] is True
    stored = Subscription.objects.get(public_id=hook["id"])
    assert stored.secret == hook["secret"]
    raw = Subscription.objects.filter(pk=stored.pk).values_list("secret", flat=True)
    # Encrypted at rest: the column does not hold the plaintext.
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT secret FROM webhooks_subscription WHERE id = %s", [stored.pk])
        assert cursor.fetchone()[0] != hook["secret"]
    assert list(raw)
    again = owner_client.get(f"/v1/webhooks/{hook['id']}").json()["webhook"]
    assert "secret" not in again


def test_bad_input_names_every_field(owner_client):
    response = owner_client.post(
        "/v1/webhooks", {"url": "ftp://x", "events": ["action.nope"]}, format="json"
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert set(error["fields"]) == {"url", "events"}
    assert "action.nope" in " ".join(error["fields"]["events"])


def test_https_required_unless_debug(owner_client, settings):
    settings.WEBHOOKS_REQUIRE_HTTPS = True
    response = create(owner_client, url="http://hooks.example.com/in")
    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {"url"}


def test_list_patch_delete_rotate(owner_client, django_assert_num_queries):
    ids = [create(owner_client).json()["webhook"]["id"] for _ in range(3)]
    response = owner_client.get("/v1/webhooks?limit=2&skip=1")
    body = response.json()
    assert [w["id"] for w in body["webhooks"]] == ids[1:3]
    assert body["pagination"]["total_items"] == 3
    # key lookup, last-used touch, count, page
    with django_assert_num_queries(4):
        assert len(owner_client.get("/v1/webhooks?limit=1").json()["webhooks"]) == 1
    with django_assert_num_queries(4):
        assert len(owner_client.get("/v1/webhooks?limit=50").json()["webhooks"]) == 3

    patched = owner_client.patch(
        f"/v1/webhooks/{ids[0]}", {"events": ["contact.created"], "is_active": False}, format="json"
    ).json()["webhook"]
    assert patched["events"] == ["contact.created"] and patched["is_active"] is False
    assert patched["disabled_at"] is not None
    bad = owner_client.patch(f"/v1/webhooks/{ids[0]}", {"events": ["x"]}, format="json")
    assert bad.status_code == 400 and set(bad.json()["error"]["fields"]) == {"events"}

    before = Subscription.objects.get(public_id=ids[1]).secret
    rotated = owner_client.post(f"/v1/webhooks/{ids[1]}/rotate-secret").json()["webhook"]
    assert rotated["secret"] != before and rotated["secret"].startswith("whsec_")

    assert owner_client.delete(f"/v1/webhooks/{ids[2]}").json()["deleted"] == ids[2]
    assert owner_client.get(f"/v1/webhooks/{ids[2]}").status_code == 404


def test_other_workspace_is_404(owner_client, outsider_client):
    hook = create(owner_client).json()["webhook"]["id"]
    for method, path in [
        ("get", f"/v1/webhooks/{hook}"),
        ("patch", f"/v1/webhooks/{hook}"),
        ("delete", f"/v1/webhooks/{hook}"),
        ("post", f"/v1/webhooks/{hook}/rotate-secret"),
        ("post", f"/v1/webhooks/{hook}/test"),
        ("get", f"/v1/webhooks/{hook}/deliveries"),
        ("post", f"/v1/webhooks/{hook}/deliveries/dlv_0123456789abcdef/redeliver"),
    ]:
        response = getattr(outsider_client, method)(path, {}, format="json")
        assert response.status_code == 404, (method, path, response.status_code)
    assert outsider_client.get("/v1/webhooks").json()["webhooks"] == []


def test_scope_settings_manage(client_for, owner, workspace):
    client = client_for(owner, workspace, [Scope.ACTIONS_READ, Scope.ACTIONS_WRITE])
    assert client.get("/v1/webhooks").status_code == 403
    assert create(client).status_code == 403


def test_test_endpoint_delivers_at_once_and_deliveries_log(
    owner_client, receiver, django_assert_num_queries
):
    hook = create(owner_client, url=receiver.url).json()["webhook"]
    receiver.secret = hook["secret"]
    response = owner_client.post(f"/v1/webhooks/{hook['id']}/test")
    assert response.status_code == 200, response.content
    delivery = response.json()["delivery"]
    assert delivery["status"] == "delivered" and delivery["last_status_code"] == 200
    assert receiver.types() == ["webhook.test"] and receiver.bad_signatures == 0

    owner_client.post(f"/v1/webhooks/{hook['id']}/test")
    log = owner_client.get(f"/v1/webhooks/{hook['id']}/deliveries").json()
    assert [d["type"] for d in log["deliveries"]] == ["webhook.test", "webhook.test"]
    assert log["deliveries"][0]["id"] != delivery["id"]  # newest first
    assert log["deliveries"][1]["id"] == delivery["id"]
    assert set(log["deliveries"][0]) >= {
        "event_id",
        "type",
        "attempts",
        "last_status_code",
        "next_retry_at",
        "delivered_at",
    }
    # key lookup, last-used touch, the webhook, count, page (with the event joined)
    with django_assert_num_queries(5):
        owner_client.get(f"/v1/webhooks/{hook['id']}/deliveries?limit=1")
    with django_assert_num_queries(5):
        owner_client.get(f"/v1/webhooks/{hook['id']}/deliveries?limit=50")

    redo = owner_client.post(f"/v1/webhooks/{hook['id']}/deliveries/{delivery['id']}/redeliver")
    assert redo.status_code == 201, redo.content
    again = redo.json()["delivery"]
    assert again["status"] == "pending" and again["event_id"] == delivery["event_id"]
    # Still pending: a second redeliver of it is a conflict.
    conflict = owner_client.post(f"/v1/webhooks/{hook['id']}/deliveries/{again['id']}/redeliver")
    assert conflict.status_code == 409
    missing = owner_client.post(
        f"/v1/webhooks/{hook['id']}/deliveries/dlv_0123456789abcdef/redeliver"
    )
    assert missing.status_code == 404
    assert Delivery.objects.filter(status=DeliveryStatus.PENDING).count() == 1
