"""The one shape of a metric result that could not be computed.

A metric is a function returning a dict of numbers. One that needs something absent (Inception
weights offline, a face-embedding model) returns `unavailable(reason, fix)` instead of a number,
so no table ever shows a wrong value.
"""

from __future__ import annotations

from typing import Any

__all__ = ["is_available", "unavailable"]


def unavailable(reason: str, fix: str) -> dict[str, Any]:
    """The result of a metric that cannot be computed here: why, and the one-line fix."""
    return {"available": False, "reason": reason, "fix": fix}


def is_available(result: dict[str, Any]) -> bool:
    """False for an `unavailable` result, True for a computed one."""
    return result.get("available", True) is not False
