"""rate=R: at most R item starts in any one-second window, shared by every worker."""

from __future__ import annotations

import asyncio
import bisect
import itertools
import math
import os
import tempfile
import time
from typing import Any

import pytest

from parmap import ArgumentError, parmap
from parmap._worker.rate import Pacer


def started_at(x: int) -> float:
    """The item's start time on the machine-wide monotonic clock (the same in every process)."""
    del x
    return time.monotonic()


def most_in_one_second(starts: list[float]) -> int:
    """The largest number of starts in any closed one-second window."""
    ordered = sorted(starts)
    return max(bisect.bisect_right(ordered, first + 1.0) - i for i, first in enumerate(ordered))


def late_starts(starts: list[float], began: float, interval: float) -> list[tuple[int, float]]:
    """The starts that came before their turn: the k-th must not come before ``began + k*interval``.

    The pacer's slots are ``interval`` apart from a first slot at or after `began`,
    and an item starts at or after its slot, so the k-th earliest start is never
    earlier than the k-th slot, however late a busy machine runs any one item.
    (Gaps between observed starts are no measure: one item delayed by the
    scheduler shortens the gap after it.)
    """
    return [
        (k, start) for k, start in enumerate(sorted(starts)) if start < began + k * interval - 1e-6
    ]


@pytest.mark.timeout(60)
def test_forty_items_at_twenty_a_second(kind: Any) -> None:
    began = time.monotonic()
    summary = parmap(started_at, range(40), kind=kind, rate=20, workers=8)
    took = time.monotonic() - began
    starts = [start for start in summary.results if start is not None]
    assert len(starts) == 40
    assert most_in_one_second(starts) <= 21  # R, plus one at the window's edges
    # 40 starts spaced 1/20 s apart take 39/20 s, whatever the number of workers
    assert late_starts(starts, began, 1 / 20) == []
    assert took >= 39 / 20 - 0.01


@pytest.mark.timeout(30)
def test_fractional_rate_spaces_starts_seconds_apart() -> None:
    began = time.monotonic()
    summary = parmap(started_at, range(3), rate=0.5, workers=3)
    starts = [start for start in summary.results if start is not None]
    assert len(starts) == 3
    assert late_starts(starts, began, 2.0) == []


@pytest.mark.timeout(30)
def test_retries_are_paced_too() -> None:
    attempts: list[float] = []
    seen: set[int] = set()

    def fails_once(x: int) -> int:
        attempts.append(time.monotonic())
        if x not in seen:
            seen.add(x)
            raise ConnectionError(x)
        return x

    began = time.monotonic()
    summary = parmap(fails_once, range(5), rate=10, retries=1, workers=5)
    assert summary.ok
    assert len(attempts) == 10  # each item: a failed attempt, then its retry
    assert late_starts(attempts, began, 0.1) == []


def test_rate_and_workers_are_independent() -> None:
    summary = parmap(started_at, range(10), rate=1000, workers=2)
    assert summary.ok
    assert summary.backend == "threads ×2"


def test_the_schedule_file_is_removed_after_the_run(monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[str] = []
    mkstemp = tempfile.mkstemp

    def recording_mkstemp(*args: Any, **kwargs: Any) -> tuple[int, str]:
        fd, path = mkstemp(*args, **kwargs)
        if "parmap-rate-" in path:
            made.append(path)
        return fd, path

    # only this run's files: other programs on the machine may be pacing runs of their own
    monkeypatch.setattr(tempfile, "mkstemp", recording_mkstemp)
    parmap(started_at, range(5), rate=500, kind="cpu", workers=2)
    assert len(made) == 1
    assert not os.path.exists(made[0])  # noqa: PTH110


def test_pacer_spaces_successive_starts() -> None:
    pacer = Pacer(200.0)
    try:
        starts = [pacer.wait() for _ in range(5)]
    finally:
        pacer.close()
    gaps = [later - earlier for earlier, later in itertools.pairwise(starts)]
    assert all(gap >= 1 / 200 - 1e-9 for gap in gaps), gaps


@pytest.mark.parametrize("bad", [0, -1, "fast", math.nan, math.inf, True])
def test_bad_rate_is_refused_up_front(bad: object) -> None:
    with pytest.raises(ArgumentError, match="rate must be a number of item starts per second"):
        parmap(started_at, [1], rate=bad)  # type: ignore[call-overload]


async def started_at_async(x: int) -> float:
    """`started_at`, as a coroutine function."""
    await asyncio.sleep(0)
    return started_at(x)


@pytest.mark.timeout(60)
def test_coroutine_functions_are_paced_too() -> None:
    began = time.monotonic()
    summary = parmap(started_at_async, range(40), rate=20, workers=10)
    took = time.monotonic() - began
    starts = [start for start in summary.results if start is not None]
    assert len(starts) == 40
    assert most_in_one_second(starts) <= 21
    assert late_starts(starts, began, 1 / 20) == []
    assert took >= 39 / 20 - 0.01
