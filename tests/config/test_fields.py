"""config.fields: the one check every accepted timestamp goes through."""

from __future__ import annotations

import datetime as dt

import pytest
from rest_framework import serializers

from config.fields import (
    OFFSET_MESSAGE,
    RANGE_MESSAGE,
    AwareDateTimeField,
    DateOrDateTimeField,
    TimestampError,
    in_utc,
)


def tz(hours: int, minutes: int = 0, seconds: int = 0) -> dt.timezone:
    sign = -1 if hours < 0 else 1
    return dt.timezone(sign * dt.timedelta(hours=abs(hours), minutes=minutes, seconds=seconds))


@pytest.mark.parametrize(
    "zone", [tz(15, 59), tz(-15, 59), tz(15, 59, 59), tz(-15, 59, 59), tz(14), tz(-12), dt.UTC]
)
def test_offsets_within_15_59_are_moved_to_utc(zone):
    value = dt.datetime(2030, 6, 1, 12, tzinfo=zone)
    result = in_utc(value)
    assert result.tzinfo is dt.UTC
    assert result == value


@pytest.mark.parametrize("zone", [tz(16), tz(-16), tz(23, 59), tz(-23, 59, 59)])
def test_offsets_of_16_hours_or_more_are_refused(zone):
    with pytest.raises(TimestampError, match="-15:59 and \\+15:59"):
        in_utc(dt.datetime(2030, 6, 1, 12, tzinfo=zone))


def test_a_naive_time_is_taken_as_utc():
    assert in_utc(dt.datetime(2030, 6, 1, 12)) == dt.datetime(2030, 6, 1, 12, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    "value",
    [dt.datetime(1, 1, 1, tzinfo=tz(1)), dt.datetime(9999, 12, 31, 23, tzinfo=tz(-2))],
)
def test_an_instant_outside_the_calendar_in_utc_is_refused(value):
    with pytest.raises(TimestampError, match="0001-01-01 and 9999-12-31"):
        in_utc(value)


@pytest.mark.parametrize("field", [AwareDateTimeField(), DateOrDateTimeField()])
@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2030-01-01T00:00:00-16:00", OFFSET_MESSAGE),
        ("2030-01-01T00:00:00+1600", OFFSET_MESSAGE),
        ("0001-01-01T00:00:00+00:01", RANGE_MESSAGE),
    ],
)
def test_both_fields_refuse_what_in_utc_refuses(field, text, message):
    with pytest.raises(serializers.ValidationError) as caught:
        field.run_validation(text)
    assert caught.value.detail == [message]


def test_both_fields_answer_utc():
    expected = dt.datetime(2030, 1, 1, 15, 59, tzinfo=dt.UTC)
    assert AwareDateTimeField().run_validation("2030-01-01T00:00:00-15:59") == expected
    assert DateOrDateTimeField().run_validation("2030-01-01T00:00:00-15:59") == expected
    assert DateOrDateTimeField().run_validation("2030-01-01") == dt.datetime(
        2030, 1, 1, tzinfo=dt.UTC
    )
