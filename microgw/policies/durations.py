"""Durations as the traffic policies write them: seconds as a number, or text with a unit
(``30s``, ``5m``, ``2h``, ``1d``) — the vendor's archives write cache lifetimes that way too (``1d``),
and its throttle intervals as a count and a unit name (``alertInterval`` + ``alertIntervalUnit``)."""

from __future__ import annotations

import re

DURATION_SCHEMA = {
    "oneOf": [
        {"type": "number", "exclusiveMinimum": 0},
        {"type": "string", "pattern": "^\\s*[0-9]+(\\.[0-9]+)?\\s*(ms|s|m|h|d)?\\s*$", "x-expected": "seconds, or a number with a unit: 30s, 5m, 2h, 1d"},
    ],
    "description": "Seconds, or a number with a unit: 30s, 5m, 2h, 1d.",
}

_UNITS = {"ms": 0.001, "": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_TEXT = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*(ms|s|m|h|d)?\s*$", re.IGNORECASE)

UNIT_NAMES = {
    "second": 1, "seconds": 1, "sec": 1, "secs": 1,
    "minute": 60, "minutes": 60, "min": 60, "mins": 60,
    "hour": 3600, "hours": 3600,
    "day": 86400, "days": 86400,
    "week": 604800, "weeks": 604800,
    "calendar_week": 604800, "calendar_month": 2592000, "month": 2592000, "months": 2592000,
}
"""The vendor's ``alertIntervalUnit`` names, lower case (a month counts as 30 days)."""


def seconds(value: float | int | str) -> float:
    """Schema-valid duration -> seconds (> 0)."""
    if isinstance(value, (int, float)):
        return float(value)
    match = _TEXT.match(value)
    if not match:
        raise ValueError(f"not a duration: {value!r}")
    amount = float(match.group(1)) * _UNITS[(match.group(2) or "").lower()]
    if amount <= 0:
        raise ValueError(f"a duration must be more than zero: {value!r}")
    return amount


def text(amount: float) -> str | int:
    """Seconds in the shortest form the YAML reads back (``60`` -> ``1m``)."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if amount >= size and amount % size == 0:
            return f"{int(amount // size)}{unit}"
    return int(amount) if float(amount).is_integer() else amount
