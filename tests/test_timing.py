"""Summary.timing: per-item durations measured in the worker, summarised in bounded memory."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from parmap import Kind, Summary, Timing, parmap
from parmap._run.timing import MAX_SPANS, TimingLog
from parmap._worker import timing as worker_timing
from parmap._worker.batch import Policy, run_batch
from parmap._worker.timing import SLOW_ITEM, Measured, Segments, Timings

if TYPE_CHECKING:
    from distributed import Client


class FakeClock:
    """A monotonic clock that moves only when an item says how long it took."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def take(self, seconds: float) -> float:
        self.now += seconds
        return seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """The worker's clock, faked: each item advances it by its own value, in seconds."""
    fake = FakeClock()
    monkeypatch.setattr(time, "monotonic", fake)
    monkeypatch.setattr(worker_timing, "_hint", 1)  # a fresh process: first items timed alone
    return fake


def nap(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


# --- the worker's side: Segments and run_batch ------------------------------------------------


def test_slow_items_are_timed_alone(clock: FakeClock) -> None:
    """Items of SLOW_ITEM or more are each timed alone: exact durations, positions kept."""
    result = run_batch(clock.take, [0.01, 0.03, 0.02])  # type: ignore[arg-type]
    assert result.timings is not None
    timings = Timings.of(result.timings)
    assert timings.alone == 3
    assert timings.busy == pytest.approx(0.06)
    assert sorted(timings.slowest, reverse=True) == [
        pytest.approx((0.03, 1)),
        pytest.approx((0.02, 2)),
        pytest.approx((0.01, 0)),
    ]
    assert timings.longest == pytest.approx(0.03)


def test_tiny_items_are_timed_in_segments(clock: FakeClock) -> None:
    """Tiny items after the first run in segments: every item counted, few timed alone."""
    measured = run_batch(clock.take, [1e-7] * 5000).timings  # type: ignore[arg-type]
    assert measured is not None
    timings = Timings.of(measured)
    assert timings.items == 5000
    assert timings.alone == 1  # the first item only
    assert timings.busy == pytest.approx(5e-4)
    again = run_batch(clock.take, [1e-7] * 50).timings  # type: ignore[arg-type]
    assert again is not None
    assert Timings.of(again).alone == 0  # the next batch starts where this process left off


def test_a_slow_segment_goes_back_to_timing_items_alone(clock: FakeClock) -> None:
    """After a segment whose mean is slow, the next item is timed alone; after a quick one, many."""
    segments = Segments()
    segments.open(0)
    assert segments.size == 1
    clock.take(1e-7)  # the faked clock: a busy machine must not make the item slow
    segments.close(1)
    assert segments.size > 100
    clock.take(SLOW_ITEM * 20)
    segments.close(11)  # ten items, mean 2 x SLOW_ITEM
    assert segments.size == 1
    assert segments.timings.items == 11


def test_failing_items_are_timed_too(clock: FakeClock) -> None:
    """A call that raised took its time: it is counted, on the plain and the tracked paths."""

    def fail_slowly(seconds: float) -> float:
        clock.take(seconds)
        raise ValueError(seconds)

    for policy in (None, Policy(retries=1)):
        result = run_batch(fail_slowly, [0.5, 0.25], policy=policy)  # type: ignore[arg-type]
        assert len(result.failures) == 2
        assert result.timings is not None
        timings = Timings.of(result.timings)
        assert timings.items == 2
        expected = 0.75 if policy is None else 1.5  # two attempts each with retries=1
        assert timings.busy == pytest.approx(expected)


def test_retries_add_up_without_the_waits_between(clock: FakeClock) -> None:
    """An item's duration is the sum of its attempts' calls; backoff waits are not counted."""
    seen: list[float] = []

    def flaky(seconds: float) -> float:
        clock.take(seconds)
        seen.append(seconds)
        if len(seen) < 3:
            raise ConnectionError
        return seconds

    result = run_batch(flaky, [0.2], policy=Policy(retries=2))  # type: ignore[arg-type]
    assert result.timings is not None
    assert Timings.of(result.timings).slowest == [pytest.approx((0.6, 0))]


def test_timings_survive_pickling() -> None:
    """A batch's timings travel from process workers: they pickle and unpickle whole."""
    import pickle  # noqa: PLC0415

    result = run_batch(nap, [0.001, 0.0])  # type: ignore[arg-type]
    again = pickle.loads(pickle.dumps(result))  # noqa: S301 - our own bytes
    assert again.timings == result.timings


# --- the caller's side: TimingLog ------------------------------------------------------------


def _alone(pairs: list[tuple[int, float]], first: float, last: float) -> Measured:
    timings = Timings()
    for position, seconds in pairs:
        timings.one(position, seconds)
    timings.span(first, last)
    return timings.packed()


def test_percentiles_come_from_the_histogram_within_five_percent() -> None:
    """p50 and p95 are within ~5% of the true value; max is exact; slowest are the top five."""
    log = TimingLog()
    now = log.started
    log.add(0, _alone([(i, (i + 1) / 1000) for i in range(100)], now, now + 0.1))
    timing = log.finish(elapsed=0.1, workers=1)
    assert timing is not None
    assert timing.measured == 100
    assert timing.p50 == pytest.approx(0.050, rel=0.05)
    assert timing.p95 == pytest.approx(0.095, rel=0.05)
    assert timing.max == pytest.approx(0.1)
    assert [index for index, _ in timing.slowest] == [99, 98, 97, 96, 95]


def test_a_single_item_is_reported_exactly() -> None:
    """With one duration, p50, p95 and max are that duration."""
    log = TimingLog()
    log.add(7, _alone([(0, 0.123)], log.started, log.started + 0.123))
    timing = log.finish(elapsed=0.2, workers=2)
    assert timing is not None
    assert (timing.p50, timing.p95, timing.max) == (0.123, 0.123, 0.123)
    assert timing.slowest == ((7, 0.123),)
    assert timing.utilisation == pytest.approx(0.123 / 0.4)


def test_overhead_is_the_time_no_call_was_running() -> None:
    """Overlapping batches count once; gaps between them and around them are overhead."""
    log = TimingLog()
    log.started -= 100  # the run started 100 s ago: its stamps lie in the past
    t = log.started
    log.add(0, _alone([(0, 0.3)], t + 0.1, t + 0.4))
    log.add(1, _alone([(0, 0.2)], t + 0.3, t + 0.5))  # overlaps the first
    log.add(2, _alone([(0, 0.1)], t + 0.7, t + 0.8))  # after a gap of 0.2
    timing = log.finish(elapsed=1.0, workers=2)
    assert timing is not None
    assert timing.overhead == pytest.approx(0.5)  # busy 0.1-0.5 and 0.7-0.8: 0.5 of 1.0
    assert timing.busy == pytest.approx(0.6)
    assert timing.utilisation == pytest.approx(0.3)


def test_spans_stay_bounded_over_many_batches() -> None:
    """Over many batches the log keeps a bounded number of spans, and the sum stays right."""
    log = TimingLog()
    log.started -= 100
    t = log.started
    for batch in range(10 * MAX_SPANS):
        start = t + batch * 0.001
        log.add(batch, _alone([(0, 0.0005)], start, start + 0.0005))
    assert len(log.spans) <= MAX_SPANS
    assert len(log.slowest) <= 5
    timing = log.finish(elapsed=10 * MAX_SPANS * 0.001, workers=1)
    assert timing is not None
    assert timing.overhead == pytest.approx(0.5, rel=1e-6)


def test_a_foreign_clock_gives_no_overhead() -> None:
    """Stamps outside the run (a clock of another machine) leave overhead unknown, not invented."""
    log = TimingLog()
    log.add(0, _alone([(0, 0.1)], log.started - 3600, log.started - 3599.9))
    timing = log.finish(elapsed=1.0, workers=1)
    assert timing is not None
    assert timing.overhead is None
    assert "overhead" not in str(Summary([1], [], 1, 1, 0, elapsed=1.0, timing=timing))


def test_nothing_measured_is_no_timing() -> None:
    """A run that timed no call has no Timing: nothing is made up."""
    assert TimingLog().finish(elapsed=1.0, workers=4) is None


# --- whole runs ------------------------------------------------------------------------------


def test_durations_come_back_from_threads_and_processes(kind: Kind) -> None:
    """Every item's duration is measured where it ran, on threads and on processes."""
    summary = parmap(nap, [0.002] * 6 + [0.05], kind=kind, workers=2, batch_size=2)
    timing = summary.timing
    assert timing is not None
    assert timing.measured == 7
    assert timing.max >= 0.05
    assert timing.slowest[0][0] == 6
    assert timing.p50 >= 0.002
    assert 0 < timing.utilisation <= 1
    assert timing.overhead is not None
    assert 0 <= timing.overhead <= 1


async def anap(seconds: float) -> float:
    await asyncio.sleep(seconds)
    return seconds


def test_durations_come_back_from_the_event_loop() -> None:
    """Coroutines are timed from their start to their end (awaiting included)."""
    timing = parmap(anap, [0.001, 0.03, 0.001], workers=3).timing
    assert timing is not None
    assert timing.measured == 3
    assert timing.slowest[0][0] == 1
    assert timing.max >= 0.03


def test_durations_come_back_from_dask(dask_client: Client) -> None:
    """On a Dask cluster, durations travel back with each batch's result."""
    timing = parmap(nap, [0.001, 0.02, 0.001], executor=dask_client, batch_size=1).timing
    assert timing is not None
    assert timing.measured == 3
    assert timing.slowest[0][0] == 1


def test_timing_without_results_over_many_items() -> None:
    """keep_results=False still measures every item, in memory that does not grow."""
    summary = parmap(abs, range(300_000), keep_results=False, kind="io")
    timing = summary.timing
    assert timing is not None
    assert timing.measured == 300_000
    assert timing.p50 <= timing.p95 <= timing.max


def test_the_report_shows_timing() -> None:
    """str() and the notebook HTML gain a timing line: percentiles, slowest items, busy share."""
    summary = parmap(nap, [0.001, 0.02], workers=2)
    line = str(summary).splitlines()[1]
    assert line.startswith("  timing: p50 ")
    assert "slowest #1 (" in line
    assert "workers " in line
    assert "% busy" in line
    assert "timing: p50" in summary._repr_html_()


# --- to_dict ----------------------------------------------------------------------------------


class Hostile:
    """An item whose repr raises, and an exception whose str raises."""

    def __repr__(self) -> str:
        raise RuntimeError


class BadMessageError(Exception):
    def __str__(self) -> str:
        raise RuntimeError


def explode(item: Any) -> Any:
    if isinstance(item, Hostile):
        raise BadMessageError
    if item == "nan":
        return float("nan")
    raise ValueError("bad\udcff surrogate and \x00 nul")


def test_to_dict_is_always_json() -> None:
    """json.dumps(summary.to_dict()) works whatever the items and the exceptions are."""
    summary = parmap(explode, [Hostile(), "nan", b"\xff", {1, 2}], workers=2)
    data = summary.to_dict()
    text = json.dumps(data, allow_nan=False)
    back = json.loads(text)
    assert back["total"] == 4
    assert back["failed"] == 3
    assert [error["index"] for error in back["errors"]] == [0, 2, 3]
    first = back["errors"][0]
    assert first["item"] == "<Hostile object (repr failed)>"
    assert first["type"] == f"{__name__}.BadMessageError"
    assert set(first) == {"index", "item", "type", "message", "traceback", "attempts"}
    assert "ValueError" in back["errors"][1]["traceback"]
    assert back["timing"]["measured"] == 4
    assert "results" not in back


def test_to_dict_of_a_run_without_timing() -> None:
    """A summary without durations says so: timing is None, never zeros."""
    summary: Summary[int, int] = Summary(results=[], errors=[], total=0, succeeded=0, failed=0)
    assert summary.to_dict()["timing"] is None
    assert json.dumps(summary.to_dict())


def test_timing_is_a_frozen_value() -> None:
    """Timing is immutable, like the other objects a run hands back."""
    timing = Timing(1, 0.1, 0.1, 0.1, ((0, 0.1),), 0.1, 0.5, 0.1)
    with pytest.raises(AttributeError):
        timing.p50 = 1.0  # type: ignore[misc]


@given(
    st.lists(
        st.tuples(st.integers(0, 400), st.integers(1, 60)), min_size=1, max_size=MAX_SPANS // 2
    )
)
def test_covered_time_is_the_union_of_the_calls_spans(
    stretches: list[tuple[int, int]],
) -> None:
    """However batches' stretches overlap and in whatever order they come, the time some
    call was running is the length of their union (checked against a count by millisecond)."""
    log = TimingLog()
    log.started -= 1.0
    for begin, length in stretches:
        log._cover(log.started + begin / 1000, log.started + (begin + length) / 1000)  # noqa: SLF001
    covered = log.covered + sum(end - begin for begin, end in log.spans)
    union = len({ms for begin, length in stretches for ms in range(begin, begin + length)})
    assert covered == pytest.approx(union / 1000, abs=1e-9)
    assert all(a[1] < b[0] for a, b in itertools.pairwise(log.spans))  # disjoint, sorted
