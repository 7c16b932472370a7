"""A batch result as bytes and back: each value and exception travels on its own.

A value that cannot be pickled, or pickles but does not unpickle, fails only
its item (`TransportError`); an exception that cannot travel becomes a
`RemoteError` keeping its type name and message; the worker's traceback
travels as text and comes back as the exception's ``__cause__``.
"""

from __future__ import annotations

import pickle

import cloudpickle

from parmap._errors import RemoteError, TransportError

from .records import BatchResult, describe, qualified_name

__all__ = ["NotSent", "pack_result", "unpack_result"]


class NotSent:
    """Sent in place of an item that could not be pickled; its call fails with the reason."""

    __slots__ = ("message",)

    def __init__(self, message: str) -> None:
        self.message = message

    def __reduce__(self) -> tuple[type[NotSent], tuple[str]]:
        return (NotSent, (self.message,))


def _pickle_exception(exc: Exception) -> bytes | None:
    """The exception pickled, if it survives a round trip; ``None`` if it cannot travel."""
    try:
        data: bytes = cloudpickle.dumps(exc)
        pickle.loads(data)  # noqa: S301 - checks our own bytes unpickle
    except Exception:  # noqa: BLE001 - then a stand-in travels instead
        return None
    return data


#: Results of these exact types always unpickle: no round trip needed to check them.
_SIMPLE_TYPES = frozenset({int, float, complex, str, bytes, bool, type(None)})


def pack_result(result: BatchResult) -> bytes:
    """Turn a batch result into bytes; a value that cannot travel fails only its item.

    Values are pickled together. Unless they are all simple (numbers,
    strings, bytes, None), the bytes are also unpickled here once, to make
    sure the caller's process can read them: a value that pickles but does
    not unpickle (an exception whose ``__init__`` needs arguments, say) is
    then found and failed on its own. A ``KeyboardInterrupt`` or
    ``SystemExit`` that stopped the batch travels as the plain builtin.
    """
    for failure in result.failures:
        failure.traceback = failure.text  # text travels; what makes it does not pickle
        if failure.exception is not None:
            failure.pickled = _pickle_exception(failure.exception)
            failure.exception = None
    if result.fatal is not None:
        result.fatal = _plain_fatal(result.fatal)
    try:
        data: bytes = cloudpickle.dumps(result)
        if not _SIMPLE_TYPES.issuperset(map(type, result.values)):  # a loop in C
            pickle.loads(data)  # noqa: S301 - checks our own bytes unpickle
    except Exception:  # noqa: BLE001 - find the culprits below
        _fail_untransportable(result)
        data = cloudpickle.dumps(result)
    return data


def _plain_fatal(exc: BaseException) -> BaseException:
    """The builtin form of what stopped a batch, which always pickles and unpickles."""
    if isinstance(exc, SystemExit):
        code = exc.code if isinstance(exc.code, int | str | None) else str(exc.code)
        return SystemExit(code)
    if isinstance(exc, KeyboardInterrupt):
        return KeyboardInterrupt(*(str(arg) for arg in exc.args[:1]))
    try:  # another BaseException: itself if it travels, else a plain one naming it
        pickle.loads(cloudpickle.dumps(exc))  # noqa: S301 - our own bytes
    except Exception:  # noqa: BLE001 - see above
        return BaseException(f"{qualified_name(type(exc))}: {exc}")
    return exc


def _fail_untransportable(result: BatchResult) -> None:
    """Replace each value that cannot make the round trip with its item's `TransportError`."""
    for position, value in enumerate(result.values):
        try:
            pickle.loads(cloudpickle.dumps(value))  # noqa: S301 - our own bytes
        except Exception as exc:  # noqa: BLE001 - that item's failure, with the reason
            result.values[position] = None
            error = TransportError(
                f"the result of this item could not be sent back from the worker process: "
                f"{type(exc).__name__}: {exc}; return plain data (numbers, strings, lists, "
                "dicts, dataclasses of those) rather than objects such as locks, open files "
                "or exception instances, or use kind='io', where nothing is pickled"
            )
            failure = describe(position, error)
            failure.pickled = _pickle_exception(error)
            failure.exception = None
            result.failures.append(failure)
    result.failures.sort(key=lambda f: f.position)


class _RemoteTraceback(Exception):  # noqa: N818 - shown as the cause, like CPython's own
    """Carries a worker's formatted traceback as the ``__cause__`` of a transported exception."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text

    def __str__(self) -> str:
        return f'\n"""\n{self.text}"""'


def unpack_result(data: bytes) -> BatchResult:
    """Turn a worker's bytes back into a batch result with real exception objects."""
    result: BatchResult = pickle.loads(data)  # noqa: S301 - bytes from our own worker
    for failure in result.failures:
        exc: Exception | None = None
        if failure.pickled is not None:
            try:
                exc = pickle.loads(failure.pickled)  # noqa: S301 - bytes from our own worker
            except Exception:  # noqa: BLE001 - fall back to the stand-in
                exc = None
        if exc is None:
            exc = RemoteError(failure.type_name, failure.message)
        exc.__cause__ = _RemoteTraceback(failure.text)
        failure.exception = exc
        failure.pickled = None
    if result.fatal is not None:
        result.fatal = _rebuilt_fatal(result.fatal)
    return result


def _rebuilt_fatal(exc: BaseException) -> BaseException:
    """The builtin that stopped a batch, made again from its arguments.

    A library may change how exceptions pickle for the whole process: Dask
    installs tblib's picklers, after which a ``SystemExit`` arrives with its
    arguments but without its ``code``. Building it again restores the code.
    """
    if isinstance(exc, SystemExit):
        return SystemExit(*exc.args)
    return KeyboardInterrupt(*exc.args)
