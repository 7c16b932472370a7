"""`Timing`: how long a run's calls took where they ran, and how busy its workers were."""

from __future__ import annotations

from dataclasses import dataclass
from typing import final

from parmap._public import public

__all__ = ["Timing", "seconds_text", "timing_line"]

#: How many of the slowest items the report's line names.
_LINE_SLOWEST = 3


@final
@dataclass(frozen=True, slots=True)
class Timing:
    """How long the items' calls took, measured where each ran, and how busy the workers were.

    Durations are measured in the worker around each call, so time an item
    spent queued, pickled or sent is not part of it; an item's retries add
    up (the waits between them, and for ``rate=``, do not count); on the
    asyncio loop, time a coroutine spends awaiting counts, as it holds one
    of the `workers` slots meanwhile.

    Approximations, for the sake of speed and flat memory: the percentiles
    come from a histogram of log-spaced buckets (each about 9% wide), so they
    are within about 5% of the true value (`max` is exact). Items quicker
    than ~100 µs are timed in runs of consecutive items (about 1 ms of work
    each, in the worker's C-level loop); each item of a run counts with the
    run's mean, and only items timed alone appear in `slowest`.

    Added in version 0.1.

    Attributes:
        measured: How many calls were timed (items that returned or raised;
            items restored from a checkpoint, or lost with a worker, were not).
        p50: Median seconds per item.
        p95: 95th percentile of the seconds per item.
        max: The longest item's seconds.
        slowest: Up to 5 ``(index, seconds)`` of the slowest items timed
            alone, slowest first (``index``: the item's position in the input).
        busy: Worker-seconds spent in calls: the sum of every item's seconds.
        utilisation: ``busy / (workers × elapsed)``, from 0 to 1: how much of
            the workers' time went to your function.
        overhead: The share of the wall time (0 to 1) in which no call was
            running: parmap's own start-up, shipping and collecting, and
            reading your input. ``None`` when the workers' clocks cannot be
            compared with this process's (a cluster on other machines).

    Examples:
        >>> import time
        >>> from parmap import parmap
        >>> timing = parmap(time.sleep, [0.01, 0.02, 0.01, 0.05], workers=2).timing
        >>> timing.measured, timing.max >= 0.05, timing.slowest[0][0]
        (4, True, 3)
        >>> 0 <= timing.utilisation <= 1
        True
    """

    measured: int
    p50: float
    p95: float
    max: float
    slowest: tuple[tuple[int, float], ...]
    busy: float
    utilisation: float
    overhead: float | None


def seconds_text(seconds: float) -> str:
    """A duration for a report: three significant digits and a unit.

    Examples:
        >>> seconds_text(0.000_004_2), seconds_text(0.0123), seconds_text(2.5), seconds_text(612)
        ('4.2 µs', '12.3 ms', '2.5 s', '612 s')
    """
    for scale, unit in ((1.0, "s"), (1e-3, "ms"), (1e-6, "µs")):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds * 1e9:.3g} ns"


def timing_line(timing: Timing) -> str:
    """The report's line on timing: percentiles, the slowest items, how busy the workers were."""
    spread = (
        f"p50 {seconds_text(timing.p50)}, p95 {seconds_text(timing.p95)}, "
        f"max {seconds_text(timing.max)}"
    )
    parts = [spread]
    if timing.slowest:
        shown = timing.slowest[:_LINE_SLOWEST]
        slowest = ", ".join(f"#{index} ({seconds_text(seconds)})" for index, seconds in shown)
        parts.append(f"slowest {slowest}")
    busy = f"workers {timing.utilisation:.0%} busy"
    if timing.overhead is not None:
        busy += f", overhead {timing.overhead:.0%}"
    parts.append(busy)
    return "timing: " + " · ".join(parts)


public(Timing)
