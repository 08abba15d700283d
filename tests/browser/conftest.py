"""Playwright fixtures: a real Chromium driving the admin on pytest-django's
live server.

- The browser is Debian's `chromium` at /usr/bin/chromium (override with the
  CHROMIUM environment variable); Playwright's own browser downloads are not
  used. `.ci/run` installs the package when it is missing. A missing browser
  fails the tests with a clear message: it never skips them.
- Screenshots go to `artifacts/screenshots/` under the repository root (git
  ignores `artifacts/`); a failing test also leaves a `FAILED` screenshot.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.db import connections

from tests.factories import PASSWORD

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"rep_{report.when}", report)  # lets `page` know whether the test failed
    return report


@pytest.fixture
def browser(monkeypatch) -> Iterator:
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"Chromium not found at {CHROMIUM}: the browser tests need it. Install Debian's "
            "package (`make test` does it when it may: `sudo apt-get install -y chromium`) or set "
            "CHROMIUM."
        )
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an asyncio event loop in this thread (switching to
    # it through greenlets), so while it is open Django sees a "running event loop"
    # here and refuses the test's own ORM calls with SynchronousOnlyOperation. They
    # are plain synchronous calls in the test's thread (the live server answers in
    # its own threads), so the check is lifted for these tests only, for as long as
    # the browser is open. The same running loop makes Django's connection handler
    # (an asgiref Local) hand out separate connections in that time: the live
    # server tests are transactional, so they see the same data, and they are
    # closed here before the loop stops (else PostgreSQL cannot drop the test
    # database at the end of the run).
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()
            connections.close_all()


@pytest.fixture
def page(browser, request) -> Iterator:
    context = browser.new_context(viewport={"width": 1440, "height": 900}, locale="en-US")
    context.set_default_timeout(15_000)
    page = context.new_page()
    yield page
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=SCREENSHOTS / f"{_slug(request.node.name)}-FAILED.png", full_page=True)
    context.close()


@pytest.fixture
def screenshot(page, request) -> Callable[[str], Path]:
    """`screenshot("approved")` saves artifacts/screenshots/<test>-<nn>-approved.png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    prefix = _slug(request.node.name)
    for old in SCREENSHOTS.glob(f"{prefix}-*.png"):
        old.unlink()
    taken = 0

    def take(name: str) -> Path:
        nonlocal taken
        taken += 1
        target = SCREENSHOTS / f"{prefix}-{taken:02d}-{_slug(name)}.png"
        page.screenshot(path=target, full_page=True)
        return target

    return take


@pytest.fixture
def log_in(page, live_server) -> Callable[..., None]:
    """`log_in(user, next="/admin/")` logs `user` in through the admin's real login form
    (with UserFactory's password), to land on `next`."""

    def submit(user, next: str = "/admin/") -> None:
        page.goto(f"{live_server.url}/admin/login/?next={next}")
        page.fill("#id_username", user.username)
        page.fill("#id_password", PASSWORD)
        page.click("input[type=submit]")

    return submit


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-")
