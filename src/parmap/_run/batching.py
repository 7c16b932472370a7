"""Sizing batches: fixed, or adapted to measured item durations. Pure logic, no threads."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TypeVar

__all__ = ["AutoBatchSize", "FixedBatchSize", "remember", "remembered"]

T = TypeVar("T")

#: A batch never grows past this many items, nor more than this factor at a time.
MAX_SIZE = 10_000
GROWTH = 4
#: Bytes a batch sent to a worker process should hold at most (pickled items).
BATCH_BYTES = 1_000_000
#: While a run starts, a batch holds at most (items finished) / (RAMP_SHARE × workers),
#: counting at most RAMP_WORKERS workers: past a few, dividing the ramp among more of
#: them only multiplies the batches (and their overhead, ~20 µs each on threads) of a
#: short run over fast items, while read-ahead stays a small multiple of what is done.
RAMP_SHARE = 2
RAMP_WORKERS = 4
#: Near the end, a batch holds at most remaining / (TAIL_SHARE × workers) items,
#: so that every worker gets a share of what is left and all finish together.
TAIL_SHARE = 2
#: ... unless that holds less than this many seconds of work: finishing together is then
#: no longer in doubt, and more batches only add their overhead.
TAIL_SECONDS = 0.001


@dataclass(slots=True)
class FixedBatchSize:
    """The size the user asked for, every time."""

    size: int

    def next_size(self, dispatched: int) -> int:  # noqa: ARG002 - same shape as AutoBatchSize
        """The size of the next batch."""
        return self.size

    def record(self, items: int, seconds: float) -> None:
        """Fixed sizes ignore measurements."""

    def record_bytes(self, items: int, nbytes: int) -> None:
        """Fixed sizes ignore measurements."""


@dataclass(slots=True)
class AutoBatchSize:
    """Sizes batches from measured per-item durations.

    Starts at one item, so slow items are never lumped together, then aims
    each batch at `target` seconds of work (growing at most `GROWTH` × per
    step). When the input's length is unknown, a batch never holds more than
    the items finished so far divided by ``RAMP_SHARE × min(workers, RAMP_WORKERS)``: read-ahead
    grows with what has been done, so the first results of an endless input
    come after reading only a few items more than them, while the number of
    batches of a long run grows only with the logarithm of its length. When
    the length is known (the input is in memory already), batches grow as
    fast as measurements allow, and shrink near the end so that all workers
    finish together.

    Examples:
        >>> sizer = AutoBatchSize(workers=2, target=0.05, total=None)  # an endless input
        >>> sizer.next_size(dispatched=0)
        1
        >>> sizer.record(items=1, seconds=0.0001)  # 0.1 ms per item: aim for 4 next
        >>> sizer.next_size(dispatched=1)  # but only 1 item is done: ramp up first
        1
        >>> sizer.record(items=100, seconds=0.01)
        >>> sizer.next_size(dispatched=101)
        16
    """

    workers: int
    target: float
    total: int | None
    #: Seconds per item measured by an earlier run of the same function: where to start.
    prior: float | None = None
    #: A batch never holds more items than this (at most `MAX_SIZE`).
    most: int = MAX_SIZE
    _current: int = field(default=1, init=False)
    _per_item: float | None = field(default=None, init=False)
    _completed: int = field(default=0, init=False)
    _bytes_per_item: float = field(default=0.0, init=False)

    def __post_init__(self) -> None:
        if self.prior is not None and self.prior > 0:
            self._per_item = self.prior
            self._current = max(1, min(self.most, int(self.target / self.prior)))

    @property
    def per_item(self) -> float | None:
        """Seconds per item, as measured so far (``None`` before any batch finished)."""
        return self._per_item

    def next_size(self, dispatched: int) -> int:
        """The size of the next batch, given how many items were dispatched so far."""
        size = self._current
        if self.total is None:  # an endless input is read ahead only as far as is done
            size = min(size, self._completed // (RAMP_SHARE * min(self.workers, RAMP_WORKERS)))
        if self._bytes_per_item:
            size = min(size, int(BATCH_BYTES / self._bytes_per_item))
        if self.total is not None:
            remaining = self.total - dispatched
            share = math.ceil(remaining / (TAIL_SHARE * self.workers))
            if self._per_item is not None:  # splitting less than TAIL_SECONDS of work gains nothing
                share = max(share, int(TAIL_SECONDS / self._per_item))
            size = min(size, share)
        return max(1, size)

    def record_bytes(self, items: int, nbytes: int) -> None:
        """Learn that `items` items took `nbytes` bytes to send: batches stay under `BATCH_BYTES`.

        Examples:
            >>> sizer = AutoBatchSize(workers=1, target=1.0, total=None)
            >>> for _ in range(10):
            ...     sizer.record(items=10_000, seconds=0.01)  # tiny items
            >>> sizer.next_size(dispatched=100_000)
            10000
            >>> sizer.record_bytes(items=10, nbytes=100_000)  # of 10 kB each
            >>> sizer.next_size(dispatched=100_000)
            100
        """
        if items > 0:
            self._bytes_per_item = max(self._bytes_per_item * 0.5, nbytes / items)

    def record(self, items: int, seconds: float) -> None:
        """Learn from a finished batch of `items` items that took `seconds` of work."""
        if items <= 0:
            return
        self._completed += items
        per_item = max(seconds / items, 1e-9)
        if self._per_item is None:
            self._per_item = per_item
        else:
            self._per_item = 0.5 * self._per_item + 0.5 * per_item
        ideal = self.target / self._per_item
        ceiling = min(self.most, self._current * GROWTH)
        self._current = max(1, min(ceiling, int(ideal)))


#: Seconds per item that earlier runs measured, by function (a warm pool's job token).
_MEASURED: dict[str, float] = {}
#: Functions remembered at most; the oldest is forgotten first.
_MEASURED_MAX = 64


def remember(key: str, per_item: float | None) -> None:
    """Keep what a finished run measured of its function, for the next run of it."""
    if per_item is None:
        return
    _MEASURED.pop(key, None)
    _MEASURED[key] = per_item
    while len(_MEASURED) > _MEASURED_MAX:
        del _MEASURED[next(iter(_MEASURED))]


def remembered(key: str | None) -> float | None:
    """Seconds per item an earlier run of the same function measured, if any."""
    return None if key is None else _MEASURED.get(key)
