"""Per-item call durations, measured in the worker around each call and summarised per batch.

Timing one call costs two clock reads and a Python-level step, about 0.1 µs:
nothing beside an item of 100 µs, but more than the item itself beside the
tiny ones that a plain batch runs in a C-level loop at ~50 ns each. So a
batch times its items in *segments* (`Segments`):

::

    first segment of the batch ─▶ as long as the last one this process chose (at first: one item)
    an item (or a segment's mean) ≥ SLOW_ITEM ─▶ the next item is timed alone
    otherwise ─▶ the next ~SEGMENT_SECONDS of items run as one segment (still in C),
                 timed together: each of them counts with the segment's mean

What a batch measured travels back in its `BatchResult` as a small tuple
(`Measured`, from `Timings`): a log-spaced histogram of durations, the few slowest items timed
alone, the busy seconds, and when the batch's first call started and its last
ended, on `time.monotonic` (one clock for every process of a machine), so
the caller can tell the time no call of the run was running.
"""

from __future__ import annotations

import heapq
import math
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = [
    "BUCKETS_PER_DOUBLING",
    "SEGMENT_SECONDS",
    "SLOWEST",
    "SLOW_ITEM",
    "Measured",
    "Segments",
    "Timings",
    "bucket",
    "bucket_seconds",
    "moved",
]

#: An item this slow (seconds) is timed alone: the cost of timing it is under 0.1% of it.
SLOW_ITEM = 100e-6
#: Seconds of quicker items a segment holds: its clock reads cost under 0.1% of it.
SEGMENT_SECONDS = 1e-3
#: The most items one segment holds.
MAX_SEGMENT = 1 << 16
#: Histogram buckets per doubling of a duration: a bucket spans 2 ** (1/8), about 9%.
BUCKETS_PER_DOUBLING = 8
#: How many of the slowest items a batch (and a run) keeps.
SLOWEST = 5
#: Durations shorter than this (seconds) are counted in its bucket.
_FLOOR = 1e-9


def bucket(seconds: float) -> int:
    """The histogram bucket of a duration: ``floor(log2(seconds) × BUCKETS_PER_DOUBLING)``.

    Examples:
        >>> bucket(1.0), bucket(2.0), bucket(0.5)
        (0, 8, -8)
    """
    return math.floor(math.log2(max(seconds, _FLOOR)) * BUCKETS_PER_DOUBLING)


def bucket_seconds(index: int) -> float:
    """The duration that stands for bucket `index`: the geometric middle of its bounds.

    Examples:
        >>> round(bucket_seconds(0), 3)  # the bucket [1.0 s, 1.09 s)
        1.044
    """
    return float(2 ** ((index + 0.5) / BUCKETS_PER_DOUBLING))


class Timings:
    """What one batch measured of its items' calls (or, merged, several batches).

    It travels back with its batch as a plain tuple (`packed`, `Measured`).
    """

    __slots__ = ("alone", "busy", "counts", "first", "last", "longest", "shortest", "slowest")

    def __init__(self) -> None:
        """Nothing counted yet."""
        #: Seconds spent in calls, summed over the items.
        self.busy = 0.0
        #: Items per histogram bucket (`bucket`); an item of a segment counts with its mean.
        self.counts: dict[int, int] = {}
        #: The slowest items timed alone, a min-heap of ``(seconds, position)``, at most `SLOWEST`.
        self.slowest: list[tuple[float, int]] = []
        #: The longest and shortest duration counted (an item's, or a segment's mean).
        self.longest = 0.0
        self.shortest = math.inf
        #: How many items were timed alone.
        self.alone = 0
        #: `time.monotonic` when the first call started and the last one ended.
        self.first = math.inf
        self.last = 0.0

    def packed(self) -> Measured:
        """These timings as the plain tuple a `BatchResult` carries (see `Measured`)."""
        return (
            self.busy,
            self.counts,
            self.slowest,
            self.longest,
            self.shortest,
            self.alone,
            self.first,
            self.last,
        )

    @classmethod
    def of(cls, measured: Measured) -> Timings:
        """Timings to add to, from their plain tuple."""
        timings = cls()
        timings.absorb(measured)
        return timings

    def one(self, position: int, seconds: float) -> None:
        """Count one item's call, timed alone."""
        self.busy += seconds
        key = bucket(seconds)
        counts = self.counts
        counts[key] = counts.get(key, 0) + 1
        self.alone += 1
        self.longest = max(self.longest, seconds)
        self.shortest = min(self.shortest, seconds)
        slowest = self.slowest
        if len(slowest) < SLOWEST:
            heapq.heappush(slowest, (seconds, position))
        elif seconds > slowest[0][0]:
            heapq.heapreplace(slowest, (seconds, position))

    def many(self, count: int, seconds: float) -> None:
        """Count `count` items' calls, timed together in `seconds`: each with the mean."""
        mean = seconds / count
        self.busy += seconds
        key = bucket(mean)
        self.counts[key] = self.counts.get(key, 0) + count
        self.longest = max(self.longest, mean)
        self.shortest = min(self.shortest, mean)

    def span(self, first: float, last: float) -> None:
        """Widen the stamps to take in calls made from `first` to `last`."""
        self.first = min(self.first, first)
        self.last = max(self.last, last)

    @property
    def items(self) -> int:
        """How many items' calls were counted."""
        return sum(self.counts.values())

    def absorb(self, measured: Measured, offset: int = 0) -> None:
        """Add the calls another batch counted, its positions `offset` further on in this one."""
        busy, counts, slowest, longest, shortest, alone, first, last = measured
        self.busy += busy
        mine = self.counts
        for key, count in counts.items():
            mine[key] = mine.get(key, 0) + count
        self.alone += alone
        self.longest = max(self.longest, longest)
        self.shortest = min(self.shortest, shortest)
        self.span(first, last)
        for seconds, position in slowest:
            entry = (seconds, position + offset)
            if len(self.slowest) < SLOWEST:
                heapq.heappush(self.slowest, entry)
            elif seconds > self.slowest[0][0]:
                heapq.heapreplace(self.slowest, entry)


#: A batch's `Timings` as it travels: a tuple of builtins, which pickles in a fraction of
#: the time an instance takes (no class to look up on either side). In the order of
#: `Timings.packed`: busy, counts, slowest, longest, shortest, alone, first, last.
Measured = tuple[float, dict[int, int], list[tuple[float, int]], float, float, int, float, float]


def moved(measured: Measured, positions: Sequence[int]) -> Measured:
    """`measured` with each slowest item's position `p` read as ``positions[p]``."""
    busy, counts, slowest, longest, shortest, alone, first, last = measured
    relabelled = [(seconds, positions[p]) for seconds, p in slowest]
    heapq.heapify(relabelled)
    return busy, counts, relabelled, longest, shortest, alone, first, last


#: The size of the segment this process last chose: a batch of tiny items after others
#: starts with one segment for all of them, instead of timing its first item alone. A
#: hint only: threads share it, and whichever wrote last is as good as any.
_hint = 1


class Segments:
    """Times a plain batch's items in segments, as the module docstring describes.

    The loop asks `size` how many items the next segment holds, runs them,
    and calls `close` with the position after the last one run; a call that
    raised is closed with it (``close(position + 1)``), and the loop opens a
    segment again (`open`) after recording the failure, so that recording it
    is not counted as the next item's time.
    """

    __slots__ = ("at", "size", "start", "timings")

    def __init__(self) -> None:
        """Nothing measured yet; the first segment is as long as this process's last one."""
        self.timings = Timings()
        self.size = _hint
        self.at = 0
        self.start = 0.0

    def open(self, position: int) -> None:
        """Start the clock of a segment that begins at `position`."""
        self.at = position
        self.start = now = time.monotonic()
        self.timings.first = min(self.timings.first, now)

    def close(self, end: int) -> None:
        """Count the items from the open segment's start up to `end`; the next one starts now."""
        global _hint  # noqa: PLW0603 - see _hint
        now = time.monotonic()
        count = end - self.at
        if count <= 0:
            return
        seconds = now - self.start
        timings = self.timings
        if count == 1:
            timings.one(self.at, seconds)
            mean = seconds
        else:
            timings.many(count, seconds)
            mean = seconds / count
        timings.last = now
        if mean >= SLOW_ITEM:
            size = 1
        else:
            size = min(MAX_SEGMENT, max(2, int(SEGMENT_SECONDS / max(mean, _FLOOR))))
        if size != self.size:
            self.size = _hint = size
        self.at = end
        self.start = now
