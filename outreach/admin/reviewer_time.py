"""Times on the reviewers' pages: one format, in the reviewer's time zone.

Decision: the reviewer's time zone is the one the product already keeps per
user, `Membership.timezone` (blank means the workspace's), the zone the API
uses for the same user (`caller_time_zone`). The admin is not tied to one
workspace, so for a reviewer in several workspaces: the first membership (the
oldest) that sets a zone of its own; else the workspaces' zone when they all
share one; else `settings.TIME_ZONE` (also for a superuser who is a member of
none). It is a server-side choice rather than the browser's zone so that what
is shown and what the edit field parses are always the same zone, with or
without JavaScript, and the page says which zone that is.

The format, everywhere on the queue, the review page and the edit field:
`2025-06-03 14:30 CEST (UTC+02:00)` (`2025-06-03 12:30 UTC` in UTC), inside
`<time datetime="<UTC ISO 8601>" title="2025-06-03 12:30 UTC">` so the UTC
value shows on hover. The edit field takes the same `YYYY-MM-DD HH:MM`, in
the same zone, and names it.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.template.response import SimpleTemplateResponse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString

from accounts.models import Membership
from config.zones import first_zone

WHEN_FORMAT = "%Y-%m-%d %H:%M"
WHEN_PLACEHOLDER = "YYYY-MM-DD HH:MM"
_CACHE_ATTR = "_outreach_reviewer_zone"


def reviewer_zone_name(request: HttpRequest) -> str:
    """The reviewer's IANA time zone (see the module docstring), one query per request."""
    cached = getattr(request, _CACHE_ATTR, None)
    if cached is not None:
        return cached
    rows = list(
        Membership.objects.filter(user_id=request.user.pk)
        .order_by("id")
        .values_list("timezone", "workspace__timezone")
    )
    own = [zone for zone, _ in rows if zone]
    shared = {workspace_zone for _, workspace_zone in rows}
    wanted = own[0] if own else shared.pop() if len(shared) == 1 else ""
    name = first_zone(wanted, default=settings.TIME_ZONE).key
    setattr(request, _CACHE_ATTR, name)
    return name


@contextmanager
def in_reviewer_zone(request: HttpRequest) -> Iterator[str]:
    """Activate the reviewer's zone: `localtime`, templates and form fields use it."""
    name = reviewer_zone_name(request)
    with timezone.override(zoneinfo.ZoneInfo(name)):
        yield name


def rendered_in_zone(request: HttpRequest, view: Any, *args: Any, **kwargs: Any) -> HttpResponse:
    """Call an admin view in the reviewer's zone, rendering its template response
    inside it too (a TemplateResponse otherwise renders after the view returns)."""
    with in_reviewer_zone(request):
        response = view(request, *args, **kwargs)
        if isinstance(response, SimpleTemplateResponse) and not response.is_rendered:
            response.render()
    return response


class ReviewerTimeMixin:
    """ModelAdmin mixin: the list and detail pages are shown in the reviewer's zone."""

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None):
        return rendered_in_zone(request, super().changelist_view, extra_context)

    def changeform_view(self, request: HttpRequest, *args: Any, **kwargs: Any):
        return rendered_in_zone(request, super().changeform_view, *args, **kwargs)


def zone_label(value: dt.datetime) -> str:
    """`CEST (UTC+02:00)`, `UTC`, or `UTC+05:45` when the zone has no letters abbreviation."""
    local = timezone.localtime(value)
    minutes = int(local.utcoffset().total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    offset = f"UTC{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
    abbreviation = local.tzname() or ""
    if abbreviation in ("UTC", "Z") and minutes == 0:
        return "UTC"
    if abbreviation.isalpha():
        return f"{abbreviation} ({offset})"
    return offset  # e.g. "+0545": the offset already says it


def when_text(value: dt.datetime) -> str:
    """`2025-06-03 14:30 CEST (UTC+02:00)` in the active (the reviewer's) zone."""
    return f"{timezone.localtime(value).strftime(WHEN_FORMAT)} {zone_label(value)}"


def utc_text(value: dt.datetime) -> str:
    return f"{value.astimezone(dt.UTC).strftime(WHEN_FORMAT)} UTC"


def when_html(value: dt.datetime | None) -> SafeString | str:
    """`when_text` in a <time> element whose title is the UTC value."""
    if value is None:
        return ""
    # Two spans so a narrow column breaks between the time and its zone; the
    # text is exactly `when_text`.
    return format_html(
        '<time datetime="{}" title="{}"><span>{}</span> <span>{}</span></time>',
        value.astimezone(dt.UTC).isoformat(),
        utc_text(value),
        timezone.localtime(value).strftime(WHEN_FORMAT),
        zone_label(value),
    )
