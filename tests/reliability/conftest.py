"""Fixtures for the reliability tests: real Celery workers (and beat) against the
pytest-django test database on PostgreSQL, a Redis broker, and a real SMTP
server in this process that counts what arrives.

They run only on PostgreSQL with REDIS_URL set (CI's second run); elsewhere they
are skipped with the reason. The workers use Redis database 9 of REDIS_URL's
server (flushed first), so the suite's own database (e.g. /15) is untouched.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.reliability.helpers import Cluster, database_url, redis_db_url
from tests.smtp_server import SMTPTestServer

BROKER_DB = 9
_REPORTS = pytest.StashKey[dict]()


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "reliability: real worker/beat processes on PostgreSQL and Redis (tests/reliability)",
    )


def _skip_reason() -> str | None:
    from django.conf import settings

    engine = settings.DATABASES["default"]["ENGINE"]
    if "postgresql" not in engine:
        return f"reliability tests need PostgreSQL (DATABASE_URL=postgres://…), not {engine}"
    if not getattr(settings, "REDIS_URL", None):
        return "reliability tests need Redis (REDIS_URL=redis://…)"
    return None


def pytest_collection_modifyitems(config, items):
    here = Path(__file__).parent
    mine = [item for item in items if item.path.is_relative_to(here)]
    if not mine:
        return
    reason = _skip_reason()
    for item in mine:
        item.add_marker(pytest.mark.reliability)
        if reason:
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    item.stash[_REPORTS] = {**item.stash.get(_REPORTS, {}), report.when: report}
    return report


@pytest.fixture
def smtp_server():
    with SMTPTestServer() as server:
        yield server


@pytest.fixture
def broker_url():
    """Database 9 of REDIS_URL's server, flushed."""
    import redis
    from django.conf import settings

    url = redis_db_url(settings.REDIS_URL, BROKER_DB)
    client = redis.Redis.from_url(url)
    client.flushdb()
    yield url
    client.flushdb()
    client.close()


@pytest.fixture
def cluster(request, transactional_db, smtp_server, broker_url, tmp_path):
    """Start processes with cluster.worker()/beat()/dispatcher(); all are stopped
    (SIGTERM, then SIGKILL of their process groups) before the database is flushed.
    When the test failed, the tail of every process's log is printed."""
    from django.db import connection

    # The test database, not the one DATABASE_URL names.
    instance = Cluster(
        tmp_path=tmp_path,
        database_url=database_url(connection.settings_dict),
        broker_url=broker_url,
        smtp_port=smtp_server.port,
    )
    try:
        yield instance
    finally:
        instance.stop_all()
        call = request.node.stash.get(_REPORTS, {}).get("call")
        if call is None or call.failed:
            instance.report()
        connection.close()  # a fresh connection for the flush


@pytest.fixture
def sender(transactional_db):
    """A workspace with an owner and an email identity."""
    from accounts.models import Role
    from outreach import services as outreach_services
    from tests.factories import MembershipFactory, UserFactory, WorkspaceFactory

    workspace = WorkspaceFactory(name="Reliability")
    owner = MembershipFactory(
        workspace=workspace, user=UserFactory(username="ops@example.org"), role=Role.ADMIN
    ).user
    identity = outreach_services.identity_create(
        workspace=workspace,
        channel="email",
        address="sales@reliability.example.com",
        display_name="Reliability",
        owner=owner,
    )
    return workspace, owner, identity


@pytest.fixture
def needs_redis_server():
    if shutil.which("redis-server") is None or shutil.which("redis-cli") is None:
        pytest.skip("redis-server and redis-cli are needed to restart a private Redis")
