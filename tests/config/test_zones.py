from __future__ import annotations

from config.zones import first_zone


def test_it_takes_the_first_known_zone_skipping_blanks_and_unknown_names():
    assert first_zone(
        "", None, "Mars/Olympus", "Europe/Paris", "Asia/Tokyo", default="UTC"
    ).key == ("Europe/Paris")


def test_it_falls_back_to_the_default_when_none_is_known():
    assert first_zone("", "Not/AZone", "../etc/passwd", default="America/New_York").key == (
        "America/New_York"
    )
