"""kind="auto" on items too quick to be worth a worker: they run here, and the Summary says so."""

from __future__ import annotations

import gc
import re
import threading
import time
from typing import TYPE_CHECKING

import pytest

from parmap import imap, parmap
from parmap._run import probe
from parmap._run.probe import SERIAL_BACKEND

if TYPE_CHECKING:
    from collections.abc import Callable


def inverse(x: int) -> float:
    return 1 / (x - 500)


@pytest.fixture
def run_here(monkeypatch: pytest.MonkeyPatch) -> None:
    """Handing an item to a worker costs a second: kind='auto' runs any quick item here.

    For the tests of what running here does, not of when it is chosen: on a busy
    machine the probe's measurement can make trivial items look like waiting
    work, and such a test would then test a run on threads.
    """
    monkeypatch.setattr(probe, "OVERHEAD_PER_ITEM", 1.0)


def test_tiny_items_run_in_the_calling_thread() -> None:
    """Trivial items run here, one after another; the note gives the time per item."""
    summary = parmap(abs, range(-50_000, 0), kind="auto")
    assert summary.results == list(range(50_000, 0, -1))
    assert summary.backend == SERIAL_BACKEND
    (note,) = summary.notes
    assert "ran the items here" in note
    assert "µs" in note


@pytest.mark.usefixtures("run_here")
def test_tiny_items_run_here_still_fail_one_by_one() -> None:
    """Run here, a failing item fails alone, with its index, as in any other run."""
    summary = parmap(inverse, range(10_000), kind="auto")
    assert summary.backend == SERIAL_BACKEND
    assert [error.index for error in summary.errors] == [500]
    assert summary.succeeded == 9_999


def test_tiny_items_of_an_endless_input_run_here() -> None:
    """A generator of trivial items (no length) runs here too, and imap streams it."""
    outcomes = imap(abs, (-x for x in range(30_000)), kind="auto")
    assert [outcome.value for outcome in outcomes] == list(range(30_000))


def test_with_a_timeout_tiny_items_still_go_to_workers() -> None:
    """timeout= can only be enforced in a worker, so the run never stays here."""
    summary = parmap(abs, range(-5_000, 0), kind="auto", timeout=10)
    assert summary.backend != SERIAL_BACKEND
    assert summary.ok


@pytest.mark.usefixtures("run_here")
def test_the_calling_thread_runs_them() -> None:
    """Run here means in the caller's own thread."""
    caller = threading.get_ident()
    summary = parmap(lambda _: threading.get_ident(), range(20_000), kind="auto")
    assert summary.backend == SERIAL_BACKEND, summary.notes
    assert set(summary.results) == {caller}


def test_auto_measures_within_the_timeout() -> None:
    release = threading.Event()

    def hangs_first(x: int) -> int:
        if x == 0:
            release.wait(30)
        return x

    try:
        began = time.monotonic()
        summary = parmap(hangs_first, range(5), kind="auto", timeout=0.2)
        took = time.monotonic() - began
    finally:
        release.set()
    assert took < 10
    assert [error.index for error in summary.errors] == [0]
    assert summary.errors[0].type_name == "TimeoutError"
    assert summary.results[1:] == [1, 2, 3, 4]
    assert summary.backend.startswith("threads")
    assert any("ran longer than timeout=0.2" in note for note in summary.notes)


def collects_at_300(x: int) -> int:
    if x == 300:
        gc.collect()  # a full collection: milliseconds in a sample of sub-microsecond items
    return x


def test_a_collection_while_measuring_does_not_make_tiny_items_look_slow() -> None:
    """Time the garbage collector ran while the first items were measured is not theirs.

    Without leaving it out, the sample holding item 300 takes milliseconds for a
    few hundred items, and kind='auto' sends trivial items to workers.
    """
    summary = parmap(collects_at_300, range(50_000), kind="auto")
    assert summary.backend == SERIAL_BACKEND, summary.notes
    assert summary.results == list(range(50_000))


@pytest.mark.usefixtures("run_here")
def test_items_appended_to_the_input_list_while_it_runs_here_run_too() -> None:
    """Run here, a list input is read as a for loop reads it: items appended on the way run too."""
    items = list(range(20_000))

    def grow(x: int) -> int:
        if x % 5_000 == 4_999 and x < 100_000:
            items.append(x + 100_000)
        return x

    summary = parmap(grow, items, kind="auto")
    assert summary.backend == SERIAL_BACKEND
    assert summary.total == len(items) == 20_004
    assert summary.results == items


class Overloaded:
    """A CPU queue that says this thread waited for a CPU all the time (an overloaded machine)."""

    def __enter__(self) -> Callable[[], float]:
        return time.perf_counter

    def __exit__(self, *_: object) -> None:
        pass


def pause(x: int) -> int:
    time.sleep(0.0005)
    return x


def test_a_probe_that_only_ever_waits_for_a_cpu_ends_at_its_wall_time_cap(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Waiting time is not the items' own, so it does not end the probe: its wall time does.

    With every second counted as waiting, the items' own time never adds up to
    PROBE_SECONDS: without the cap the probe would measure all 300 items (0.15 s)
    before deciding; with a cap of 20 ms it measures a few dozen.
    """
    monkeypatch.setattr(probe, "CpuQueue", Overloaded)
    monkeypatch.setattr(probe, "PROBE_WALL_MOST", 0.02)
    summary = parmap(pause, range(300), kind="auto")
    assert summary.results == list(range(300))
    measured = re.search(r"the first (item|\d+)", " ".join(summary.notes))
    assert measured is not None, summary.notes
    assert measured[1] == "item" or int(measured[1]) < 300, summary.notes
