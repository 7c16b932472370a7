"""Unit tests for parmap's exception hierarchy and its public names."""

from __future__ import annotations

import pickle
from concurrent.futures import BrokenExecutor

import pytest

import parmap

#: The exception classes parmap exports.
EXCEPTION_NAMES = [
    "ArgumentError",
    "ParmapError",
    "RemoteError",
    "TransportError",
    "UnpicklableFunctionError",
    "WorkerDiedError",
]

#: parmap.__all__ as it is now; a change to the public names must change this list too.
PUBLIC_NAMES = [
    "ArgumentError",
    "ItemError",
    "Kind",
    "MapOptions",
    "Outcome",
    "Parallel",
    "ParmapError",
    "RemoteError",
    "Stream",
    "Summary",
    "Timing",
    "TransportError",
    "UnpicklableFunctionError",
    "WorkerDiedError",
    "__version__",
    "amap",
    "each",
    "imap",
    "parallel",
    "parmap",
]


def _exported_classes() -> list[type]:
    return [obj for name in parmap.__all__ if isinstance(obj := getattr(parmap, name), type)]


def test_exported_exceptions_are_the_expected_ones() -> None:
    """The exception classes in parmap.__all__ are exactly the six known ones."""
    exported = sorted(c.__name__ for c in _exported_classes() if issubclass(c, BaseException))
    assert exported == EXCEPTION_NAMES


@pytest.mark.parametrize("name", EXCEPTION_NAMES)
def test_every_exception_is_a_parmap_error(name: str) -> None:
    """Every exported exception subclasses ParmapError."""
    assert issubclass(getattr(parmap, name), parmap.ParmapError)


def test_parmap_error_is_an_exception() -> None:
    """ParmapError is an ordinary Exception, so `except Exception` catches it."""
    assert issubclass(parmap.ParmapError, Exception)


@pytest.mark.parametrize("builtin", [TypeError, ValueError])
def test_argument_error_is_type_and_value_error(builtin: type[Exception]) -> None:
    """ArgumentError is caught by both `except TypeError` and `except ValueError`."""
    msg = "bad"
    with pytest.raises(builtin, match="bad"):
        raise parmap.ArgumentError(msg)


def test_unpicklable_function_error_is_type_error() -> None:
    """UnpicklableFunctionError is a TypeError."""
    assert issubclass(parmap.UnpicklableFunctionError, TypeError)


def test_worker_died_error_is_broken_executor() -> None:
    """WorkerDiedError is a concurrent.futures.BrokenExecutor."""
    assert issubclass(parmap.WorkerDiedError, BrokenExecutor)


def test_transport_error_is_pickling_error() -> None:
    """TransportError is a pickle.PicklingError."""
    assert issubclass(parmap.TransportError, pickle.PicklingError)


def test_remote_error_keeps_type_name_and_message() -> None:
    """RemoteError keeps the original's type name and message, and shows both."""
    err = parmap.RemoteError("mymod.BadError", "it broke")
    assert (err.type_name, err.message, str(err)) == (
        "mymod.BadError",
        "it broke",
        "mymod.BadError: it broke",
    )


def test_remote_error_pickle_round_trip() -> None:
    """A RemoteError survives pickling with its type name and message."""
    err = parmap.RemoteError("mymod.BadError", "it broke")
    back = pickle.loads(pickle.dumps(err))  # noqa: S301 - our own bytes
    assert (type(back), back.type_name, back.message, str(back)) == (
        parmap.RemoteError,
        "mymod.BadError",
        "it broke",
        "mymod.BadError: it broke",
    )


def test_transport_error_pickle_round_trip() -> None:
    """A TransportError survives pickling with its message."""
    back = pickle.loads(pickle.dumps(parmap.TransportError("no way")))  # noqa: S301
    assert (type(back), str(back)) == (parmap.TransportError, "no way")


def test_all_is_pinned() -> None:
    """parmap.__all__ is exactly the known list of public names."""
    assert parmap.__all__ == PUBLIC_NAMES


def test_all_is_sorted() -> None:
    """parmap.__all__ is kept sorted."""
    assert parmap.__all__ == sorted(parmap.__all__)


@pytest.mark.parametrize("name", PUBLIC_NAMES)
def test_every_public_name_exists(name: str) -> None:
    """Every name in parmap.__all__ is an attribute of the package."""
    assert hasattr(parmap, name)


def test_exported_classes_are_found() -> None:
    """The exported classes: six exceptions, ItemError, MapOptions, Outcome, Parallel, Stream,
    Summary, Timing."""
    assert len(_exported_classes()) == 13


@pytest.mark.parametrize("cls", _exported_classes(), ids=lambda cls: cls.__name__)
def test_exported_class_module_is_parmap(cls: type) -> None:
    """Every exported class says it lives in `parmap`, as users import it."""
    assert cls.__module__ == "parmap"
