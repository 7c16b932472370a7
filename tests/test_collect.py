"""The collector and outcome conversion, built from finished batches directly (no pools)."""

from __future__ import annotations

from concurrent.futures import BrokenExecutor
from typing import TYPE_CHECKING

import pytest

import parmap as pm
from parmap._report.batches import Completed
from parmap._run.collect import Collector, item_errors, outcomes
from parmap._worker.records import BatchResult, describe

if TYPE_CHECKING:
    from collections.abc import Iterator

    from parmap import Outcome


def test_failed_batch_gives_each_item_its_own_exception() -> None:
    """Items of a batch whose worker died each get their own WorkerDiedError."""
    done: Completed[str] = Completed(0, ["a", "b"], None, BrokenExecutor("gone"))
    first, second = item_errors(done)
    assert isinstance(first.exception, pm.WorkerDiedError)
    assert first.exception is not second.exception
    assert "batch_size=1" in first.message


def test_raise_for_errors_lists_a_shared_exception_once() -> None:
    """One exception object recorded for several items appears once in the group."""
    shared = ValueError("same")
    failures = [describe(0, shared), describe(1, shared)]
    failures[1].position = 1
    collector: Collector[int, int] = Collector()
    collector.add(Completed(0, [0, 1], BatchResult([None, None], failures), None))
    summary = collector.summary()
    with pytest.raises(ExceptionGroup) as caught:
        summary.raise_for_errors()
    assert caught.value.exceptions == (shared,)


def test_outcomes_of_a_partial_batch() -> None:
    """A batch stopped by KeyboardInterrupt gives outcomes for the items run before it only."""
    done: Completed[int] = Completed(
        5, [50, 60, 70], BatchResult([1, 2], [], 0.0, KeyboardInterrupt()), None
    )
    stream: Iterator[Outcome[int, object]] = outcomes(done, item_errors(done))
    assert [(o.index, o.item, o.value, o.ok) for o in stream] == [
        (5, 50, 1, True),
        (6, 60, 2, True),
    ]


def test_partial_summary_ends_at_the_last_item_accounted_for() -> None:
    """After a stop, results end at the last accounted item; counts add up."""
    collector: Collector[int, int] = Collector()
    collector.add(Completed(0, [0, 1], BatchResult([10, 11]), None))
    with pytest.raises(SystemExit):
        collector.add(Completed(2, [2, 3, 4], BatchResult([12], [], 0.0, SystemExit(1)), None))
    summary = collector.summary()
    assert summary.results == [10, 11, 12]
    assert summary.total == summary.succeeded + summary.failed == 3


def test_a_summary_keeps_its_results_when_the_collector_goes_on() -> None:
    """A Summary made mid-run holds its results unchanged by batches the collector adds later."""
    collector: Collector[int, int] = Collector()
    collector.add(Completed(0, [1, 2], BatchResult([1, 4]), None))
    first = collector.summary()
    collector.add(Completed(2, [3], BatchResult([9]), None))
    assert first.results == [1, 4]
    assert collector.summary().results == [1, 4, 9]
