"""imap(): outcomes per item, in order or as they finish, through a bounded window."""

from __future__ import annotations

import collections
import contextlib
import itertools
import threading
from typing import TYPE_CHECKING

import psutil
import pytest

import parmap as pm
from parmap import Kind, Outcome, imap
from parmap._backends import threads
from parmap._run.batching import FixedBatchSize

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

#: Seconds any wait in these tests may take before it counts as a hang.
WAIT = 10


def tenth(x: int) -> int:
    return 10 // x


def square(x: int) -> int:
    return x * x


def interrupt_on_3(x: int) -> int:
    if x == 3:
        raise KeyboardInterrupt
    return x


class Counting:
    """An endless input that records how far it was pulled."""

    def __init__(self) -> None:
        self.pulled = 0

    def __iter__(self) -> Iterator[int]:
        for n in itertools.count():
            self.pulled += 1
            yield n


def test_outcome_per_item_in_input_order(kind: Kind) -> None:
    """ordered=True yields one Outcome per item, in input order, with value or error."""
    got = list(imap(tenth, [1, 0, 5, 2], kind=kind))
    assert [(o.index, o.item, o.ok, o.value) for o in got] == [
        (0, 1, True, 10),
        (1, 0, False, None),
        (2, 5, True, 2),
        (3, 2, True, 5),
    ]
    error = got[1].error
    assert error is not None
    assert error.type_name == "ZeroDivisionError"
    assert error.index == 1
    assert all(isinstance(o, Outcome) for o in got)


def test_outcomes_unpack_as_tuples() -> None:
    """An Outcome unpacks as (index, item, value, error)."""
    ((index, item, value, error),) = imap(square, [3])
    assert (index, item, value, error) == (0, 3, 9, None)


def test_unordered_yields_in_completion_order() -> None:
    """ordered=False yields an item as soon as it finishes, ahead of slower earlier items."""
    release_first = threading.Event()

    def fn(x: int) -> int:
        if x == 0:
            assert release_first.wait(WAIT)
        return x

    seen = []
    for outcome in imap(fn, [0, 1], ordered=False, workers=2, batch_size=1):
        seen.append(outcome.index)
        release_first.set()
    assert seen == [1, 0]


def test_unordered_covers_every_item(kind: Kind) -> None:
    """ordered=False still yields every item exactly once."""
    got = sorted(o.index for o in imap(square, range(500), kind=kind, ordered=False))
    assert got == list(range(500))


@pytest.mark.parametrize("ordered", [True, False])
def test_breaking_out_of_an_endless_input_stops_reading_it(kind: Kind, ordered: bool) -> None:  # noqa: FBT001
    """Taking 100 outcomes of an endless input reads a bounded number of items, then stops."""
    source = Counting()
    outcomes = imap(square, source, kind=kind, ordered=ordered)
    taken = list(itertools.islice(outcomes, 100))
    outcomes.close()
    assert len(taken) == 100
    pulled = source.pulled
    assert pulled < 5000
    assert source.pulled == pulled  # nothing reads the input any more (no_leaks: no workers)


def test_window_stays_small_with_an_explicit_batch_size() -> None:
    """With tiny tasks and batch_size=10 on 2 workers, few items are read ahead."""
    source = Counting()
    outcomes = imap(square, source, workers=2, batch_size=10)
    next(outcomes)
    assert source.pulled <= 2 * 2 * 2 * 10 + 10
    outcomes.close()


def test_first_outcome_arrives_before_a_slow_input_ends(kind: Kind) -> None:
    """With an input that yields an item every 20 ms, the first outcome comes after a few items."""
    produced = 0

    def slow_input() -> Iterator[int]:
        nonlocal produced
        for n in range(200):
            threading.Event().wait(0.02)  # a slow source (a paginated API, say), not a sync
            produced += 1
            yield n

    outcomes = imap(square, slow_input(), kind=kind, batch_size=1)
    first = next(outcomes)
    produced_then = produced
    outcomes.close()
    assert first.value == 0
    assert produced_then <= 10


def test_input_that_raises_yields_earlier_outcomes_first(kind: Kind) -> None:
    """Outcomes of items read before the input raised come first; then its exception."""

    def broken() -> Iterator[int]:
        yield from range(4)
        raise LookupError("input broke")

    got: list[int] = []
    with pytest.raises(LookupError, match="input broke"):
        got.extend(o.index for o in imap(square, broken(), kind=kind))
    assert got == [0, 1, 2, 3]


def test_keyboard_interrupt_from_fn_after_earlier_outcomes() -> None:
    """KeyboardInterrupt raised by fn propagates after the outcomes before it."""
    got: list[int] = []
    with pytest.raises(KeyboardInterrupt):
        got.extend(o.index for o in imap(interrupt_on_3, range(10), batch_size=10))
    assert got == [0, 1, 2]


def test_arguments_checked_at_the_call() -> None:
    """imap checks its arguments when called, before the first next()."""
    with pytest.raises(pm.ArgumentError, match="ordered must be True or False, got str 'yes'"):
        imap(square, [1], ordered="yes")  # type: ignore[call-overload]
    with pytest.raises(pm.ArgumentError, match="workers"):
        imap(square, [1], workers=0)


# --- batches chained in C: the limits stay exact -----------------------------------------


def fail_on_multiples_of_7(x: int) -> int:
    if x % 7 == 0:
        raise ValueError(x)
    return x


@pytest.mark.parametrize("batch_size", [1, 5, 100])
def test_max_failures_ends_at_the_outcome_of_the_last_failure(kind: Kind, batch_size: int) -> None:
    """max_failures=3 yields every outcome up to the third failure, that one last, in order."""
    got = list(
        imap(fail_on_multiples_of_7, range(1000), kind=kind, max_failures=3, batch_size=batch_size)
    )
    assert [o.index for o in got] == list(range(15))
    assert [o.index for o in got if not o.ok] == [0, 7, 14]


def test_max_failures_reached_by_a_batch_that_failed_whole() -> None:
    """A batch whose every item failed counts each of them: the limit falls inside it."""
    got = list(imap(tenth, [0, 0, 0, 0, 0, 1], batch_size=5, max_failures=2, workers=1))
    assert [(o.index, o.ok) for o in got] == [(0, False), (1, False)]


def test_outcomes_of_a_batch_with_failures_line_up() -> None:
    """In a batch with failures, each outcome holds its own item, value and error."""
    got = list(imap(fail_on_multiples_of_7, range(30), batch_size=30, workers=1))
    assert [o.index for o in got] == list(range(30))
    for outcome in got:
        assert outcome.item == outcome.index
        if outcome.index % 7 == 0:
            assert outcome.value is None
            assert outcome.error is not None
            assert outcome.error.index == outcome.index
        else:
            assert (outcome.value, outcome.error) == (outcome.index, None)


def test_closing_stops_the_run_and_ends_the_iterator(kind: Kind) -> None:
    """After close(), the iterator is exhausted and no more input is read."""
    source = Counting()
    outcomes = imap(square, source, kind=kind)
    assert next(outcomes).index == 0
    outcomes.close()
    pulled = source.pulled
    assert list(outcomes) == []
    assert source.pulled == pulled


def test_dropping_the_iterator_stops_the_run(kind: Kind) -> None:
    """A dropped imap iterator stops reading its input (and no_leaks finds no workers left)."""
    source = Counting()
    outcomes = imap(square, source, kind=kind)
    taken = [next(outcomes) for _ in range(3)]
    del outcomes
    pulled = source.pulled
    assert [o.index for o in taken] == [0, 1, 2]
    assert source.pulled == pulled


def test_keyboard_interrupt_after_every_outcome_of_its_batch_before_it() -> None:
    """KeyboardInterrupt in the middle of a batch: the outcomes before it first, then it."""
    outcomes = imap(interrupt_on_3, range(10), batch_size=10)
    assert [next(outcomes).index for _ in range(3)] == [0, 1, 2]
    with pytest.raises(KeyboardInterrupt):
        next(outcomes)
    assert list(outcomes) == []


# --- keep_results=False ------------------------------------------------------------------


def fail_every_1000(x: int) -> int:
    if x % 1000 == 999:
        raise ValueError(x)
    return x


def test_keep_results_false_keeps_counts_and_errors(kind: Kind) -> None:
    """keep_results=False: no results kept, counts and errors exact."""
    summary = pm.parmap(fail_every_1000, range(20_000), kind=kind, keep_results=False)
    assert summary.results == []
    assert (summary.total, summary.succeeded, summary.failed) == (20_000, 19_980, 20)
    assert [e.index for e in summary.errors] == list(range(999, 20_000, 1000))


def test_keep_results_must_be_a_bool() -> None:
    """keep_results rejects non-bools with a clear message."""
    with pytest.raises(pm.ArgumentError, match="keep_results must be True or False"):
        pm.parmap(square, [1], keep_results=None)  # type: ignore[call-overload]


# --- stopping: max_failures, closing early, a broken input -------------------------------


class Calls:
    """Counts the calls of `fn` across worker threads."""

    def __init__(self) -> None:
        self.count = 0
        self.lock = threading.Lock()

    def fail(self, x: int) -> int:
        """Count the call, then fail it."""
        with self.lock:
            self.count += 1
        raise ValueError(x)


@pytest.mark.parametrize("ordered", [True, False])
def test_max_failures_starts_nothing_beyond_the_window(ordered: bool) -> None:  # noqa: FBT001
    """max_failures=3 on an endless input of failing items: 3 outcomes, then the stream ends.

    The iterator ends without raising, the third failure is the last outcome, and no item
    beyond the window (2 workers × 2 batches, × 2 when ordered) was ever read or started.
    """
    calls, source = Calls(), Counting()
    outcomes = imap(calls.fail, source, workers=2, batch_size=1, max_failures=3, ordered=ordered)
    got = list(outcomes)
    assert len(got) == 3
    assert not any(o.ok for o in got)
    assert all(o.error is not None and o.error.type_name == "ValueError" for o in got)
    window = 2 * 2 * (2 if ordered else 1)
    assert source.pulled <= 3 + window
    assert calls.count <= source.pulled
    pulled = source.pulled
    assert list(outcomes) == []
    assert source.pulled == pulled


def test_max_failures_on_processes_reads_a_bounded_input() -> None:
    """On processes too, max_failures stops reading an endless input after the window."""
    source = Counting()
    zeros = (0 for _ in source)  # 10 // 0 fails every item
    got = list(imap(tenth, zeros, kind="cpu", workers=2, batch_size=1, max_failures=2))
    assert [(o.index, o.ok) for o in got] == [(0, False), (1, False)]
    assert source.pulled <= 2 + 2 * 2 * 2


def test_breaking_out_never_starts_the_pending_batches() -> None:
    """Breaking out after the first outcome: queued batches never start, the threads end.

    Item 0 returns at once; every later item holds its thread until `gate` opens, which
    happens only after the loop was left. The 2 threads can thus have started items 1
    and 2 only; items 3.. sat in the window, and were cancelled.
    """
    gate = threading.Event()
    started: set[int] = set()
    threads: set[threading.Thread] = set()
    lock = threading.Lock()

    def fn(x: int) -> int:
        with lock:
            started.add(x)
            threads.add(threading.current_thread())
        if x:
            assert gate.wait(WAIT)
        return x

    for outcome in imap(fn, itertools.count(), workers=2, batch_size=1):
        assert outcome.index == 0
        break
    gate.set()
    for thread in threads:
        thread.join(WAIT)
        assert not thread.is_alive()
    assert started <= {0, 1, 2}


def mark_then_hang(x: int) -> int:
    """Leave a file named after the item (holding this worker's pid); hang unless it is 0."""
    import os  # noqa: PLC0415 - runs in a worker process
    import pathlib  # noqa: PLC0415

    folder = pathlib.Path(os.environ["PARMAP_TEST_MARKS"])
    (folder / str(x)).write_text(str(os.getpid()))
    if x:
        threading.Event().wait(WAIT * 6)  # held until the worker is killed
    return x


def test_closing_on_processes_kills_the_workers_and_starts_no_more(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Closing early on processes: the busy workers are killed, queued batches never start."""
    monkeypatch.setenv("PARMAP_TEST_MARKS", str(tmp_path))
    outcomes = imap(mark_then_hang, itertools.count(), kind="cpu", workers=2, batch_size=1)
    assert next(outcomes).index == 0
    outcomes.close()
    pids = {int(mark.read_text()) for mark in tmp_path.iterdir()}
    procs = []
    for pid in pids:
        with contextlib.suppress(psutil.NoSuchProcess):
            procs.append(psutil.Process(pid))
    _, alive = psutil.wait_procs(procs, timeout=WAIT)
    assert alive == []
    assert {int(mark.name) for mark in tmp_path.iterdir()} <= {0, 1, 2}


@pytest.mark.parametrize("ordered", [True, False])
def test_each_item_yields_exactly_one_outcome(kind: Kind, ordered: bool) -> None:  # noqa: FBT001
    """Over many batches with failures among them, each item comes out once, with its own value."""
    got = list(imap(fail_on_multiples_of_7, range(3000), kind=kind, ordered=ordered))
    indices = [o.index for o in got]
    if ordered:
        assert indices == list(range(3000))
    assert collections.Counter(indices) == collections.Counter(range(3000))
    for outcome in got:
        assert outcome.item == outcome.index
        assert outcome.ok == (outcome.index % 7 != 0)
        assert outcome.value == (None if outcome.index % 7 == 0 else outcome.index)


@pytest.mark.parametrize("ordered", [True, False])
def test_input_raising_midway_yields_every_item_read_before(kind: Kind, ordered: bool) -> None:  # noqa: FBT001
    """An input that raises after 5000 items: those 5000 come out once each, then its exception."""

    def broken() -> Iterator[int]:
        yield from range(5000)
        raise LookupError("input broke")

    seen: list[int] = []
    with pytest.raises(LookupError, match="input broke"):
        seen.extend(o.index for o in imap(square, broken(), kind=kind, ordered=ordered))
    assert sorted(seen) == list(range(5000))


# --- reading lazily: the input runs ahead of the consumer by the window at most ----------


class Watched:
    """An endless input that records how far it ever ran ahead of what was consumed."""

    def __init__(self) -> None:
        self.consumed = 0
        self.pulled = 0
        self.ahead = 0

    def __iter__(self) -> Iterator[int]:
        for n in itertools.count():
            self.pulled += 1
            self.ahead = max(self.ahead, self.pulled - self.consumed)
            yield n


@pytest.mark.parametrize("ordered", [True, False])
def test_input_never_runs_ahead_of_the_window(kind: Kind, ordered: bool) -> None:  # noqa: FBT001
    """Consuming 2000 outcomes, items read never exceed those consumed plus the window."""
    source = Watched()
    outcomes = imap(square, source, kind=kind, ordered=ordered, workers=2, batch_size=10)
    for outcome in itertools.islice(outcomes, 2000):
        assert outcome.value == outcome.index * outcome.index
        source.consumed += 1
    outcomes.close()
    assert source.consumed == 2000
    assert source.ahead <= 10 * 2 * 2 * (2 if ordered else 1)


def test_finished_batches_waiting_for_an_earlier_one_count_in_the_window(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """ordered: batches done behind a slow first one hold their items, so they count in the window.

    With a window of 40 items and batches of 10, item 0 is held until 3 later batches have
    finished and been taken in by the dispatcher; the input must not be read further
    meanwhile (it was, up to the window's 8 batches, when only running batches counted).
    """
    monkeypatch.setattr(threads, "THREAD_WINDOW", 40)
    monkeypatch.setattr(threads, "THREAD_WINDOW_PER_WORKER", 0)
    taken_in = 0
    released = threading.Event()
    record = FixedBatchSize.record

    def counting_record(self: FixedBatchSize, items: int, seconds: float) -> None:
        nonlocal taken_in
        record(self, items, seconds)
        taken_in += 1
        if taken_in == 3:
            released.set()

    monkeypatch.setattr(FixedBatchSize, "record", counting_record)

    def fn(x: int) -> int:
        if x == 0:
            assert released.wait(WAIT)
        return x

    source = Watched()
    outcomes = imap(fn, source, workers=2, batch_size=10)
    for outcome in itertools.islice(outcomes, 200):
        assert outcome.value == outcome.index
        source.consumed += 1
    outcomes.close()
    assert source.ahead <= 40 + 10 - 1
