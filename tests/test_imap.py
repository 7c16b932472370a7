"""imap(): outcomes per item, in order or as they finish, through a bounded window."""

from __future__ import annotations

import itertools
import threading
from typing import TYPE_CHECKING

import pytest

import parmap as pm
from parmap import Kind, Outcome, imap

if TYPE_CHECKING:
    from collections.abc import Iterator

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
    outcomes.close()  # type: ignore[attr-defined]
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
    outcomes.close()  # type: ignore[attr-defined]


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
    outcomes.close()  # type: ignore[attr-defined]
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
    outcomes.close()  # type: ignore[attr-defined]
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
