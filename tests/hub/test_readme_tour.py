"""The README's five-minute tour, run as written: every `curl` in its `sh`
blocks, in order, against the data `manage.py seed_demo` loads, with the key it
prints as `$KEY`. Each must answer 2xx, so the front page never shows an example
that does not work."""

from __future__ import annotations

import re
import shlex
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db

README = Path(settings.BASE_DIR) / "README.md"


def tour_commands() -> list[list[str]]:
    """The curl commands of the README's `## A five-minute tour`, as argv lists."""
    text = README.read_text()
    tour = text.split("## A five-minute tour", 1)[1].split("\n## ", 1)[0]
    commands: list[list[str]] = []
    for block in re.findall(r"```sh\n(.*?)```", tour, flags=re.S):
        pending = ""
        for line in block.splitlines(keepends=True):
            pending += line
            if pending.count("'") % 2 or pending.rstrip("\n").endswith("\\"):
                continue  # inside a quoted body, or a continued line
            argv = shlex.split(pending.replace("\\\n", " "))
            pending = ""
            if argv and argv[0] == "curl":
                commands.append(argv)
    return commands


def request_of(argv: list[str], key: str) -> tuple[str, str, dict[str, str], str | None]:
    method, url, headers, body = None, None, {}, None
    args = iter(argv[1:])
    for arg in args:
        if arg == "-X":
            method = next(args)
        elif arg == "-H":
            name, _, value = next(args).partition(":")
            headers[name.strip()] = value.strip().replace("$KEY", key)
        elif arg == "-d":
            body = next(args)
        else:
            url = arg
    assert url and url.startswith("$HUB/"), argv
    return method or ("POST" if body is not None else "GET"), url[len("$HUB") :], headers, body


def test_the_tour_has_an_example_for_every_facade():
    paths = [request_of(argv, "k")[1] for argv in tour_commands()]
    for prefix in ("/v1/actions", "/v1/contacts", "/v2/actions", "/functions/v1/", "/api/"):
        assert any(p.startswith(prefix) for p in paths), prefix


def test_every_tour_example_works_against_the_demo(tmp_path):
    settings.DATA_DIR = tmp_path
    out = StringIO()
    call_command("seed_demo", stdout=out)
    key = re.search(r"API key\s+(\S+)", out.getvalue()).group(1)
    assert f"export HUB=http://127.0.0.1:8000 KEY={key}" in out.getvalue()

    client = APIClient()
    for argv in tour_commands():
        method, path, headers, body = request_of(argv, key)
        extra = {"HTTP_AUTHORIZATION": headers.pop("Authorization")}
        content_type = headers.pop("Content-Type", None)
        assert not headers, headers
        kwargs = {"data": body, "content_type": content_type} if body is not None else {}
        response = client.generic(method, path, **kwargs, **extra)
        assert 200 <= response.status_code < 300, (method, path, response.content[:500])
