from __future__ import annotations

import json

import pytest
from django.test import Client, RequestFactory

from accounts.api.views import MeView
from config.exceptions import ApiError, flatten_errors, render_error
from config.views import server_error

pytestmark = pytest.mark.django_db


def test_malformed_json_is_a_400_in_the_v1_envelope(owner_client):
    response = owner_client.post("/v1/api-keys", data="{not json", content_type="application/json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "malformed_request"
    assert "JSON parse error" in error["message"]


def test_a_non_json_body_is_a_415(owner_client):
    response = owner_client.post(
        "/v1/api-keys", data="name=x", content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "unsupported_media_type"


def test_a_wrong_method_is_a_405(owner_client):
    response = owner_client.delete("/v1/me")
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"


def test_an_unknown_api_path_is_a_json_404(owner_client):
    response = owner_client.get("/v1/nothing-here")
    assert response.status_code == 404
    assert response.json() == {
        "status": "error",
        "error": {"code": "not_found", "message": "No such endpoint.", "fields": {}},
    }


def test_a_crash_on_an_api_path_shows_no_stack_trace():
    request = RequestFactory().get("/v1/actions")
    response = server_error(request)
    assert response.status_code == 500
    assert b"Traceback" not in response.content
    assert b'"code": "server_error"' in response.content


def test_each_facade_keeps_its_own_envelope():
    error = ApiError(400, "invalid_request", "Invalid input in: name.", {"name": ["Required."]})
    assert render_error("/v1/actions", error) == {
        "status": "error",
        "error": {
            "code": "invalid_request",
            "message": "Invalid input in: name.",
            "fields": {"name": ["Required."]},
        },
    }
    assert render_error("/v2/actions", error) == {
        "status": 400,
        "error": "Invalid input in: name.",
        "code": "invalid_request",
        "errors": {"name": ["Required."]},
    }
    assert render_error("/functions/v1/scheduled-actions", error) == {
        "error": "Invalid input in: name.",
        "code": "invalid_request",
        "fields": {"name": ["Required."]},
    }
    problem = render_error("/api/Actions", error)
    assert problem["status"] == 400
    assert problem["title"] == "Invalid input in: name."
    assert problem["errors"] == {"name": ["Required."]}
    assert problem["code"] == "invalid_request"


def test_nested_errors_are_flattened_to_paths():
    detail = {
        "params": {"to": ["Enter a valid email address."]},
        "items": [{}, {"email": ["Required."]}],
        "tags": {1: ["Bad."]},
        "non_field_errors": ["Nope."],
    }
    assert flatten_errors(detail) == {
        "params.to": ["Enter a valid email address."],
        "items[1].email": ["Required."],
        "tags[1]": ["Bad."],
        "non_field_errors": ["Nope."],
    }


# --- errors Django produces outside DRF: always the facade's JSON -----------------------------
def is_json(response) -> bool:
    return response["Content-Type"].startswith("application/json")


# (a path that reads a JSON body, the envelope's error object for a 413)
OVERSIZED = [
    ("/v1/actions", lambda body: body["error"]["code"]),
    ("/v1/contacts/batch", lambda body: body["error"]["code"]),
    ("/functions/v1/scheduled-actions", lambda body: body["code"]),
    ("/api/Topics", lambda body: body["code"]),
]


@pytest.mark.parametrize(("path", "code_of"), OVERSIZED)
def test_a_body_over_the_upload_limit_is_a_413_in_the_facade_envelope(
    owner_client, settings, path, code_of
):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    body = json.dumps({"name": "x" * 2000})
    response = owner_client.post(path, data=body, content_type="application/json")
    assert response.status_code == 413
    assert is_json(response)
    assert code_of(response.json()) == "payload_too_large"


def test_the_413_in_the_v1_envelope_names_the_limit(owner_client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    body = json.dumps({"type": "send_email", "params": {"body": "x" * 2000}})
    response = owner_client.post("/v1/actions", data=body, content_type="application/json")
    assert response.json() == {
        "status": "error",
        "error": {
            "code": "payload_too_large",
            "message": "The request body is larger than 1000 bytes.",
            "fields": {},
        },
    }


def test_a_body_within_the_upload_limit_is_read(owner_client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = owner_client.post(
        "/v1/api-keys", data={"name": "ci", "scopes": ["actions:read"]}, format="json"
    )
    assert response.status_code == 201


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (
            "/v1/nothing-here",
            {
                "status": "error",
                "error": {"code": "not_found", "message": "No such endpoint.", "fields": {}},
            },
        ),
        (
            "/v2/nothing-here",
            {"status": 404, "error": "No such endpoint.", "code": "not_found", "errors": {}},
        ),
        (
            "/functions/v1/nothing-here",
            {"error": "No such endpoint.", "code": "not_found", "fields": {}},
        ),
        (
            "/api/nothing-here",
            {
                "type": "https://httpstatuses.io/404",
                "title": "No such endpoint.",
                "status": 404,
                "code": "not_found",
                "errors": {},
            },
        ),
    ],
)
@pytest.mark.parametrize("debug", [False, True])
def test_an_unknown_api_path_is_a_json_404_even_with_debug(
    owner_client, settings, debug, path, expected
):
    settings.DEBUG = debug  # with DEBUG on, Django answers its HTML debug page
    response = owner_client.get(path)
    assert response.status_code == 404
    assert is_json(response)
    assert response.json() == expected


def test_a_wrong_method_is_a_json_405_with_debug(owner_client, settings):
    settings.DEBUG = True
    response = owner_client.delete("/v1/me")
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"
    assert "GET" in response["Allow"]


def test_a_crash_on_an_api_path_is_json_even_with_debug(owner_client, settings, monkeypatch):
    """DEBUG's technical 500 page (with its traceback) is not for API clients; the
    traceback still goes to the log."""

    def crash(self, request):
        raise RuntimeError("boom")

    monkeypatch.setattr(MeView, "get", crash)
    settings.DEBUG = True
    owner_client.raise_request_exception = False
    response = owner_client.get("/v1/me")
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "server_error"
    assert b"boom" not in response.content


def test_pages_outside_the_api_keep_django_s_behaviour(client, settings):
    settings.DEBUG = True
    response = client.get("/nothing-here")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")
    # The admin's catch-all sends an anonymous visitor to its login page.
    response = client.get("/admin/nothing-here/")
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


# --- OPTIONS: no key, no scope, nothing about a workspace ------------------------------------
OPTIONS_PATHS = [
    "/v1/actions",
    "/v1/me",
    "/v1/contacts",
    "/v1/cadences",
    "/v2/actions",
    "/functions/v1/scheduled-actions",
    "/api/Actions",
    "/api/Topics",
]


@pytest.mark.parametrize("path", OPTIONS_PATHS)
def test_options_is_answered_without_a_key(path):
    response = Client().options(
        path, HTTP_ORIGIN="https://app.example.com", HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST"
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {"name", "description", "renders", "parses"}
    assert "application/json" in body["parses"]
    assert "OPTIONS" in response["Allow"]


def test_options_is_answered_for_a_key_without_any_scope(client_for, owner, workspace):
    client = client_for(owner, workspace, scopes=["tickets:read"])
    response = client.options("/v1/actions")
    assert response.status_code == 200
    assert "POST" in response["Allow"]


def test_options_answers_the_same_whoever_asks_and_whatever_exists(
    make_action, owner_client, outsider_client
):
    """An existing action, another workspace's view of it and an id that does not
    exist get the same answer: OPTIONS tells nothing about records."""
    action = make_action()
    mine = owner_client.options(f"/v1/actions/{action.public_id}")
    theirs = outsider_client.options(f"/v1/actions/{action.public_id}")
    nobody = Client().options("/v1/actions/act_doesnotexist")
    assert mine.status_code == theirs.status_code == nobody.status_code == 200
    assert mine.json() == theirs.json() == nobody.json()
    assert mine["Allow"] == theirs["Allow"] == nobody["Allow"]
    assert "actions" not in mine.json()


def test_options_does_not_open_other_methods(settings):
    response = Client().post("/v1/actions", data="{}", content_type="application/json")
    assert response.status_code == 401
