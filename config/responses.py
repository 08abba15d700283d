"""The /v1 facades' success envelope (seeds 000 and 002)."""

from __future__ import annotations

from typing import Any


def ok(**payload: Any) -> dict[str, Any]:
    """`{"status": "success", ...payload}`."""
    return {"status": "success", **payload}
