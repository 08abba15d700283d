"""The webhooks admin renders, and its Redeliver button queues the event again."""

from __future__ import annotations

import pytest

from tests.admin_helpers import staff_client
from webhooks.models import Delivery, DeliveryStatus

pytestmark = pytest.mark.django_db


def test_pages_render_and_redeliver(owner, make_action, subscribe, settings):
    hook = subscribe("https://hooks.example.com/in", ["action.created"])
    make_action()
    delivery = Delivery.objects.get()
    Delivery.objects.filter(pk=delivery.pk).update(status=DeliveryStatus.DELIVERED)
    client = staff_client(owner, app_label="webhooks")
    for url in [
        "/admin/webhooks/subscription/",
        f"/admin/webhooks/subscription/{hook.pk}/change/",
        "/admin/webhooks/delivery/",
    ]:
        response = client.get(url)
        assert response.status_code == 200, url
    page = client.get(f"/admin/webhooks/delivery/{delivery.pk}/change/")
    assert page.status_code == 200 and b"Redeliver" in page.content
    response = client.post(f"/admin/webhooks/delivery/{delivery.pk}/redeliver/")
    assert response.status_code == 302
    assert Delivery.objects.filter(event=delivery.event).count() == 2
    assert Delivery.objects.filter(status=DeliveryStatus.PENDING).count() == 1


def test_other_workspace_is_hidden(outsider, make_action, subscribe):
    hook = subscribe("https://hooks.example.com/in")
    client = staff_client(outsider, app_label="webhooks")
    assert client.get(f"/admin/webhooks/subscription/{hook.pk}/change/").status_code in (302, 404)
    assert hook.url.encode() not in client.get("/admin/webhooks/subscription/").content
