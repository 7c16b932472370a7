"""Grouping (index, item) pairs into batches, and sizing them. Pure functions, no threads."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

from more_itertools import take

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["AutoBatchSize", "FixedBatchSize", "next_batch"]

T = TypeVar("T")

#: Seconds of work a batch should hold. A thread task costs ~20 µs and a
#: process task ~0.2 ms of overhead, so these keep overhead near 1%, while
#: batches stay short enough to spread work over every worker.
THREAD_TARGET = 0.002
PROCESS_TARGET = 0.05
#: A batch never grows past this many items, nor more than this factor at a time.
MAX_SIZE = 10_000
GROWTH = 4
#: Near the end, a batch holds at most remaining / (TAIL_SHARE × workers) items,
#: so that every worker gets a share of what is left and all finish together.
TAIL_SHARE = 2


def next_batch(pairs: Iterator[tuple[int, T]], size: int) -> list[tuple[int, T]]:
    """Take up to `size` (index, item) pairs; an empty list means the input is exhausted.

    Examples:
        >>> pairs = enumerate("abcde")
        >>> next_batch(pairs, 2), next_batch(pairs, 2), next_batch(pairs, 2), next_batch(pairs, 2)
        ([(0, 'a'), (1, 'b')], [(2, 'c'), (3, 'd')], [(4, 'e')], [])
    """
    return take(size, pairs)


@dataclass(slots=True)
class FixedBatchSize:
    """The size the user asked for, every time."""

    size: int

    def next_size(self, dispatched: int) -> int:  # noqa: ARG002 - same shape as AutoBatchSize
        """The size of the next batch."""
        return self.size

    def record(self, items: int, seconds: float) -> None:
        """Fixed sizes ignore measurements."""


@dataclass(slots=True)
class AutoBatchSize:
    """Sizes batches from measured per-item durations.

    Starts at one item, so slow items are never lumped together, then aims
    each batch at `target` seconds of work (growing at most `GROWTH` × per
    step). When the input's length is known, batches shrink near the end so
    that all workers finish together.

    Examples:
        >>> sizer = AutoBatchSize(workers=2, target=0.05, total=None)
        >>> sizer.next_size(dispatched=0)
        1
        >>> sizer.record(items=1, seconds=0.0001)  # 0.1 ms per item
        >>> sizer.next_size(dispatched=1)
        4
        >>> sizer.record(items=4, seconds=0.0004)
        >>> sizer.next_size(dispatched=5)
        16
    """

    workers: int
    target: float
    total: int | None
    _current: int = field(default=1, init=False)
    _per_item: float | None = field(default=None, init=False)

    def next_size(self, dispatched: int) -> int:
        """The size of the next batch, given how many items were dispatched so far."""
        size = self._current
        if self.total is not None:
            remaining = self.total - dispatched
            size = min(size, math.ceil(remaining / (TAIL_SHARE * self.workers)))
        return max(1, size)

    def record(self, items: int, seconds: float) -> None:
        """Learn from a finished batch of `items` items that took `seconds` of work."""
        if items <= 0:
            return
        per_item = max(seconds / items, 1e-9)
        if self._per_item is None:
            self._per_item = per_item
        else:
            self._per_item = 0.5 * self._per_item + 0.5 * per_item
        ideal = self.target / self._per_item
        ceiling = min(MAX_SIZE, self._current * GROWTH)
        self._current = max(1, min(ceiling, int(ideal)))
