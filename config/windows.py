"""Weekly windows in a timezone: when a thing may happen.

A window is a set of weekdays (0 = Monday) and a start and an end, wall-clock
offsets from local midnight. An end earlier than the start is an overnight window:
it belongs to its start day and runs past midnight (Fri 22:00-06:00 ends Saturday
06:00). An end of one day is midnight at the end of the day (24:00). An end equal
to the start holds no moment.

Whether a moment is inside is judged by the wall clock where the window is (so a
window holds a repeated hour of a fall-back night both times); openings are wall
times resolved with the pre-transition offset (a start in a spring-forward gap,
02:30 on a New York DST day, opens at 03:30 EDT).

Used by automation schedules (automations.schedules, `actionSchedule`) and by an
identity's sending window (outreach.sending_rules).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

DAY = dt.timedelta(days=1)
# An opening is looked for this many days ahead: a week, the night before, and a
# day more for a DST shift.
SEARCH_DAYS = 9


@dataclass(frozen=True)
class WeeklyWindow:
    days: frozenset[int]
    start: dt.timedelta  # after local midnight, less than a day
    end: dt.timedelta  # after local midnight, at most a day; before `start`: overnight

    @property
    def overnight(self) -> bool:
        return self.end < self.start

    def holds(self, local: dt.datetime) -> bool:
        """Whether the local wall time `local` is inside the window."""
        wall = local - local.replace(hour=0, minute=0, second=0, microsecond=0)
        today = local.weekday()
        if self.overnight:
            return (today in self.days and wall >= self.start) or (
                (today - 1) % 7 in self.days and wall < self.end
            )
        return today in self.days and self.start <= wall < self.end


def since_midnight(value: dt.time) -> dt.timedelta:
    return dt.timedelta(
        hours=value.hour, minutes=value.minute, seconds=value.second, microseconds=value.microsecond
    )


def _at(day: dt.date, offset: dt.timedelta, tz: ZoneInfo) -> dt.datetime:
    """`offset` after local midnight of `day` on the wall clock, in UTC."""
    return (dt.datetime.combine(day, dt.time(), tzinfo=tz) + offset).astimezone(dt.UTC)


def is_open(windows: Iterable[WeeklyWindow], tz: ZoneInfo, now: dt.datetime) -> bool:
    local = now.astimezone(tz)
    return any(window.holds(local) for window in windows)


def next_opening(
    windows: Iterable[WeeklyWindow], tz: ZoneInfo, now: dt.datetime
) -> dt.datetime | None:
    """None when `now` (aware) is inside a window; else the next window start, in UTC
    (None when no window has a day: nothing ever opens)."""
    windows = list(windows)
    if is_open(windows, tz, now):
        return None
    today = now.astimezone(tz).date()
    best: dt.datetime | None = None
    for offset in range(SEARCH_DAYS):
        day = today + dt.timedelta(days=offset)
        for window in windows:
            if day.weekday() not in window.days:
                continue
            start = _at(day, window.start, tz)
            if start > now and (best is None or start < best):
                best = start
    return best
