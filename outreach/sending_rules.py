"""When an identity may send: its sending window and its daily limit.

- The window (weekdays and hours, config.windows; an end before the start runs
  past midnight) applies when `window_start` and `window_end` are set; it is read
  in the contact's timezone when known, else the identity's, else the
  workspace's. Without hours, any time is allowed.
- The daily limit counts attempts started by the identity over a rolling 24
  hours (running or completed ones: an in-flight send counts). A batch counts
  it once per identity (quotas_for) and takes a send for each action it starts
  (Quota.take): a batch of 100 with 30 left sends 30 and defers 70.

An action due outside its window or over its limit is deferred to the next
allowed moment, never failed and never sent early. Like Outreach, Apollo and
lemlist, and unlike a hard failure, this keeps sequences flowing.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import Count, Min

from config.windows import WeeklyWindow, next_opening, since_midnight
from config.zones import first_zone
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
    return first_zone(
        contact.timezone if contact else "",
        identity.timezone,
        identity.workspace.timezone,
        default="UTC",
    )


def next_window_opening(
    identity: Identity, contact: Contact | None, when: dt.datetime
) -> dt.datetime | None:
    """None if `when` is inside the window; else the next moment it opens (config.windows:
    an end before the start is an overnight window)."""
    start, end = identity.window_start, identity.window_end
    if start is None or end is None:
        return None
    window = WeeklyWindow(
        days=frozenset(identity.window_days or range(7)),
        start=since_midnight(start),
        end=since_midnight(end),
    )
    return next_opening([window], timezone_for(identity, contact), when)


@dataclass
class Quota:
    """An identity's daily limit, counted once for a whole batch under the
    identity's row lock: sends left now, and when the oldest counted send of
    the last 24 hours ages out (None: nothing counted yet)."""

    left: int
    frees_at: dt.datetime | None

    def take(self, now: dt.datetime) -> None:
        self.left -= 1
        if self.frees_at is None:
            self.frees_at = now + DAY


def quotas_for(identities: Iterable[Identity], now: dt.datetime) -> dict[int, Quota]:
    """The Quota of each identity with a daily limit, in one grouped query.
    The caller holds the identities' row locks, so concurrent batches of one
    identity count one after another and never both take its last send."""
    limited = {identity.pk: identity for identity in identities if identity.daily_limit}
    if not limited:
        return {}
    counted = {
        row["identity_id"]: row
        for row in ActionAttempt.objects.filter(
            identity_id__in=list(limited),
            started_at__gt=now - DAY,
            outcome__in=[AttemptOutcome.QUEUED, AttemptOutcome.RUNNING, AttemptOutcome.COMPLETED],
        )
        .values("identity_id")
        .annotate(sent=Count("id"), oldest=Min("started_at"))
        .order_by()
    }
    quotas = {}
    for pk, identity in limited.items():
        row = counted.get(pk)
        sent = row["sent"] if row else 0
        oldest = row["oldest"] if row else None
        quotas[pk] = Quota(
            left=identity.daily_limit - sent, frees_at=oldest + DAY if oldest else None
        )
    return quotas


def next_under_limit(identity: Identity, when: dt.datetime, quota: Quota) -> dt.datetime | None:
    """None if the identity may start another send at `when`; else when a
    counted send ages out. (A later `when`, after a window pushed it, is taken
    as free once the oldest counted send aged out; if it is not, the action is
    deferred again then.)"""
    if not identity.daily_limit or quota.left > 0:
        return None
    frees_at = quota.frees_at or when + DAY
    return None if when >= frees_at else frees_at


def next_allowed_time(
    identity: Identity,
    contact: Contact | None,
    action_type: str,
    now: dt.datetime,
    quota: Quota | None = None,
) -> tuple[dt.datetime | None, str]:
    """(None, "") when the action may go now; else (when, why). `quota` is the
    identity's (quotas_for), required when it has a daily limit."""
    if action_type not in RULED_TYPES:
        return None, ""
    if identity.daily_limit and quota is None:
        quota = quotas_for([identity], now)[identity.pk]
    when, reasons = now, []
    for _ in range(10):  # a limit may push into a closed window and back
        limited = next_under_limit(identity, when, quota) if quota is not None else None
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
