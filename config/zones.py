"""Time zones named by users: the first one that exists, else a default.

Zones are validated when saved, but a stored name can still fail to load (a
tzdata update that drops an alias, a row written before validation), and a
page or a send must not fail for it. One place decides the fallback order.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


def first_zone(*names: str | None, default: str) -> ZoneInfo:
    """The first of `names` that is a known IANA zone (blanks skipped), else `default`."""
    for name in names:
        if name:
            try:
                return ZoneInfo(name)
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return ZoneInfo(default)
