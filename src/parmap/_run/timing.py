"""The run's clock: each finished batch's call durations added up into the Summary's `Timing`.

Memory stays flat however many items pass: a histogram of log-spaced
buckets (`parmap._worker.timing.bucket`), the few slowest items, and the
stretches of time in which some call was running, merged as they come and
folded into one number once there are more than `MAX_SPANS` of them.
"""

from __future__ import annotations

import bisect
import heapq
import math
import time
from typing import TYPE_CHECKING

from parmap._report.timing import Timing
from parmap._worker.timing import SLOWEST, bucket_seconds

if TYPE_CHECKING:
    from collections.abc import Sequence

    from parmap._worker.timing import Measured

__all__ = ["MAX_SPANS", "TimingLog"]

#: Disjoint stretches of busy time kept apart before the oldest half is folded into a sum.
MAX_SPANS = 64
#: Seconds by which a worker's stamps may lie outside the run and still be read as this
#: machine's clock.
_SLACK = 0.01


class TimingLog:
    """A run's call durations, batch by batch; `finish` turns them into a `Timing`."""

    def __init__(self) -> None:
        """Nothing measured yet; the run starts now."""
        self.started = time.monotonic()
        self.busy = 0.0
        self.counts: dict[int, int] = {}
        self.slowest: list[tuple[float, int]] = []  # min-heap of (seconds, input index)
        self.longest = 0.0
        self.shortest = math.inf
        self.spans: list[tuple[float, float]] = []  # disjoint, sorted: calls were running
        self.covered = 0.0  # seconds of the spans folded away
        self.horizon = -math.inf  # where the folded spans end
        self.foreign = False  # a stamp from a clock that is not this machine's
        #: Set by `finish`: worker-seconds the run had, and seconds no call was running.
        self.capacity = 0.0
        self.idle: float | None = None

    def add(self, start: int, measured: Measured) -> None:
        """Count a finished batch's calls; its first item is the input's item number `start`."""
        busy, batch, slowest, longest, shortest, _, first, last = measured
        self.busy += busy
        counts = self.counts
        for key, count in batch.items():
            counts[key] = counts.get(key, 0) + count
        self.longest = max(self.longest, longest)
        self.shortest = min(self.shortest, shortest)
        for seconds, position in slowest:
            self._keep((seconds, start + position))
        self._cover(first, last)

    def _keep(self, entry: tuple[float, int]) -> None:
        if len(self.slowest) < SLOWEST:
            heapq.heappush(self.slowest, entry)
        elif entry[0] > self.slowest[0][0]:
            heapq.heapreplace(self.slowest, entry)

    def _cover(self, first: float, last: float) -> None:
        """Take in that some call was running from `first` to `last`."""
        if not self.started - _SLACK <= first <= last <= time.monotonic() + _SLACK:
            self.foreign = True
            return
        first = max(first, self.horizon)
        if last <= first:
            return
        spans = self.spans
        if spans and spans[-1][0] <= first:  # the usual case: at or past the latest span
            begin, end = spans[-1]
            if first <= end:
                if last > end:
                    spans[-1] = (begin, last)
                return
            spans.append((first, last))  # after every span: one more, no merging
            self._fold()
            return
        i = bisect.bisect_left(spans, first, key=lambda span: span[1])
        j = i
        while j < len(spans) and spans[j][0] <= last:
            first, last = min(first, spans[j][0]), max(last, spans[j][1])
            j += 1
        spans[i:j] = [(first, last)]
        self._fold()

    def _fold(self) -> None:
        """Past `MAX_SPANS` spans, fold the older half into `covered`."""
        spans = self.spans
        if len(spans) > MAX_SPANS:
            half = len(spans) // 2
            self.covered += sum(end - begin for begin, end in spans[:half])
            self.horizon = spans[half - 1][1]
            del spans[:half]

    def finish(self, elapsed: float, workers: int) -> Timing | None:
        """The run's `Timing` after `elapsed` seconds on `workers` workers; ``None`` if none ran."""
        self.capacity = max(workers, 1) * elapsed
        covered = self.covered + sum(end - begin for begin, end in self.spans)
        self.idle = None if self.foreign else max(elapsed - covered, 0.0)
        return self.timing(elapsed)

    def timing(self, elapsed: float) -> Timing | None:
        """The `Timing` of what was counted, once `capacity` and `idle` are known."""
        measured = sum(self.counts.values())
        if not measured:
            return None
        ranked: list[tuple[float, int]] = []
        for seconds, index in sorted(self.slowest, reverse=True):
            if all(index != seen for _, seen in ranked):  # re-run: an item's slower run
                ranked.append((seconds, index))
        p50, p95 = self._quantiles((0.5, 0.95), measured)
        return Timing(
            measured=measured,
            p50=p50,
            p95=p95,
            max=self.longest,
            slowest=tuple((index, seconds) for seconds, index in ranked),
            busy=self.busy,
            utilisation=min(self.busy / self.capacity, 1.0) if self.capacity > 0 else 0.0,
            overhead=(
                min(self.idle / elapsed, 1.0) if self.idle is not None and elapsed > 0 else None
            ),
        )

    def _quantiles(self, shares: tuple[float, ...], measured: int) -> list[float]:
        """The durations below which each of `shares` (ascending) of the calls fall."""
        found: list[float] = []
        ranks = [max(1, math.ceil(share * measured)) for share in shares]
        seen = 0
        for key in sorted(self.counts):
            seen += self.counts[key]
            while len(found) < len(ranks) and seen >= ranks[len(found)]:
                found.append(min(max(bucket_seconds(key), self.shortest), self.longest))
        return found

    def merged(self, again: TimingLog, indexes: Sequence[int]) -> TimingLog:
        """This finished run's durations and those of its re-run, as one (both runs' time).

        `indexes` gives the input index, in this run, of each item of the re-run.
        """
        both = TimingLog()
        both.started = self.started
        both.busy = self.busy + again.busy
        for log in (self, again):
            for key, count in log.counts.items():
                both.counts[key] = both.counts.get(key, 0) + count
        both.longest = max(self.longest, again.longest)
        both.shortest = min(self.shortest, again.shortest)
        for entry in self.slowest:
            both._keep(entry)
        for seconds, position in again.slowest:
            both._keep((seconds, indexes[position]))
        both.capacity = self.capacity + again.capacity
        if self.idle is not None and again.idle is not None:
            both.idle = self.idle + again.idle
        both.foreign = both.idle is None
        return both
