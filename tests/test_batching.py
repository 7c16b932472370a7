"""Unit tests for parmap._run.batching: taking batches and sizing them from measurements."""

from __future__ import annotations

import itertools
import math
import threading
from typing import TYPE_CHECKING

from hypothesis import given
from hypothesis import strategies as st

from parmap import imap, parmap
from parmap._backends.processes import PROCESS_TARGET
from parmap._backends.threads import DISPATCH_COST, THREAD_TARGET, THREAD_WINDOW, ThreadBackend
from parmap._run.batching import (
    GROWTH,
    MAX_SIZE,
    RAMP_SHARE,
    TAIL_SHARE,
    AutoBatchSize,
    FixedBatchSize,
    remember,
    remembered,
)

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence
    from concurrent.futures import Future

    import pytest

#: Seconds a wait in these tests may take before it counts as a hang.
WAIT = 10

#: A per-item duration and a target chosen so that target / per_item is exact: 64 items.
PER_ITEM = 2.0**-10
TARGET = 2.0**-4


def _sizer(workers: int = 4, target: float = TARGET, total: int | None = None) -> AutoBatchSize:
    """A sizer past its ramp-up (as if very many items were done), to test sizing alone."""
    sizer = AutoBatchSize(workers=workers, target=target, total=total)
    sizer._completed = 10**12  # noqa: SLF001
    return sizer


def _grown(sizer: AutoBatchSize, per_item: float, rounds: int) -> AutoBatchSize:
    """Feed `rounds` batches of the sizer's own suggested size, each item taking `per_item`."""
    dispatched = 0
    for _ in range(rounds):
        size = sizer.next_size(dispatched)
        sizer.record(items=size, seconds=size * per_item)
        dispatched += size
    return sizer


# --- FixedBatchSize ----------------------------------------------------------------------


def test_fixed_size_is_constant() -> None:
    """A fixed size is returned whatever was dispatched."""
    sizer = FixedBatchSize(7)
    assert [sizer.next_size(d) for d in (0, 7, 1_000_000)] == [7, 7, 7]


def test_fixed_size_ignores_measurements() -> None:
    """Recording durations does not change a fixed size."""
    sizer = FixedBatchSize(7)
    sizer.record(items=7, seconds=100.0)
    sizer.record(items=7, seconds=0.0)
    assert sizer.next_size(14) == 7


# --- AutoBatchSize -----------------------------------------------------------------------


def test_targets_are_ordered() -> None:
    """Process batches aim at more seconds of work than thread batches (higher overhead)."""
    assert 0 < THREAD_TARGET < PROCESS_TARGET


def test_auto_starts_at_one() -> None:
    """Before any measurement, a batch holds one item."""
    assert _sizer().next_size(0) == 1


def test_auto_starts_at_one_with_known_total() -> None:
    """With a known large total, the first batch still holds one item."""
    assert _sizer(total=1_000_000).next_size(0) == 1


def test_auto_growth_is_bounded_per_record() -> None:
    """A very fast batch grows the size by at most GROWTH times."""
    sizer = _sizer()
    sizer.record(items=1, seconds=1e-9)
    assert sizer.next_size(1) == GROWTH


def test_auto_growth_is_bounded_at_every_step() -> None:
    """Over many fast batches the size grows at most GROWTH times per record."""
    sizer = _sizer(target=1.0)
    sizes = [sizer.next_size(0)]
    for _ in range(8):
        sizer.record(items=sizes[-1], seconds=sizes[-1] * 1e-9)
        sizes.append(sizer.next_size(0))
    assert all(b <= a * GROWTH for a, b in itertools.pairwise(sizes))


def test_auto_grows_geometrically_while_fast() -> None:
    """Fast batches grow the size by exactly GROWTH per record until the target is near."""
    sizer = _sizer(target=1.0)
    sizes = []
    for _ in range(4):
        size = sizer.next_size(0)
        sizes.append(size)
        sizer.record(items=size, seconds=size * 1e-6)
    assert sizes == [1, GROWTH, GROWTH**2, GROWTH**3]


def test_auto_aims_at_target_seconds() -> None:
    """With steady per-item times, the size settles at target / per-item duration."""
    sizer = _grown(_sizer(), PER_ITEM, rounds=10)
    assert sizer.next_size(0) == round(TARGET / PER_ITEM) == 64


def test_auto_uses_the_target_it_was_given() -> None:
    """A target twice as long settles at batches twice as large."""
    sizer = _grown(_sizer(target=2 * TARGET), PER_ITEM, rounds=10)
    assert sizer.next_size(0) == 128


def test_auto_never_above_max_size() -> None:
    """Even with instantaneous items, the size never exceeds MAX_SIZE."""
    sizer = _sizer(target=1000.0)
    for _ in range(30):
        size = sizer.next_size(0)
        sizer.record(items=size, seconds=0.0)
    assert sizer.next_size(0) == MAX_SIZE


def test_auto_slow_item_keeps_size_one() -> None:
    """An item slower than the target keeps batches at one item."""
    sizer = _sizer()
    sizer.record(items=1, seconds=10 * TARGET)
    assert sizer.next_size(1) == 1


def test_auto_shrinks_after_slow_batches() -> None:
    """Once items turn slow, the size drops back (to 1 when one item exceeds the target)."""
    sizer = _grown(_sizer(), PER_ITEM, rounds=10)
    for _ in range(5):
        sizer.record(items=64, seconds=64 * 10 * TARGET)
    assert sizer.next_size(0) == 1


def test_auto_zero_items_record_is_ignored() -> None:
    """A record of a batch with no items changes nothing."""
    sizer = _grown(_sizer(), PER_ITEM, rounds=10)
    before = sizer.next_size(0)
    sizer.record(items=0, seconds=1000.0)
    assert sizer.next_size(0) == before


def test_auto_zero_items_record_does_not_grow() -> None:
    """A record of zero items taking no time does not grow a fresh sizer."""
    sizer = _sizer()
    sizer.record(items=0, seconds=0.0)
    assert sizer.next_size(0) == 1


def test_auto_zero_seconds_is_not_a_division_error() -> None:
    """A batch measured at 0 seconds grows the size instead of failing."""
    sizer = _sizer()
    sizer.record(items=1, seconds=0.0)
    assert sizer.next_size(1) == GROWTH


def test_auto_tail_gives_every_worker_a_share() -> None:
    """Near a known end, a batch holds at most ceil(remaining / (TAIL_SHARE * workers)) items."""
    workers, total = 4, 1000
    sizer = _grown(_sizer(workers=workers, total=total), PER_ITEM, rounds=10)
    for dispatched in (900, 950, 990, 999):
        remaining = total - dispatched
        assert sizer.next_size(dispatched) <= math.ceil(remaining / (TAIL_SHARE * workers))


def test_auto_tail_example() -> None:
    """With 4 workers and 40 items left, batches hold at most 5 items."""
    sizer = _grown(_sizer(workers=4, total=1000), PER_ITEM, rounds=10)
    assert sizer.next_size(960) == 5


def test_auto_no_tail_shrink_far_from_end() -> None:
    """Far from the end of a known total, the measured size is used unchanged."""
    sizer = _grown(_sizer(workers=4, total=1_000_000), PER_ITEM, rounds=10)
    assert sizer.next_size(100) == 64


def test_auto_no_tail_shrink_when_total_unknown() -> None:
    """Without a known total, nothing shrinks batches near any point."""
    sizer = _grown(_sizer(workers=4, total=None), PER_ITEM, rounds=10)
    assert sizer.next_size(10**9) == 64


def test_auto_last_item_gets_size_one() -> None:
    """With one item left, the batch holds one item."""
    sizer = _grown(_sizer(workers=4, total=1000), PER_ITEM, rounds=10)
    assert sizer.next_size(999) == 1


def test_auto_never_below_one_past_the_total() -> None:
    """Even when more than the total was dispatched (total was wrong), the size is at least 1."""
    sizer = _grown(_sizer(workers=4, total=10), PER_ITEM, rounds=3)
    assert sizer.next_size(50) == 1


@given(
    workers=st.integers(min_value=1, max_value=512),
    target=st.floats(min_value=1e-6, max_value=1e3),
    total=st.one_of(st.none(), st.integers(min_value=0, max_value=10**9)),
    records=st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=2 * MAX_SIZE),
            st.floats(min_value=0.0, max_value=1e6, allow_nan=False, allow_infinity=False),
            st.integers(min_value=0, max_value=2 * 10**9),
        ),
        max_size=50,
    ),
)
def test_auto_size_always_within_bounds(
    workers: int, target: float, total: int | None, records: list[tuple[int, float, int]]
) -> None:
    """For any sequence of records, next_size stays within [1, MAX_SIZE]."""
    sizer = AutoBatchSize(workers=workers, target=target, total=total)
    assert 1 <= sizer.next_size(0) <= MAX_SIZE
    for items, seconds, dispatched in records:
        sizer.record(items=items, seconds=seconds)
        assert 1 <= sizer.next_size(dispatched) <= MAX_SIZE


# --- ramp-up -----------------------------------------------------------------------------


def test_ramp_keeps_batches_small_while_little_is_done() -> None:
    """A batch holds at most (items done) / (RAMP_SHARE x workers) items, however fast items are."""
    sizer = AutoBatchSize(workers=4, target=TARGET, total=None)
    sizer.record(items=10, seconds=10 * PER_ITEM)
    assert sizer.next_size(10) == 10 // (RAMP_SHARE * 4)
    sizer.record(items=100, seconds=100 * PER_ITEM)
    assert sizer.next_size(110) == min(64, 110 // (RAMP_SHARE * 4))


def test_ramp_batches_grow_with_what_is_done() -> None:
    """Fed its own sizes, a sizer reaches its target size once enough items are done."""
    sizer = _grown(AutoBatchSize(workers=2, target=TARGET, total=None), PER_ITEM, rounds=60)
    assert sizer.next_size(0) == 64


def test_a_prior_measurement_sizes_the_first_batch() -> None:
    tiny = AutoBatchSize(workers=2, target=0.05, total=100, prior=1e-6)
    assert tiny.next_size(dispatched=0) >= 100  # one batch holds the whole call
    slow = AutoBatchSize(workers=2, target=0.05, total=100, prior=0.1)
    assert slow.next_size(dispatched=0) == 1
    unknown = AutoBatchSize(workers=2, target=0.05, total=None, prior=1e-6)
    assert unknown.next_size(dispatched=0) == 1  # an endless input still ramps up


def test_runs_remember_what_they_measured_per_function() -> None:
    remember("f", 0.5)
    remember("g", None)
    assert remembered("f") == 0.5
    assert remembered("g") is None
    assert remembered(None) is None
    for n in range(100):
        remember(f"other-{n}", 1.0)
    assert remembered("f") is None  # the oldest are forgotten first


def test_thread_batches_hold_more_work_with_many_threads() -> None:
    """With 1000 threads a batch aims at 0.1 s of work, so one calling thread keeps up."""
    few, many = ThreadBackend(repr, 4), ThreadBackend(repr, 1000)
    try:
        assert few.batch_target == THREAD_TARGET
        assert many.batch_target == 1000 * DISPATCH_COST > THREAD_TARGET
    finally:
        few.close(cancel=False)
        many.close(cancel=False)


def test_tiny_items_on_many_threads_keep_few_in_flight(monkeypatch: pytest.MonkeyPatch) -> None:
    """Trivial items on 32 threads: batches of at most half the thread window, and the input
    runs ahead of the consumer by two windows at most (it ran 40,000 ahead with a window of
    50,000)."""
    sizes: list[int] = []
    submit = ThreadBackend.submit

    def recording(
        self: ThreadBackend, items: Sequence[object], prior: dict[int, int] | None = None
    ) -> Future[object]:
        sizes.append(len(items))
        return submit(self, items, prior)

    monkeypatch.setattr(ThreadBackend, "submit", recording)
    read = consumed = ahead = 0

    def source() -> Iterator[int]:
        nonlocal read, ahead
        for n in range(300_000):
            read += 1
            ahead = max(ahead, read - consumed)
            yield n

    for outcome in imap(abs, source(), workers=32):
        assert outcome.value == outcome.index
        consumed += 1
    assert consumed == 300_000
    assert ahead <= 2 * THREAD_WINDOW
    assert max(sizes) == THREAD_WINDOW // 2  # the sizer did grow them to the ceiling


def test_a_fixed_batch_size_keeps_every_thread_busy() -> None:
    """batch_size=500 on 64 threads: 64 batches run at once (20 did, with a 10,000-item window).

    The first item of every batch waits at a barrier of 64: it only opens if all 64
    batches are in flight together.
    """
    barrier = threading.Barrier(64, timeout=WAIT)

    def first_of_each_waits(x: int) -> int:
        if x % 500 == 0:
            barrier.wait()
        return x

    summary = parmap(first_of_each_waits, range(64 * 500), workers=64, batch_size=500)
    assert summary.failed == 0, summary.errors[:1]
