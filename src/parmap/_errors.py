"""The exceptions parmap raises or records.

Every exception of parmap's own derives from `ParmapError`; where the meaning
matches a builtin that users would catch anyway, it derives from that too::

    Exception
     └── ParmapError
          ├── ArgumentError (TypeError, ValueError)   bad argument, raised before work starts
          ├── UnpicklableFunctionError (TypeError)    fn cannot be sent to worker processes
          ├── RemoteError                             stand-in for an exception that can't travel
          ├── TransportError (PicklingError)          an item or a result could not travel
          └── WorkerDiedError (BrokenExecutor)        the worker process running an item died

Only `ArgumentError` and `UnpicklableFunctionError` are raised by `parmap()`
itself; the others are recorded as the `exception` of an `ItemError`.
"""

from __future__ import annotations

import pickle
from concurrent.futures import BrokenExecutor

from ._public import public

__all__ = [
    "ArgumentError",
    "ParmapError",
    "RemoteError",
    "TransportError",
    "UnpicklableFunctionError",
    "WorkerDiedError",
]


class ParmapError(Exception):
    """Base class of every exception defined by parmap.

    Examples:
        >>> issubclass(ArgumentError, ParmapError)
        True
    """


class ArgumentError(ParmapError, TypeError, ValueError):
    """An argument of `parmap()` is invalid; raised before any worker starts.

    It is also a `TypeError` and a `ValueError`, so code that catches either
    keeps working. The message names the argument, shows the value given and
    says what to pass instead.

    Examples:
        >>> from parmap import parmap
        >>> parmap(abs, [1], workers=0)
        Traceback (most recent call last):
        ...
        parmap.ArgumentError: workers must be a positive int, got 0; pass e.g. workers=8, ...
    """


class UnpicklableFunctionError(ParmapError, TypeError):
    """`fn` cannot be pickled, so it cannot be sent to worker processes.

    Raised before any worker starts, with the pickling error as its cause.
    Use ``kind="io"`` (threads need no pickling) or make `fn` picklable.

    Examples:
        >>> issubclass(UnpicklableFunctionError, TypeError)
        True
    """


class RemoteError(ParmapError):
    """Stand-in for an exception raised in a worker that could not be sent back.

    Some exceptions cannot be pickled (they hold a lock, or need arguments
    their ``__init__`` does not get back). parmap then records this stand-in,
    which keeps the original's qualified type name and message; the original
    traceback is in `ItemError.traceback`.

    Examples:
        >>> err = RemoteError("mymod.BadError", "it broke")
        >>> err.type_name, str(err)
        ('mymod.BadError', 'mymod.BadError: it broke')
    """

    def __init__(self, type_name: str, message: str) -> None:
        """Keep the qualified type name and message of the original exception."""
        super().__init__(f"{type_name}: {message}")
        self.type_name = type_name
        self.message = message

    def __reduce__(self) -> tuple[type[RemoteError], tuple[str, str]]:
        """Pickle with the two constructor arguments."""
        return (type(self), (self.type_name, self.message))


class TransportError(ParmapError, pickle.PicklingError):
    """An item, or its return value, could not be pickled to travel to or from a worker process.

    Recorded as that item's failure; the other items of its batch go on as
    usual. Pass and return plain data (numbers, strings, lists, dicts,
    dataclasses) rather than open files, locks, sockets or generators, or use
    ``kind="io"``, where nothing is pickled.

    Examples:
        >>> import pickle
        >>> issubclass(TransportError, pickle.PicklingError)
        True
    """


class WorkerDiedError(ParmapError, BrokenExecutor):
    """The worker process running an item died (crashed, was killed, or called ``os._exit``).

    Recorded as the failure of the items it was running; the run goes on
    with a fresh pool.

    Examples:
        >>> from concurrent.futures import BrokenExecutor
        >>> issubclass(WorkerDiedError, BrokenExecutor)
        True
    """


public(
    ParmapError,
    ArgumentError,
    RemoteError,
    TransportError,
    UnpicklableFunctionError,
    WorkerDiedError,
)
