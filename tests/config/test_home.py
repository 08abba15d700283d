"""`/`, the URL `make run` prints, lands on a page of links instead of a 404."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("debug", [True, False])
def test_it_links_the_admin_the_api_docs_and_health(db, client, settings, debug):
    settings.DEBUG = debug
    response = client.get("/")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    body = response.content.decode()
    for href in ('href="/admin/"', 'href="/api/docs/"', 'href="/api/schema/"', 'href="/healthz"'):
        assert href in body
    for target in ("/admin/", "/api/docs/", "/healthz"):
        assert client.get(target).status_code in (200, 302)


def test_it_needs_no_login_and_shows_no_workspace(client, workspace):
    body = client.get("/").content.decode()
    assert workspace.name not in body
