"""Property: parmap(fn, xs) agrees with [fn(x) for x in xs], failures exactly where fn raises."""

from __future__ import annotations

from typing import Literal

from hypothesis import given, settings

from parmap import Kind, parmap
from strategies import batch_sizes, items, workers

Size = int | Literal["auto"]


def picky(x: object) -> object:
    """Fails on ints divisible by 7 and on the empty string; otherwise returns a value."""
    if isinstance(x, int) and x % 7 == 0:
        raise ValueError(x)
    if x == "":
        raise KeyError(x)
    return (type(x).__name__, x)


def expected(xs: list[object]) -> tuple[list[object], list[int]]:
    values: list[object] = []
    failing: list[int] = []
    for index, x in enumerate(xs):
        try:
            values.append(picky(x))
        except Exception:  # noqa: BLE001 - the reference loop of the seed question
            values.append(None)
            failing.append(index)
    return values, failing


def check(xs: list[object], kind: Kind, size: Size, count: int) -> None:
    summary = parmap(picky, xs, kind=kind, batch_size=size, workers=count)
    values, failing = expected(xs)
    assert summary.results == values
    assert [error.index for error in summary.errors] == failing
    assert [error.item for error in summary.errors] == [xs[i] for i in failing]
    assert summary.total == len(xs) == summary.succeeded + summary.failed


@settings(max_examples=60, deadline=None)
@given(xs=items, size=batch_sizes, count=workers)
def test_threads_agree_with_a_loop(xs: list[object], size: Size, count: int) -> None:
    """On threads, results and failures match a plain loop for any items, batch size, workers."""
    check(xs, "io", size, count)


@settings(max_examples=8, deadline=None)
@given(xs=items, size=batch_sizes, count=workers)
def test_processes_agree_with_a_loop(xs: list[object], size: Size, count: int) -> None:
    """On processes, results and failures match a plain loop for any items, batch size, workers."""
    check(xs, "cpu", size, min(count, 3))
