"""When an identity may send: its sending window and its daily limit.

- The window (weekdays and hours) applies when `window_start` and `window_end`
  are set; it is read in the contact's timezone when known, else the identity's,
  else the workspace's. Without hours, any time is allowed.
- The daily limit counts attempts started by the identity over a rolling 24
  hours (running or completed ones: an in-flight send counts).

An action due outside its window or over its limit is deferred to the next
allowed moment, never failed and never sent early. Like Outreach, Apollo and
lemlist, and unlike a hard failure, this keeps sequences flowing.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo

from contacts.models import Contact
from outreach.models import ActionAttempt, ActionType, AttemptOutcome, Identity

# Types that reach a person through a channel; internal types are not limited.
RULED_TYPES = {
    ActionType.SEND_EMAIL,
    ActionType.EMAIL_MESSAGE,
    ActionType.LINKEDIN_MESSAGE,
    ActionType.SEND_SMS,
    ActionType.CALL_CONTACT,
}
DAY = dt.timedelta(hours=24)


def timezone_for(identity: Identity, contact: Contact | None) -> zoneinfo.ZoneInfo:
    for name in (
        contact.timezone if contact else "",
        identity.timezone,
        identity.workspace.timezone,
    ):
        if name:
            try:
                return zoneinfo.ZoneInfo(name)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                continue
    return zoneinfo.ZoneInfo("UTC")


def next_window_opening(
    identity: Identity, contact: Contact | None, when: dt.datetime
) -> dt.datetime | None:
    """None if `when` is inside the window; else the next moment it opens."""
    start, end = identity.window_start, identity.window_end
    if start is None or end is None:
        return None
    days = set(identity.window_days or range(7))
    tz = timezone_for(identity, contact)
    local = when.astimezone(tz)
    if local.weekday() in days and start <= local.time() < end:
        return None
    for offset in range(8):
        day = local.date() + dt.timedelta(days=offset)
        if day.weekday() not in days:
            continue
        opening = dt.datetime.combine(day, start, tzinfo=tz)
        if opening > local:
            return opening.astimezone(dt.UTC)
    return None  # no allowed day at all: do not hold the action forever


def next_under_limit(identity: Identity, when: dt.datetime) -> dt.datetime | None:
    """None if the identity may start another send now; else when the oldest
    counted send of the last 24 hours ages out."""
    if not identity.daily_limit:
        return None
    recent = list(
        ActionAttempt.objects.filter(
            identity=identity,
            started_at__gt=when - DAY,
            outcome__in=[AttemptOutcome.RUNNING, AttemptOutcome.COMPLETED],
        )
        .order_by("-started_at")
        .values_list("started_at", flat=True)[: identity.daily_limit]
    )
    if len(recent) < identity.daily_limit:
        return None
    return recent[-1] + DAY


def next_allowed_time(
    identity: Identity, contact: Contact | None, action_type: str, now: dt.datetime
) -> tuple[dt.datetime | None, str]:
    """(None, "") when the action may go now; else (when, why)."""
    if action_type not in RULED_TYPES:
        return None, ""
    when, reasons = now, []
    for _ in range(10):  # a limit may push into a closed window and back
        limited = next_under_limit(identity, when)
        if limited:
            reasons.append(f"daily limit of {identity.daily_limit} reached")
            when = limited
        opening = next_window_opening(identity, contact, when)
        if opening:
            reasons.append("outside the sending window")
            when = opening
        if not limited and not opening:
            break
    if when == now:
        return None, ""
    return when, "; ".join(dict.fromkeys(reasons))
