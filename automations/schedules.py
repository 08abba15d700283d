"""Action schedules (``actionSchedule``) of action definitions.

A schedule is one or more windows separated by ``;`` or ``,``::

    Mon-Fri 09:00-17:00; Sat,Sun 10:00-14:00
    Daily 22:00-06:00
    Weekdays 00:00-24:00, Weekends 10:00-12:00

Days: ``Mon``..``Sun`` (or full names, any case), ranges ``Mon-Fri`` (a range may
wrap: ``Fri-Mon``), comma lists ``Sat,Sun`` (ranges allowed in lists), or
``Daily``/``Weekdays``/``Weekends``. Times are 24-hour ``HH:MM``; the end may be
``24:00``. An end earlier than the start is an overnight window: it belongs to the
start day and runs past midnight (``Fri 22:00-06:00`` ends Saturday 06:00). An end
equal to the start is refused (use ``00:00-24:00`` for a whole day). Times are wall
clock in the action's timezone; a start falling in a spring-forward gap resolves
with the pre-transition offset (02:30 on a New York DST day is 03:30 EDT).
A blank schedule means "always allowed". The window arithmetic is config.windows',
shared with identities' sending windows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from config.windows import WeeklyWindow, next_opening


class ScheduleError(ValueError):
    """The schedule text is not in the schedule language."""


_DAY_NAMES = {
    "mon": 0,
    "monday": 0,
    "tue": 1,
    "tues": 1,
    "tuesday": 1,
    "wed": 2,
    "wednesday": 2,
    "thu": 3,
    "thur": 3,
    "thurs": 3,
    "thursday": 3,
    "fri": 4,
    "friday": 4,
    "sat": 5,
    "saturday": 5,
    "sun": 6,
    "sunday": 6,
}
_DAY_GROUPS = {
    "daily": frozenset(range(7)),
    "everyday": frozenset(range(7)),
    "weekdays": frozenset(range(5)),
    "weekends": frozenset({5, 6}),
}
_DAY_LABELS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")

_WINDOW = re.compile(
    r"\s*(?P<days>[A-Za-z]+(?:\s*-\s*[A-Za-z]+)?(?:\s*,\s*[A-Za-z]+(?:\s*-\s*[A-Za-z]+)?)*)"
    r"\s+(?P<start>\d{1,2}:\d{2})\s*-\s*(?P<end>\d{1,2}:\d{2})\s*"
)
_SEPARATOR = re.compile(r"[;,]")
MAX_SCHEDULE_CHARS = 2000


@dataclass(frozen=True)
class Window:
    """Days (0 = Monday) and minutes after local midnight; ``end > 1440`` = overnight."""

    days: frozenset[int]
    start: int
    end: int

    def weekly(self) -> WeeklyWindow:
        """The window in config.windows' terms (an overnight end before the start)."""
        end = self.end - 1440 if self.end > 1440 else self.end
        return WeeklyWindow(self.days, timedelta(minutes=self.start), timedelta(minutes=end))

    def __str__(self) -> str:
        days = ",".join(_DAY_LABELS[d] for d in sorted(self.days))
        return f"{days} {_fmt(self.start)}-{_fmt(self.end % 1440 if self.end > 1440 else self.end)}"


def _fmt(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _day(token: str) -> int:
    key = token.strip().lower()
    if key not in _DAY_NAMES:
        raise ScheduleError(
            f"Unknown day {token.strip()!r}; use Mon, Tue, Wed, Thu, Fri, Sat, Sun."
        )
    return _DAY_NAMES[key]


def _parse_days(text: str) -> frozenset[int]:
    days: set[int] = set()
    for item in text.split(","):
        item = item.strip()
        if item.lower() in _DAY_GROUPS:
            days |= _DAY_GROUPS[item.lower()]
        elif "-" in item:
            first, last = (_day(part) for part in item.split("-", 1))
            day = first
            days.add(day)
            while day != last:
                day = (day + 1) % 7
                days.add(day)
        else:
            days.add(_day(item))
    return frozenset(days)


def _parse_time(text: str, *, allow_24: bool) -> int:
    hours, minutes = (int(part) for part in text.split(":"))
    if allow_24 and hours == 24 and minutes == 0:
        return 1440
    if hours > 23 or minutes > 59:
        limit = "00:00-24:00" if allow_24 else "00:00-23:59"
        raise ScheduleError(f"Invalid time {text!r}; use HH:MM between {limit}.")
    return hours * 60 + minutes


def parse_schedule(text: str | None) -> list[Window]:
    """Parse a schedule; a blank one gives ``[]`` (always allowed)."""
    if text is None or not text.strip():
        return []
    if len(text) > MAX_SCHEDULE_CHARS:
        raise ScheduleError(f"Schedule is too long (more than {MAX_SCHEDULE_CHARS} characters).")
    windows: list[Window] = []
    pos = 0
    while True:
        match = _WINDOW.match(text, pos)
        if match is None:
            rest = text[pos:].strip()
            raise ScheduleError(
                f"Cannot read schedule at {rest[:40]!r}; expected windows like "
                "'Mon-Fri 09:00-17:00; Sat 10:00-14:00'."
            )
        start = _parse_time(match["start"], allow_24=False)
        end = _parse_time(match["end"], allow_24=True)
        if end == start:
            raise ScheduleError(
                f"Window {match.group().strip()!r} is empty; use 00:00-24:00 for a whole day."
            )
        if end < start:
            end += 1440  # overnight: belongs to the start day, runs past midnight
        windows.append(Window(_parse_days(match["days"]), start, end))
        pos = match.end()
        if pos == len(text):
            return windows
        separator = _SEPARATOR.match(text, pos)
        if separator is None:
            raise ScheduleError(f"Expected ';' or ',' between windows at {text[pos : pos + 40]!r}.")
        pos = separator.end()
        if not text[pos:].strip():
            return windows  # a trailing separator is harmless


def validate_schedule(text: str | None) -> None:
    """Save-time check raising ScheduleError with a readable message."""
    parse_schedule(text)


def _zone(tz_name: str | None) -> ZoneInfo:
    name = (tz_name or "").strip() or "UTC"
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ScheduleError(f"Unknown timezone {name!r}.") from exc


def next_allowed(text: str | None, tz_name: str | None, now: datetime) -> datetime | None:
    """None when ``now`` is inside a window (or the schedule is blank), else the next
    window start in UTC (searching up to 8 days ahead)."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    windows = parse_schedule(text)
    if not windows:
        return None
    return next_opening([window.weekly() for window in windows], _zone(tz_name), now)
