"""Serializer fields shared by the facades."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.utils import timezone
from django.utils.dateparse import parse_datetime
from rest_framework import serializers


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
        return parsed.astimezone(dt.UTC)
