"""Per-item call durations, measured in the worker around each call and summarised per batch.

Timing one call costs two clock reads and a Python-level step, about 0.1 µs:
nothing beside an item of 100 µs, but more than the item itself beside the
tiny ones that a plain batch runs in a C-level loop at ~50 ns each. So a
batch times its items in *segments* (`Segments`):

::

    first item of the batch ─▶ timed alone
    an item (or a segment's mean) ≥ SLOW_ITEM ─▶ the next item is timed alone
    otherwise ─▶ the next ~SEGMENT_SECONDS of items run as one segment (still in C),
                 timed together: each of them counts with the segment's mean

What a batch measured travels back in its `BatchResult` as a small
`Timings`: a log-spaced histogram of durations, the few slowest items timed
alone, the busy seconds, and when the batch's first call started and its last
ended, on `time.monotonic` (one clock for every process of a machine), so
the caller can tell the time no call of the run was running.
"""

from __future__ import annotations

import heapq
import math
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = [
    "BUCKETS_PER_DOUBLING",
    "SEGMENT_SECONDS",
    "SLOWEST",
    "SLOW_ITEM",
    "Segments",
    "Timings",
    "bucket",
    "bucket_seconds",
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


@dataclass(slots=True)
class Timings:
    """What one batch measured of its items' calls (or, merged, several batches)."""

    #: Seconds spent in calls, summed over the items.
    busy: float = 0.0
    #: Items per histogram bucket (`bucket`); an item of a segment counts with its mean.
    counts: dict[int, int] = field(default_factory=dict)
    #: The slowest items timed alone, a min-heap of ``(seconds, position)``, at most `SLOWEST`.
    slowest: list[tuple[float, int]] = field(default_factory=list)
    #: The longest and shortest duration counted (an item's, or a segment's mean).
    longest: float = 0.0
    shortest: float = math.inf
    #: How many items were timed alone.
    alone: int = 0
    #: `time.monotonic` when the first call started and the last one ended.
    first: float = math.inf
    last: float = 0.0

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

    def moved(self, positions: Sequence[int]) -> Timings:
        """These timings with each slowest item's position `p` read as ``positions[p]``."""
        self.slowest = [(seconds, positions[p]) for seconds, p in self.slowest]
        heapq.heapify(self.slowest)
        return self

    def absorb(self, other: Timings, offset: int = 0) -> None:
        """Add the calls `other` counted; its positions are `offset` further on in this batch."""
        self.busy += other.busy
        counts = self.counts
        for key, count in other.counts.items():
            counts[key] = counts.get(key, 0) + count
        self.alone += other.alone
        self.longest = max(self.longest, other.longest)
        self.shortest = min(self.shortest, other.shortest)
        self.span(other.first, other.last)
        for seconds, position in other.slowest:
            entry = (seconds, position + offset)
            if len(self.slowest) < SLOWEST:
                heapq.heappush(self.slowest, entry)
            elif seconds > self.slowest[0][0]:
                heapq.heapreplace(self.slowest, entry)


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
        """Nothing measured yet; the first segment is the first item, alone."""
        self.timings = Timings()
        self.size = 1
        self.at = 0
        self.start = 0.0

    def open(self, position: int) -> None:
        """Start the clock of a segment that begins at `position`."""
        self.at = position
        self.start = now = time.monotonic()
        self.timings.first = min(self.timings.first, now)

    def close(self, end: int) -> None:
        """Count the items from the open segment's start up to `end`; the next one starts now."""
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
            self.size = 1
        else:
            self.size = min(MAX_SEGMENT, max(2, int(SEGMENT_SECONDS / max(mean, _FLOOR))))
        self.at = end
        self.start = now
