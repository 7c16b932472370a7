"""`Summary.to_dict`: a summary as plain data that ``json.dumps`` always accepts."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from .items import safe_repr

if TYPE_CHECKING:
    from .summary import Summary
    from .timing import Timing

__all__ = ["summary_dict"]

#: Characters of an item's repr that `Summary.to_dict` keeps.
ITEM_REPR = 200


def summary_dict(summary: Summary[Any, Any]) -> dict[str, Any]:
    """The counts, time, backend, notes, timing and errors of `summary`, as plain data."""
    timing = summary.timing
    return {
        "total": _count(summary.total),
        "succeeded": _count(summary.succeeded),
        "failed": _count(summary.failed),
        "skipped": _count(summary.skipped),
        "ok": summary.failed == 0,
        "elapsed": _number(summary.elapsed),
        "backend": _text(summary.backend),
        "notes": [_text(note) for note in summary.notes],
        "timing": None if timing is None else _timing_dict(timing),
        "errors": [
            {
                "index": _count(error.index),
                "item": safe_repr(error.item, ITEM_REPR),
                "type": _text(error.type_name),
                "message": _text(error.message),
                "traceback": _text(error.traceback),
                "attempts": _count(error.attempts),
            }
            for error in summary.errors
        ],
    }


def _text(value: object) -> str:
    """A plain ``str`` of `value`: a str subclass is copied, anything else shown by repr."""
    if type(value) is str:
        return value
    if isinstance(value, str):
        return str.__str__(value)
    return safe_repr(value, ITEM_REPR)


def _count(value: object) -> int | None:
    """A plain ``int`` of `value`, or ``None`` when it is not one."""
    try:
        number: int = int(value)  # type: ignore[call-overload]  # checked by the try
    except Exception:  # noqa: BLE001 - plain data or nothing
        return None
    return number


def _number(value: object) -> float | None:
    """A plain finite ``float`` of `value` (JSON has no NaN or infinity), or ``None``."""
    try:
        number = float(value)  # type: ignore[arg-type]  # checked by the try
    except Exception:  # noqa: BLE001 - plain data or nothing
        return None
    return number if math.isfinite(number) else None


def _timing_dict(timing: Timing) -> dict[str, Any]:
    return {
        "measured": _count(timing.measured),
        "p50": _number(timing.p50),
        "p95": _number(timing.p95),
        "max": _number(timing.max),
        "slowest": [
            {"index": _count(index), "seconds": _number(seconds)}
            for index, seconds in timing.slowest
        ],
        "busy": _number(timing.busy),
        "utilisation": _number(timing.utilisation),
        "overhead": None if timing.overhead is None else _number(timing.overhead),
    }
