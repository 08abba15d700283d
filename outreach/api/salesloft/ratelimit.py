"""Salesloft-style cost-based rate limit for the /v2 facade.

Salesloft gives each team a budget of cost points per minute (600 by default)
and charges each request a cost; we do the same per workspace:

- Budget: `settings.SALESLOFT_RATE_LIMIT_PER_MINUTE` (env, default 600).
- Cost: 1 per request, whatever its outcome (a 400 or a 404 costs too), except a
  list request for a deep page, charged like Salesloft's published table: pages
  101-150 cost 3, 151-250 cost 8, 251-500 cost 10, 501 and beyond 30. Polling by
  `updated_at[gt]` keeps every request at cost 1.
- Window: a fixed window per wall-clock minute (UTC), counted in Django's cache
  (`cache.add` then the atomic `cache.incr`), keyed by the workspace's public id
  and the minute. Redis in production makes the budget shared by every web
  process; the locmem cache of the embedded default counts per process.
- Every authenticated /v2 response carries `x-ratelimit-endpoint-cost` and
  `x-ratelimit-remaining-minute`. A request that does not fit in what remains is
  refused with 429 in the Salesloft envelope and `Retry-After` (seconds to the
  next minute window); a refused request consumes nothing, so one expensive
  deep-page call cannot starve cheap ones.
- Requests without a valid key (401) carry no rate-limit headers: there is no
  workspace to charge. If the cache is unreachable the limit fails open (logged)
  rather than taking the API down with it.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from rest_framework.exceptions import Throttled

logger = logging.getLogger(__name__)

KEY_PREFIX = "salesloft-rl"
WINDOW_SECONDS = 60
# (first page of the tier, cost), highest first: Salesloft's table.
PAGE_COSTS: tuple[tuple[int, int], ...] = ((501, 30), (251, 10), (151, 8), (101, 3))
HEADER_COST = "x-ratelimit-endpoint-cost"
HEADER_REMAINING = "x-ratelimit-remaining-minute"
clock = time.time  # the wall clock the windows follow (tests move it)


@dataclass(frozen=True)
class Charge:
    cost: int
    remaining: int
    allowed: bool
    retry_after: int


def cost_for_page(page: int | None) -> int:
    if page is None:
        return 1
    for first, cost in PAGE_COSTS:
        if page >= first:
            return cost
    return 1


def page_from(raw: str | None) -> int | None:
    """The `page` parameter for costing only: anything unparseable costs 1 (the
    request will be refused as a 400 anyway)."""
    if raw is None or not raw.strip().isascii() or not raw.strip().isdigit():
        return None
    text = raw.strip()
    return int(text) if len(text) <= 12 else 10**12


def budget() -> int:
    return int(settings.SALESLOFT_RATE_LIMIT_PER_MINUTE)


def charge(workspace_key: str, cost: int) -> Charge | None:
    """Spend `cost` from the workspace's budget for the current minute. None when
    the cache cannot be reached (the request is let through)."""
    now = clock()
    window = int(now // WINDOW_SECONDS)
    retry_after = max(1, math.ceil((window + 1) * WINDOW_SECONDS - now))
    key = f"{KEY_PREFIX}:{workspace_key}:{window}"
    limit = budget()
    try:
        cache.add(key, 0, timeout=WINDOW_SECONDS * 2)
        try:
            used = cache.incr(key, cost)
        except ValueError:  # expired between add and incr
            cache.add(key, 0, timeout=WINDOW_SECONDS * 2)
            used = cache.incr(key, cost)
        if used > limit:
            cache.decr(key, cost)  # a refused request consumes nothing
            return Charge(cost, max(0, limit - (used - cost)), False, retry_after)
    except Exception:
        logger.warning("salesloft rate limit: cache unreachable, not limiting", exc_info=True)
        return None
    return Charge(cost, max(0, limit - used), True, retry_after)


class RateLimitedMixin:
    """For APIViews: charges the caller's workspace once it is authenticated
    (before the scope check, so a 403 is charged and answered with the headers
    too) and adds the headers to every response, errors included."""

    _rate_limit: Charge | None = None

    def endpoint_cost(self, request) -> int:
        return 1

    def check_permissions(self, request) -> None:
        key = request.auth  # authenticates; a bad key raises 401 here
        workspace = getattr(key, "workspace", None)
        if workspace is not None and self._rate_limit is None:
            self._rate_limit = charge(workspace.public_id, self.endpoint_cost(request))
            if self._rate_limit is not None and not self._rate_limit.allowed:
                raise Throttled(
                    wait=self._rate_limit.retry_after,
                    detail=(
                        f"Rate limit of {budget()} per minute exceeded "
                        f"(this request costs {self._rate_limit.cost})."
                    ),
                )
        super().check_permissions(request)  # type: ignore[misc]

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)  # type: ignore[misc]
        if self._rate_limit is not None:
            response[HEADER_COST] = str(self._rate_limit.cost)
            response[HEADER_REMAINING] = str(self._rate_limit.remaining)
        return response
