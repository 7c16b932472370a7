"""@parallel and @each: wrap a function or a loop body, on both kinds."""

from __future__ import annotations

import functools
import inspect
import os

import pytest

import parmap as pm
from decorated import square, where
from parmap import Kind, each, parallel


def test_decorated_function_still_runs_inline() -> None:
    """A plain call runs once, here, and returns as before."""
    assert square(7) == 49
    assert where(1) == (1, os.getpid())


def test_decorated_function_keeps_its_identity() -> None:
    """Name, docstring, signature and __wrapped__ are kept (functools.wraps)."""
    assert square.__name__ == "square"
    assert square.__doc__ == "Square a number."
    assert inspect.signature(square) == inspect.signature(square.__wrapped__)
    assert list(inspect.signature(square).parameters) == ["x"]
    assert square.__wrapped__(3) == 9


def test_module_level_cpu_function_maps_in_processes() -> None:
    """A module-level function decorated with kind='cpu' maps in worker processes."""
    summary = square.map(range(6))
    assert summary.results == [x * x for x in range(6)]
    assert summary.backend == "processes ×2"
    ran_in = where.map(range(4), kind="cpu").results
    assert os.getpid() not in {pid for _, pid in ran_in}  # type: ignore[misc]


def test_map_takes_generators_and_overrides(kind: Kind) -> None:
    """.map takes a generator; keyword overrides replace the decorator's options."""
    summary = square.map((x for x in range(5)), kind=kind, workers=1)
    assert summary.results == [0, 1, 4, 9, 16]
    assert summary.backend.endswith("×1")


def test_imap_streams_outcomes(kind: Kind) -> None:
    """.imap streams Outcome objects in order."""
    assert [o.value for o in square.imap(range(4), kind=kind)] == [0, 1, 4, 9]


def test_decorated_closure_maps_in_processes() -> None:
    """A decorated local function closing over a variable works with kind='cpu'."""

    def make(factor: int) -> pm.Parallel[[int], int]:
        @parallel(kind="cpu")
        def scale(x: int) -> int:
            return x * factor

        return scale

    assert make(3).map(range(4)).results == [0, 3, 6, 9]


def test_bare_parallel_records_errors() -> None:
    """Errors of .map are recorded like parmap's."""

    @parallel
    def invert(x: int) -> float:
        return 1 / x

    summary = invert.map([1, 0, 2])
    assert summary.results == [1.0, None, 0.5]
    assert summary.errors[0].type_name == "ZeroDivisionError"


def test_each_runs_the_loop_body_at_once(kind: Kind) -> None:
    """@each runs the body over the items right away; the name is bound to the Summary."""
    offset = 100

    @each(range(5), kind=kind)
    def summary(item: int) -> int:
        return item + offset

    assert isinstance(summary, pm.Summary)
    assert summary.results == [100, 101, 102, 103, 104]


def test_each_sees_each_iterations_values() -> None:
    """In an outer loop, each @each run sees that iteration's values: no late binding."""
    results = []
    for factor in (1, 2, 3):

        @each([1, 2], kind="cpu")
        def summary(item: int) -> int:
            return item * factor  # noqa: B023 - runs at once, inside this iteration

        results.append(summary.results)
    assert results == [[1, 2], [2, 4], [3, 6]]


def test_each_records_errors() -> None:
    """A failing item in @each is recorded; the others run."""

    @each(["1", "x", "3"])
    def summary(item: str) -> int:
        return int(item)

    assert summary.results == [1, None, 3]
    assert summary.failed == 1


def test_each_without_items_is_rejected() -> None:
    """@each used bare, or without items, says how to call it."""
    with pytest.raises(pm.ArgumentError, match="@each needs the items"):
        each(lambda item: item)  # type: ignore[arg-type]
    with pytest.raises(pm.ArgumentError, match="@each needs the items"):
        each()


def test_parallel_given_a_non_callable() -> None:
    """@parallel given something that is not a function says what to do."""
    with pytest.raises(pm.ArgumentError, match="@parallel decorates a function, got int 5"):
        parallel(5)  # type: ignore[call-overload]


@pytest.mark.parametrize(
    "options",
    [{"workers": 0}, {"kind": "gpu"}, {"retries": -1}, {"unknown": 1}, {"ordered": "yes"}],
)
def test_bad_options_rejected_when_decorating(options: dict[str, object]) -> None:
    """Bad options fail at decoration time, not at the first call."""
    with pytest.raises(pm.ArgumentError):
        parallel(**options)  # type: ignore[call-overload]
    with pytest.raises(pm.ArgumentError):
        each([1], **options)  # type: ignore[arg-type]


def test_decorating_a_partial() -> None:
    """Any callable can be decorated, a functools.partial included."""
    scaled = parallel(functools.partial(pow, 2))
    assert scaled.map([1, 2, 3]).results == [2, 4, 8]
