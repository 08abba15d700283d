"""Serializer fields shared by the facades."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

# PostgreSQL refuses a UTC offset of 16 hours or more ("time zone displacement
# out of range") in any timestamp it is sent; real zones span -12:00 to +14:00.
# Every timestamp an API accepts, in a body or a query, goes through in_utc().
MAX_UTC_OFFSET = dt.timedelta(hours=16)  # exclusive: -15:59:59 to +15:59:59
OFFSET_MESSAGE = "The UTC offset must be between -15:59 and +15:59."
RANGE_MESSAGE = "Must be a time between 0001-01-01 and 9999-12-31 in UTC."


class TimestampError(ValueError):
    """A parsed timestamp the database cannot be given; str() is the message."""


def in_utc(value: dt.datetime) -> dt.datetime:
    """An aware `value` as the same instant in UTC (a naive one is taken as UTC).

    Raises TimestampError for an offset beyond +-15:59 and for an instant that
    falls outside datetime's years 1-9999 once moved to UTC (0001-01-01T00:00+01:00).
    """
    offset = value.utcoffset()
    if offset is None:
        return value.replace(tzinfo=dt.UTC)
    if abs(offset) >= MAX_UTC_OFFSET:
        raise TimestampError(OFFSET_MESSAGE)
    try:
        return value.astimezone(dt.UTC)
    except OverflowError:
        raise TimestampError(RANGE_MESSAGE) from None


def parse_date_or_datetime(text: str) -> dt.datetime | None:
    """ISO 8601 timestamp or date (midnight), as parsed; None if it is neither."""
    try:
        parsed = parse_datetime(text)
        if parsed is None:
            day = parse_date(text)
            parsed = dt.datetime.combine(day, dt.time.min) if day is not None else None
    except ValueError:  # well-formed but impossible: 2024-02-30, +25:00
        return None
    return parsed


@extend_schema_field(OpenApiTypes.DATETIME)
class DateOrDateTimeField(serializers.Field):
    """A date (midnight UTC) or a timestamp (naive means UTC), as UTC."""

    default_error_messages = {"invalid": "Must be an ISO 8601 date or timestamp."}

    def to_internal_value(self, value: Any) -> dt.datetime:
        parsed = parse_date_or_datetime(str(value).strip())
        if parsed is None:
            self.fail("invalid")
        try:
            return in_utc(parsed)
        except TimestampError as exc:
            raise serializers.ValidationError(str(exc), code="invalid") from None

    def to_representation(self, value: dt.datetime) -> str:
        return value.isoformat()


class AwareDateTimeField(serializers.DateTimeField):
    """ISO 8601 with an explicit offset. A naive time is refused rather than
    guessed: "09:00" in whose timezone is exactly the bug we avoid."""

    default_error_messages = {
        "invalid": "Must be an ISO 8601 timestamp such as 2026-01-15T18:00:00Z.",
        "naive": "Must include a timezone offset (e.g. Z or +02:00).",
    }

    def to_internal_value(self, value: Any) -> dt.datetime:
        if isinstance(value, dt.datetime):
            parsed = value
        elif isinstance(value, str):
            try:
                parsed = parse_datetime(value.strip())
            except ValueError:
                parsed = None
            if parsed is None:
                self.fail("invalid")
        else:
            self.fail("invalid")
        if timezone.is_naive(parsed):
            self.fail("naive")
        try:
            return in_utc(parsed)
        except TimestampError as exc:
            raise serializers.ValidationError(str(exc), code="invalid") from None
