"""The /v2 facade's Salesloft-style rate limit: a cost budget per workspace and
minute, reported in `x-ratelimit-*` headers, 429 with Retry-After when spent."""

from __future__ import annotations

import pytest
from django.core.cache import cache

from accounts.models import Scope
from outreach.api.salesloft import ratelimit

pytestmark = pytest.mark.django_db

COST, REMAINING = "x-ratelimit-endpoint-cost", "x-ratelimit-remaining-minute"
START = 1_800_000_045.5  # 14.5 s before a minute boundary


@pytest.fixture
def clock(monkeypatch):
    """A wall clock the test moves."""
    now = {"t": START}
    monkeypatch.setattr(ratelimit, "clock", lambda: now["t"])
    return now


@pytest.fixture
def budget(settings):
    def set_to(points: int) -> None:
        settings.SALESLOFT_RATE_LIMIT_PER_MINUTE = points

    return set_to


def headers(response) -> tuple[str | None, str | None]:
    return response.headers.get(COST), response.headers.get(REMAINING)


def test_the_default_budget_is_600_and_each_request_costs_one(owner_client, clock):
    assert headers(owner_client.get("/v2/actions")) == ("1", "599")
    assert headers(owner_client.get("/v2/actions.json")) == ("1", "598")
    assert headers(owner_client.get("/v2/actions/1")) == ("1", "597")  # a 404 costs too


def test_a_spent_budget_is_a_429_with_retry_after(owner_client, clock, budget):
    budget(3)
    assert [headers(owner_client.get("/v2/actions"))[1] for _ in range(3)] == ["2", "1", "0"]
    response = owner_client.get("/v2/actions")
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "15"  # to the next minute window
    assert headers(response) == ("1", "0")
    body = response.json()
    assert body["status"] == 429 and body["code"] == "rate_limited"
    assert set(body) == {"status", "error", "code", "errors"}
    assert "600" not in body["error"] and "3 per minute" in body["error"]
    # The next window starts afresh.
    clock["t"] = START + 15
    response = owner_client.get("/v2/actions")
    assert response.status_code == 200 and headers(response) == ("1", "2")


def test_retry_after_counts_down_to_the_window_s_end(owner_client, clock, budget):
    budget(1)
    owner_client.get("/v2/actions")
    clock["t"] = START + 14  # 0.5 s left: rounds up, never 0
    assert owner_client.get("/v2/actions").headers["Retry-After"] == "1"


def test_another_workspace_has_its_own_budget(owner_client, outsider_client, clock, budget):
    budget(2)
    owner_client.get("/v2/actions"), owner_client.get("/v2/actions")
    assert owner_client.get("/v2/actions").status_code == 429
    response = outsider_client.get("/v2/actions")
    assert response.status_code == 200 and headers(response) == ("1", "1")


def test_keys_of_one_workspace_share_its_budget(owner_client, member_client, clock, budget):
    budget(2)
    assert headers(owner_client.get("/v2/actions")) == ("1", "1")
    assert headers(member_client.get("/v2/actions")) == ("1", "0")
    assert member_client.get("/v2/actions").status_code == 429


PAGE_COSTS = [("1", 1), ("100", 1), ("101", 3), ("150", 3), ("151", 8), ("250", 8)]
PAGE_COSTS += [("251", 10), ("500", 10), ("501", 30), ("99999", 30), ("x", 1), ("0", 1)]


@pytest.mark.parametrize(("page", "cost"), PAGE_COSTS)
def test_deep_pages_cost_more_like_salesloft(owner_client, clock, page, cost):
    response = owner_client.get(f"/v2/actions?page={page}")
    assert headers(response) == (str(cost), str(600 - cost))


def test_a_refused_request_consumes_nothing(owner_client, clock, budget):
    budget(10)
    for _ in range(5):
        owner_client.get("/v2/actions")
    deep = owner_client.get("/v2/actions?page=501")
    assert deep.status_code == 429 and headers(deep) == ("30", "5")
    cheap = owner_client.get("/v2/actions")
    assert cheap.status_code == 200 and headers(cheap) == ("1", "4")


def test_every_v2_response_carries_the_headers(owner_client, client_for, owner, workspace, clock):
    responses = [
        owner_client.get("/v2/actions?per_page=0"),  # 400
        owner_client.get("/v2/actions/123456"),  # 404
        owner_client.get(f"/v2/users/{owner.id}.json"),  # an embedded resource
        owner_client.get("/v2/people/1"),
        client_for(owner, workspace, [Scope.CONTACTS_READ]).get("/v2/actions"),  # 403
    ]
    assert [r.status_code for r in responses] == [400, 404, 200, 404, 403]
    assert [headers(r) for r in responses] == [("1", str(599 - n)) for n in range(5)]


def test_without_a_valid_key_there_is_no_workspace_to_charge(client, clock):
    response = client.get("/v2/actions")
    assert response.status_code == 401 and headers(response) == (None, None)
    response = client.get("/v2/actions", HTTP_AUTHORIZATION="Bearer ohk_nope_nope")
    assert response.status_code == 401 and headers(response) == (None, None)


def test_the_v1_facade_is_not_limited(owner_client, clock, budget):
    budget(1)
    owner_client.get("/v2/actions")
    response = owner_client.get("/v1/actions")
    assert response.status_code == 200 and headers(response) == (None, None)


def test_an_unreachable_cache_fails_open(owner_client, monkeypatch):
    def broken(*args, **kwargs):
        raise ConnectionError("cache down")

    monkeypatch.setattr(cache, "add", broken)
    response = owner_client.get("/v2/actions")
    assert response.status_code == 200 and headers(response) == (None, None)
