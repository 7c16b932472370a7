"""Unit tests for the pure helpers of parmap._worker, run in the calling thread, no pools."""

from __future__ import annotations

import collections
import copyreg
import threading
from typing import TYPE_CHECKING

import pytest

import parmap
from parmap._worker.batch import StopFlag, run_batch
from parmap._worker.records import BatchResult, Failure, qualified_name
from parmap._worker.transport import pack_result, unpack_result

if TYPE_CHECKING:
    from collections.abc import Callable


TWO_ARG_MESSAGE = "needs two"
LOCKED_MESSAGE = "holds a lock"


class Outer:
    """Holds a nested class, for qualified names."""

    class Inner:
        """A nested class."""


class CustomError(Exception):
    """A picklable exception defined in this module."""


class TwoArgError(Exception):
    """Cannot be unpickled: its __init__ needs two arguments but only one is in args."""

    def __init__(self, what: str, extra: str) -> None:
        super().__init__(what)
        self.extra = extra


@pytest.fixture(autouse=True)
def plain_exception_pickling(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep TwoArgError unpicklable, as it is unless Dask was imported earlier in the session.

    Importing Dask's ``distributed`` registers tblib's pickler (``copyreg``) for
    every exception class that exists then, which makes TwoArgError unpickle
    after all; these tests are about exceptions that cannot travel.
    """
    monkeypatch.delitem(copyreg.dispatch_table, TwoArgError, raising=False)


class LockedError(Exception):
    """Cannot be pickled: it holds a lock."""

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.lock = threading.Lock()


class BrokenStrError(Exception):
    """An exception whose str() raises."""

    def __str__(self) -> str:
        msg = "no str for you"
        raise RuntimeError(msg)


def double(x: object) -> object:
    """Return twice the item."""
    assert isinstance(x, int)
    return x * 2


def fail_on_odd(x: object) -> object:
    """Raise ValueError on odd items, double the others."""
    assert isinstance(x, int)
    if x % 2:
        msg = f"odd item {x}"
        raise ValueError(msg)
    return x * 2


def fail_with_cause(x: object) -> object:
    """Raise a RuntimeError chained from a KeyError."""
    lookup: dict[object, object] = {}
    try:
        lookup[x]
    except KeyError as exc:
        msg = "lookup failed"
        raise RuntimeError(msg) from exc
    return x  # pragma: no cover - the lookup always fails


def raise_custom(x: object) -> object:
    """Raise CustomError on item 1."""
    if x == 1:
        msg = "custom trouble"
        raise CustomError(msg)
    return x


def _run_and_ship(fn: Callable[[object], object], items: list[object]) -> BatchResult:
    """What a process worker and its parent do, but in this thread: run, pack, unpack."""
    return unpack_result(pack_result(run_batch(fn, items)))


# --- qualified_name ----------------------------------------------------------------------


def test_qualified_name_builtin_is_bare() -> None:
    """Builtin exception types are named without a module."""
    assert qualified_name(ValueError) == "ValueError"


def test_qualified_name_stdlib_has_module() -> None:
    """Classes outside builtins are prefixed with their module."""
    assert qualified_name(collections.OrderedDict) == "collections.OrderedDict"


def test_qualified_name_nested_class() -> None:
    """A nested class is named by module and its full qualified name."""
    assert qualified_name(Outer.Inner) == f"{__name__}.Outer.Inner"
    assert qualified_name(Outer.Inner).endswith("test_worker.Outer.Inner")


def test_qualified_name_parmap_exception() -> None:
    """parmap's own exceptions are named by their public module."""
    assert qualified_name(parmap.TransportError) == "parmap.TransportError"


# --- run_batch ---------------------------------------------------------------------------


def test_run_batch_values_in_order() -> None:
    """Values come back in item order."""
    assert run_batch(double, [3, 1, 2]).values == [6, 2, 4]


def test_run_batch_none_at_failures() -> None:
    """A failed item's value is None and its neighbours keep theirs."""
    assert run_batch(fail_on_odd, [0, 1, 2, 3, 4]).values == [0, None, 4, None, 8]


def test_run_batch_failure_positions() -> None:
    """Each failure records its position in the batch."""
    failures = run_batch(fail_on_odd, [0, 1, 2, 3, 4]).failures
    assert [f.position for f in failures] == [1, 3]


def test_run_batch_failure_type_name_builtin() -> None:
    """A builtin exception's type name is bare."""
    failures = run_batch(fail_on_odd, [1]).failures
    assert failures[0].type_name == "ValueError"


def test_run_batch_failure_type_name_custom() -> None:
    """A user exception's type name includes its module."""
    failures = run_batch(raise_custom, [1]).failures
    assert failures[0].type_name == f"{__name__}.CustomError"


def test_run_batch_failure_message() -> None:
    """A failure's message is str() of the exception."""
    failures = run_batch(fail_on_odd, [3]).failures
    assert failures[0].message == "odd item 3"


def test_run_batch_failure_keeps_exception_object() -> None:
    """A failure keeps the very exception object that was raised."""
    raised = CustomError("this one")

    def raise_it(_: object) -> object:
        raise raised

    assert run_batch(raise_it, [0]).failures[0].exception is raised


def test_run_batch_traceback_names_raising_function() -> None:
    """The traceback shows the function that raised, and the exception line."""
    traceback = run_batch(fail_on_odd, [1]).failures[0].text
    assert "in fail_on_odd" in traceback
    assert traceback.rstrip().endswith("ValueError: odd item 1")


def test_run_batch_traceback_leaves_parmap_frame_out() -> None:
    """The traceback starts at the user's function, not in run_batch."""
    traceback = run_batch(fail_on_odd, [1]).failures[0].text
    assert "in run_batch" not in traceback


def test_run_batch_traceback_has_chained_cause() -> None:
    """The traceback includes chained causes."""
    traceback = run_batch(fail_with_cause, ["k"]).failures[0].text
    assert "KeyError: 'k'" in traceback
    assert "The above exception was the direct cause of the following exception" in traceback


def test_run_batch_counts_seconds() -> None:
    """A batch reports a non-negative duration."""
    assert run_batch(double, [1]).seconds >= 0.0


def test_run_batch_no_fatal_normally() -> None:
    """A batch that ran through has no fatal exception."""
    assert run_batch(fail_on_odd, [0, 1]).fatal is None


@pytest.mark.parametrize("fatal_type", [KeyboardInterrupt, SystemExit])
def test_run_batch_fatal_stops_batch(fatal_type: type[BaseException]) -> None:
    """KeyboardInterrupt/SystemExit stop the batch: later items are not called."""
    called: list[object] = []

    def fn(x: object) -> object:
        called.append(x)
        if x == 2:
            raise fatal_type
        return x

    run_batch(fn, [0, 1, 2, 3, 4])
    assert called == [0, 1, 2]


@pytest.mark.parametrize("fatal_type", [KeyboardInterrupt, SystemExit])
def test_run_batch_fatal_is_returned(fatal_type: type[BaseException]) -> None:
    """KeyboardInterrupt/SystemExit come back as `fatal`, with the values before them."""

    def fn(x: object) -> object:
        if x == 2:
            raise fatal_type
        return x

    result = run_batch(fn, [0, 1, 2, 3, 4])
    assert isinstance(result.fatal, fatal_type)
    assert result.values == [0, 1]


def test_run_batch_set_stop_runs_nothing() -> None:
    """With the stop event already set, no item is called."""
    called: list[object] = []
    stop = StopFlag()
    stop.set()
    result = run_batch(called.append, [0, 1], stop)
    assert (called, result.values) == ([], [])


def test_run_batch_stop_before_next_item() -> None:
    """Setting the stop event during an item stops the batch before the next item."""
    stop = StopFlag()

    def fn(x: object) -> object:
        if x == 1:
            stop.set()
        return x

    assert run_batch(fn, [0, 1, 2, 3], stop).values == [0, 1]


def test_run_batch_unset_stop_runs_all() -> None:
    """An unset stop event does not stop the batch."""
    assert run_batch(double, [1, 2], StopFlag()).values == [2, 4]


def test_run_batch_exception_with_broken_str_fails_only_its_item() -> None:
    """An exception whose str() raises is still recorded as its item's failure."""

    def fn(x: object) -> object:
        if x == 1:
            raise BrokenStrError
        return x

    result = run_batch(fn, [0, 1, 2])
    assert result.values == [0, None, 2]


# --- pack / unpack -----------------------------------------------------------------------


def test_pack_unpack_round_trip() -> None:
    """Values and failures survive pack/unpack unchanged."""
    result = _run_and_ship(fail_on_odd, [0, 1, 2])
    assert result.values == [0, None, 4]
    assert [(f.position, f.type_name, f.message) for f in result.failures] == [
        (1, "ValueError", "odd item 1")
    ]


def test_pack_gives_bytes() -> None:
    """pack turns a batch result into bytes."""
    assert isinstance(pack_result(run_batch(double, [1])), bytes)


def test_unpicklable_result_fails_only_its_item() -> None:
    """A result that cannot be pickled becomes None; the other items keep their values."""

    def fn(x: object) -> object:
        return threading.Lock() if x == 1 else x

    assert _run_and_ship(fn, [0, 1, 2]).values == [0, None, 2]


def test_unpicklable_result_is_a_transport_error() -> None:
    """A result that cannot be pickled fails its item with parmap.TransportError."""

    def fn(x: object) -> object:
        return threading.Lock() if x == 1 else x

    failures = _run_and_ship(fn, [0, 1, 2]).failures
    assert [(f.position, type(f.exception)) for f in failures] == [(1, parmap.TransportError)]
    assert failures[0].type_name == "parmap.TransportError"


def test_unpicklable_result_message_says_what_to_do() -> None:
    """The TransportError names the pickling problem and suggests plain data or kind='io'."""

    def fn(_: object) -> object:
        return threading.Lock()

    message = _run_and_ship(fn, [0]).failures[0].message
    assert "could not be sent back" in message
    assert "kind='io'" in message


def test_unpicklable_result_failures_sorted_by_position() -> None:
    """Transport failures are merged with the items' own failures in position order."""

    def fn(x: object) -> object:
        assert isinstance(x, int)
        if x == 1:
            msg = "boom"
            raise ValueError(msg)
        return threading.Lock() if x in {0, 2} else x

    failures = _run_and_ship(fn, [0, 1, 2, 3]).failures
    assert [(f.position, f.type_name) for f in failures] == [
        (0, "parmap.TransportError"),
        (1, "ValueError"),
        (2, "parmap.TransportError"),
    ]


def test_result_that_cannot_be_unpickled_fails_only_its_item() -> None:
    """A result that pickles but does not unpickle fails its item; the others keep theirs."""

    def fn(x: object) -> object:
        return TwoArgError("returned, not raised", "extra") if x == 1 else x

    result = _run_and_ship(fn, [0, 1, 2])
    assert result.values == [0, None, 2]
    (failure,) = result.failures
    assert failure.position == 1
    assert isinstance(failure.exception, parmap.TransportError)


def test_fatal_that_does_not_unpickle_still_stops_the_run() -> None:
    """A SystemExit subclass that cannot be unpickled travels as a plain SystemExit."""

    class Stop(SystemExit):
        def __init__(self, a: int, b: int) -> None:
            super().__init__(a + b)

    def fn(x: object) -> object:
        if x == 1:
            raise Stop(1, 2)
        return x

    result = _run_and_ship(fn, [0, 1, 2])
    assert result.values == [0]
    assert type(result.fatal) is SystemExit
    assert result.fatal.code == 3


@pytest.mark.parametrize("error_type", [TwoArgError, LockedError])
def test_unpicklable_exception_becomes_remote_error(error_type: type[Exception]) -> None:
    """An exception that cannot travel comes back as RemoteError with type name and message."""

    def fn(_: object) -> object:
        if error_type is TwoArgError:
            raise TwoArgError(TWO_ARG_MESSAGE, "args")
        raise LockedError(LOCKED_MESSAGE)

    failure = _run_and_ship(fn, [0]).failures[0]
    assert isinstance(failure.exception, parmap.RemoteError)
    assert failure.exception.type_name == f"{__name__}.{error_type.__qualname__}"
    assert failure.exception.message == failure.message
    assert failure.message in {TWO_ARG_MESSAGE, LOCKED_MESSAGE}


def test_unpicklable_exception_keeps_neighbours() -> None:
    """An exception that cannot travel does not cost the other items their values."""

    def fn(x: object) -> object:
        if x == 1:
            raise LockedError(LOCKED_MESSAGE)
        return x

    assert _run_and_ship(fn, [0, 1, 2]).values == [0, None, 2]


def test_picklable_exception_keeps_its_type() -> None:
    """A picklable exception comes back as the same type and message."""
    failure = _run_and_ship(raise_custom, [0, 1]).failures[0]
    assert type(failure.exception) is CustomError
    assert str(failure.exception) == "custom trouble"


def test_picklable_exception_cause_is_worker_traceback() -> None:
    """The worker's traceback is available as the __cause__ of the transported exception."""
    failure = _run_and_ship(raise_custom, [1]).failures[0]
    assert failure.exception is not None
    cause = failure.exception.__cause__
    assert cause is not None
    assert "in raise_custom" in str(cause)
    assert "CustomError: custom trouble" in str(cause)


def test_remote_error_cause_is_worker_traceback() -> None:
    """A RemoteError stand-in also carries the worker's traceback as its __cause__."""

    def fn(_: object) -> object:
        raise LockedError(LOCKED_MESSAGE)

    failure = _run_and_ship(fn, [0]).failures[0]
    assert failure.exception is not None
    assert "in fn" in str(failure.exception.__cause__)


def test_unpacked_failures_hold_no_pickled_bytes() -> None:
    """After unpack, failures hold exception objects, not bytes."""
    failure = _run_and_ship(raise_custom, [1]).failures[0]
    assert (failure.pickled, isinstance(failure.exception, CustomError)) == (None, True)


def test_fatal_survives_pack_unpack() -> None:
    """A SystemExit that stopped the batch comes back as fatal, with the values before it."""

    def fn(x: object) -> object:
        if x == 1:
            raise SystemExit(3)
        return x

    result = _run_and_ship(fn, [0, 1, 2])
    assert isinstance(result.fatal, SystemExit)
    assert (result.fatal.code, result.values) == (3, [0])


def test_failure_is_built_by_hand() -> None:
    """A hand-built Failure with a picklable exception survives pack/unpack."""
    result = BatchResult(
        values=[None],
        failures=[Failure(0, "ValueError", "hand made", "tb text", ValueError("hand made"))],
    )
    failure = unpack_result(pack_result(result)).failures[0]
    assert (type(failure.exception), failure.traceback) == (ValueError, "tb text")
