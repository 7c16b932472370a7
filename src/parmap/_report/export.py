"""Plain data for `Summary.to_dict`: values ``json.dumps`` always takes, whatever they were."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from .items import safe_repr

if TYPE_CHECKING:
    from .timing import Timing

__all__ = ["ITEM_REPR", "plain_count", "plain_number", "plain_text", "timing_dict"]

#: Characters of an item's repr that `Summary.to_dict` keeps.
ITEM_REPR = 200


def plain_text(value: object) -> str:
    """A plain ``str`` of `value`: a str subclass is copied, anything else shown by repr."""
    if type(value) is str:
        return value
    if isinstance(value, str):
        return str.__str__(value)
    return safe_repr(value, ITEM_REPR)


def plain_count(value: object) -> int | None:
    """A plain ``int`` of `value`, or ``None`` when it is not one."""
    try:
        number: int = int(value)  # type: ignore[call-overload]  # checked by the try
    except Exception:  # noqa: BLE001 - plain data or nothing
        return None
    return number


def plain_number(value: object) -> float | None:
    """A plain finite ``float`` of `value` (JSON has no NaN or infinity), or ``None``."""
    try:
        number = float(value)  # type: ignore[arg-type]  # checked by the try
    except Exception:  # noqa: BLE001 - plain data or nothing
        return None
    return number if math.isfinite(number) else None


def timing_dict(timing: Timing) -> dict[str, Any]:
    return {
        "measured": plain_count(timing.measured),
        "p50": plain_number(timing.p50),
        "p95": plain_number(timing.p95),
        "max": plain_number(timing.max),
        "slowest": [
            {"index": plain_count(index), "seconds": plain_number(seconds)}
            for index, seconds in timing.slowest
        ],
        "busy": plain_number(timing.busy),
        "utilisation": plain_number(timing.utilisation),
        "overhead": None if timing.overhead is None else plain_number(timing.overhead),
    }
