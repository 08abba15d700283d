from __future__ import annotations

import pytest
from django.test import RequestFactory

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
