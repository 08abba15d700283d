"""Weekly windows (config/windows.py): inside or not, and the next opening, overnight
windows included."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from config.windows import WeeklyWindow, is_open, next_opening, since_midnight
from outreach.sending_rules import next_window_opening

UTC = ZoneInfo("UTC")
NY = ZoneInfo("America/New_York")
FRI, SAT, SUN = 4, 5, 6


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)


def window(days, start: str, end: str) -> WeeklyWindow:
    def offset(text: str) -> dt.timedelta:
        hours, minutes = (int(part) for part in text.split(":"))
        return dt.timedelta(hours=hours, minutes=minutes)

    return WeeklyWindow(frozenset(days), offset(start), offset(end))


def test_a_day_window_holds_from_its_start_until_before_its_end():
    nine_to_five = window(range(5), "09:00", "17:00")  # Wed 2025-01-08
    assert not nine_to_five.overnight
    assert is_open([nine_to_five], UTC, utc(2025, 1, 8, 9))
    assert is_open([nine_to_five], UTC, utc(2025, 1, 8, 16, 59, 59))
    assert not is_open([nine_to_five], UTC, utc(2025, 1, 8, 17))
    assert next_opening([nine_to_five], UTC, utc(2025, 1, 8, 17)) == utc(2025, 1, 9, 9)
    assert next_opening([nine_to_five], UTC, utc(2025, 1, 10, 18)) == utc(2025, 1, 13, 9)


def test_an_overnight_window_runs_past_midnight_and_belongs_to_its_start_day():
    friday_night = window({FRI}, "22:00", "06:00")
    assert friday_night.overnight
    # Fri 2025-01-10: inside before and after midnight, until Saturday 06:00.
    assert next_opening([friday_night], UTC, utc(2025, 1, 10, 22)) is None
    assert next_opening([friday_night], UTC, utc(2025, 1, 10, 23, 59)) is None
    assert next_opening([friday_night], UTC, utc(2025, 1, 11, 0, 0)) is None
    assert next_opening([friday_night], UTC, utc(2025, 1, 11, 5, 59)) is None
    assert next_opening([friday_night], UTC, utc(2025, 1, 11, 6)) == utc(2025, 1, 17, 22)
    # Thursday night is not in it: the window starts on Fridays only.
    assert next_opening([friday_night], UTC, utc(2025, 1, 10, 1)) == utc(2025, 1, 10, 22)
    assert next_opening([friday_night], UTC, utc(2025, 1, 10, 21, 59)) == utc(2025, 1, 10, 22)


def test_an_overnight_window_every_day_is_closed_only_in_the_day():
    nights = window(range(7), "20:00", "08:00")
    assert is_open([nights], UTC, utc(2025, 1, 8, 7, 59))
    assert is_open([nights], UTC, utc(2025, 1, 8, 20))
    assert next_opening([nights], UTC, utc(2025, 1, 8, 8)) == utc(2025, 1, 8, 20)
    assert next_opening([nights], UTC, utc(2025, 1, 8, 12)) == utc(2025, 1, 8, 20)


def test_an_overnight_window_in_a_timezone():
    # Sat 22:00-06:00 in New York, across the spring-forward night (2025-03-09).
    saturday_night = window({SAT}, "22:00", "06:00")
    assert next_opening([saturday_night], NY, utc(2025, 3, 9, 3)) is None  # 23:00 EST
    assert next_opening([saturday_night], NY, utc(2025, 3, 9, 9, 59)) is None  # 05:59 EDT
    assert next_opening([saturday_night], NY, utc(2025, 3, 9, 10)) == utc(2025, 3, 16, 2)
    # Sunday night is not Saturday's window.
    assert next_opening([saturday_night], NY, utc(2025, 3, 10, 3)) == utc(2025, 3, 16, 2)


def test_an_end_of_a_whole_day_and_an_empty_window():
    evening = WeeklyWindow(frozenset({0}), dt.timedelta(hours=18), dt.timedelta(days=1))
    assert not evening.overnight
    assert is_open([evening], UTC, utc(2025, 1, 6, 23, 59, 59))
    assert not is_open([evening], UTC, utc(2025, 1, 7, 0, 0))
    empty = window(range(7), "09:00", "09:00")  # start == end holds no moment
    assert not is_open([empty], UTC, utc(2025, 1, 8, 9))
    assert next_opening([empty], UTC, utc(2025, 1, 8, 9)) == utc(2025, 1, 9, 9)


def test_no_day_never_opens():
    assert next_opening([window(set(), "09:00", "17:00")], UTC, utc(2025, 1, 8, 12)) is None


def test_since_midnight_keeps_seconds():
    assert since_midnight(dt.time(9, 30, 15)) == dt.timedelta(hours=9, minutes=30, seconds=15)


def test_an_identity_window_may_run_overnight(db, sms_identity):
    sms_identity.window_start, sms_identity.window_end = dt.time(22), dt.time(6)
    sms_identity.window_days = [FRI]
    sms_identity.timezone = "UTC"
    assert next_window_opening(sms_identity, None, utc(2025, 1, 11, 2)) is None  # Sat 02:00
    assert next_window_opening(sms_identity, None, utc(2025, 1, 11, 6)) == utc(2025, 1, 17, 22)
    assert next_window_opening(sms_identity, None, utc(2025, 1, 10, 12)) == utc(2025, 1, 10, 22)
