"""Metrics by name, and the one shape of a result that could not be computed.

A metric is a function returning a dict of numbers. One that needs something absent (Inception
weights offline, a face-embedding model) returns `unavailable(reason, fix)` instead of a number,
so no table ever shows a wrong value.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["METRICS", "get_metric", "is_available", "register_metric", "unavailable"]

METRICS: dict[str, Callable[..., dict[str, Any]]] = {}


def register_metric(name: str) -> Callable[[Callable], Callable]:
    """Decorator: add a metric function to the registry under `name` (names are unique)."""

    def add(fn: Callable) -> Callable:
        if name in METRICS and METRICS[name] is not fn:
            raise ValueError(f"metric {name!r} is already registered")
        METRICS[name] = fn
        return fn

    return add


def get_metric(name: str) -> Callable[..., dict[str, Any]]:
    """The registered metric `name`, or a KeyError listing the known ones."""
    from segan.metrics import load_all

    load_all()
    if name not in METRICS:
        raise KeyError(f"unknown metric {name!r}; known: {', '.join(sorted(METRICS))}")
    return METRICS[name]


def unavailable(reason: str, fix: str) -> dict[str, Any]:
    """The result of a metric that cannot be computed here: why, and the one-line fix."""
    return {"available": False, "reason": reason, "fix": fix}


def is_available(result: dict[str, Any]) -> bool:
    return result.get("available", True) is not False
