from __future__ import annotations

import re

import pytest

from accounts.models import Scope
from outreach.models import Identity

pytestmark = pytest.mark.django_db


def test_it_creates_an_identity_in_the_v1_envelope(owner_client, owner):
    response = owner_client.post(
        "/v1/identities",
        {
            "channel": "email",
            "address": "Jane.Doe@Acme.Example.com",
            "display_name": "Acme Sales",
            "daily_limit": 200,
            "window_days": [0, 1, 2, 3, 4],
            "window_start": "09:00",
            "window_end": "17:30",
            "timezone": "America/New_York",
        },
        format="json",
    )
    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "success"
    identity = body["identity"]
    assert identity["id"].startswith("id_")
    assert identity["address"] == "Jane.Doe@acme.example.com"
    assert identity["owner"] == {"id": owner.pk, "email": owner.email}
    assert (identity["window_start"], identity["window_end"]) == ("09:00:00", "17:30:00")
    assert identity["is_active"] is True


def test_it_names_every_bad_field(owner_client):
    response = owner_client.post(
        "/v1/identities",
        {
            "channel": "pager",
            "address": "x",
            "window_days": [7],
            "timezone": "Mars/Olympus",
            "daily_limit": 0,
        },
        format="json",
    )
    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {
        "channel",
        "window_days[0]",
        "timezone",
        "daily_limit",
    }


@pytest.mark.parametrize(
    ("channel", "address"),
    [
        ("email", "not-an-email"),
        ("sms", "555-1234"),
        ("phone", "+1"),
        ("linkedin", "https://example.com/jane"),
    ],
)
def test_the_address_must_fit_the_channel(owner_client, channel, address):
    response = owner_client.post(
        "/v1/identities", {"channel": channel, "address": address}, format="json"
    )
    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {"address"}


def test_a_duplicate_address_is_409(owner_client, email_identity):
    response = owner_client.post(
        "/v1/identities", {"channel": "email", "address": email_identity.address}, format="json"
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "duplicate_identity"


def test_list_retrieve_update_and_deactivate(owner_client, email_identity, sms_identity):
    listed = owner_client.get("/v1/identities?channel=sms").json()
    assert [i["id"] for i in listed["identities"]] == [sms_identity.public_id]
    assert listed["pagination"] == {"total_items": 1, "limit": 20, "skip": 0}

    path = f"/v1/identities/{email_identity.public_id}"
    assert owner_client.get(path).json()["identity"]["display_name"] == "Acme Sales"

    response = owner_client.patch(
        path, {"display_name": "Sales team", "daily_limit": 50}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["identity"]["display_name"] == "Sales team"
    assert response.json()["identity"]["channel"] == "email"

    response = owner_client.post(f"{path}/deactivate")
    assert response.json()["identity"]["is_active"] is False
    assert owner_client.post(f"{path}/deactivate").status_code == 409
    inactive = owner_client.get("/v1/identities?is_active=false").json()["identities"]
    assert [i["id"] for i in inactive] == [email_identity.public_id]


def test_an_update_with_only_one_window_bound_is_400(owner_client, email_identity):
    response = owner_client.patch(
        f"/v1/identities/{email_identity.public_id}", {"window_start": "09:00"}, format="json"
    )
    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {"window_end"}


def test_another_workspaces_identity_is_404(outsider_client, email_identity):
    path = f"/v1/identities/{email_identity.public_id}"
    assert outsider_client.get(path).status_code == 404
    assert outsider_client.patch(path, {"display_name": "x"}, format="json").status_code == 404
    assert outsider_client.post(f"{path}/deactivate").status_code == 404
    assert Identity.objects.get(pk=email_identity.pk).is_active


def test_scopes_follow_the_actions_scopes(client_for, owner, workspace, email_identity):
    reader = client_for(owner, workspace, [Scope.ACTIONS_READ])
    assert reader.get("/v1/identities").status_code == 200
    response = reader.post(
        "/v1/identities", {"channel": "sms", "address": "+14155550111"}, format="json"
    )
    assert response.status_code == 403
    writer = client_for(owner, workspace, [Scope.ACTIONS_WRITE])
    assert writer.get("/v1/identities").status_code == 403


def test_a_skip_past_the_cap_is_a_400_naming_skip(owner_client):
    response = owner_client.get("/v1/identities", {"skip": "100000000000000000000"})
    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["skip"]


def test_a_daily_limit_beyond_the_column_is_a_400_naming_it(owner_client, email_identity):
    # Found by `make fuzz`: 268702813414705758208 reached PostgreSQL ("integer out of
    # range", a 500).
    path = f"/v1/identities/{email_identity.public_id}"
    response = owner_client.patch(path, {"daily_limit": 2**68}, format="json")
    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {"daily_limit"}
    response = owner_client.post(
        "/v1/identities",
        {"channel": "email", "address": "big@acme.example.com", "daily_limit": 2**31},
        format="json",
    )
    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {"daily_limit"}
    assert owner_client.patch(path, {"daily_limit": 2**31 - 1}, format="json").status_code == 200


def test_window_times_are_documented_as_the_wall_clock_times_they_are(client, owner_client):
    # OpenAPI's `format: time` is RFC 3339's full-time, which needs a UTC offset; the
    # windows are "HH:MM:SS" in the identity's timezone, so "09:00:00" failed the schema.
    response = owner_client.post(
        "/v1/identities",
        {
            "channel": "email",
            "address": "windows@acme.example.com",
            "window_start": "09:00",
            "window_end": "17:30",
        },
        format="json",
    )
    assert response.status_code == 201
    identity = response.json()["identity"]
    assert (identity["window_start"], identity["window_end"]) == ("09:00:00", "17:30:00")
    schema = client.get("/api/schema/?format=json").json()["components"]["schemas"]["Identity"]
    for bound in ("window_start", "window_end"):
        field = schema["properties"][bound]
        assert "format" not in field
        assert re.fullmatch(field["pattern"], identity[bound])
