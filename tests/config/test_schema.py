from __future__ import annotations

from io import StringIO

import pytest
import yaml
from django.core.management import call_command

pytestmark = pytest.mark.django_db


def test_the_schema_validates_without_warnings():
    out = StringIO()
    call_command("spectacular", "--validate", "--fail-on-warn", stdout=out)
    schema = yaml.safe_load(out.getvalue())
    assert schema["components"]["securitySchemes"]["ApiKeyAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "ohk_<prefix>_<secret>",
        "description": "An API key from the admin or `manage.py create_api_key`.",
    }
    assert "/v1/me" in schema["paths"]
    assert "/v1/api-keys/{id}/revoke" in schema["paths"]


def test_the_schema_and_swagger_ui_are_served_without_a_key(client):
    schema = client.get("/api/schema/?format=json")
    assert schema.status_code == 200
    assert schema.json()["info"]["title"] == "Outreach and automation hub API"
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    assert b"swagger-ui" in docs.content
    # The UI's assets are served by us, not a CDN the browser may not reach.
    assert b"/static/drf_spectacular_sidecar/swagger-ui-dist/" in docs.content
