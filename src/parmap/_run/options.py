"""The checked values of a run's options (`Options`, `Limits`, `Tracking`), one check each.

The options' typed definition is `parmap._options`; `parmap._run.plan` checks a
whole call with the ``make_*`` functions here.
"""

from __future__ import annotations

import math
import os
import sys
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeGuard, final

from parmap._errors import ArgumentError

if TYPE_CHECKING:
    from collections.abc import Callable

    from distributed import Client

    from parmap._options import Kind

__all__ = [
    "NO_LIMITS",
    "Limits",
    "Options",
    "Tracking",
    "is_dask_client",
    "make_limits",
    "make_options",
    "make_tracking",
]

_KINDS: tuple[str, ...] = ("io", "cpu", "auto")


def is_dask_client(value: object) -> TypeGuard[Client]:
    """Whether `value` is a Dask ``distributed.Client``, without ever importing Dask.

    Nobody can hold a Client unless ``distributed`` was imported already, so
    looking it up in `sys.modules` is enough: ``import parmap`` stays free of Dask.

    Examples:
        >>> is_dask_client(object())
        False
    """
    distributed = sys.modules.get("distributed")
    client = getattr(distributed, "Client", None)
    return isinstance(client, type) and isinstance(value, client)


@final
@dataclass(frozen=True, slots=True)
class Options:
    """The validated options of one run: where it runs and in what batches."""

    kind: Kind
    workers: int | None
    batch_size: int | Literal["auto"]
    executor: Executor | Client | None

    #: What the caller's `executor` is, as far as opening a backend goes.
    executor_kind: Literal["threads", "dask", "other"] | None


def make_options(
    *,
    kind: object,
    workers: object,
    batch_size: object,
    executor: object,
) -> Options:
    """Check every option; raise `ArgumentError` on the first bad one.

    ``workers`` stays ``None`` when not given: its default depends on the kind
    finally chosen (`default_workers`).
    """
    if kind not in _KINDS:
        msg = (
            f"kind must be one of 'io', 'cpu' or 'auto', got {kind!r}; use kind='io' for work "
            "that waits (network, disk), kind='cpu' for work that computes in Python, "
            "kind='auto' to let parmap measure and pick"
        )
        raise ArgumentError(msg)
    checked_kind: Kind = kind  # type: ignore[assignment]  # narrowed by the membership test
    if workers is not None and not _is_count(workers, 1):
        msg = (
            f"workers must be a positive int, got {workers!r}; pass e.g. workers=8, "
            "or leave it out for the default"
        )
        raise ArgumentError(msg)
    if batch_size != "auto" and not _is_count(batch_size, 1):
        msg = (
            f"batch_size must be a positive int or 'auto', got {batch_size!r}; "
            "pass e.g. batch_size=100, or leave it out to let parmap size batches"
        )
        raise ArgumentError(msg)
    executor_kind = _executor_kind(executor)
    if executor_kind == "unknown":
        msg = (
            "executor must be a concurrent.futures.Executor or a Dask distributed.Client, "
            f"got {type(executor).__qualname__} {executor!r}; pass e.g. a "
            "ThreadPoolExecutor or ProcessPoolExecutor you created, or Client(address) to "
            "run on a Dask cluster, or leave it out and let parmap start its own workers"
        )
        raise ArgumentError(msg)
    if executor_kind == "dask" and getattr(executor, "asynchronous", False):
        msg = (
            f"executor={executor!r} is an asynchronous Dask Client; parmap waits for its "
            "work in plain threads, so pass a synchronous one: Client(address), without "
            "asynchronous=True"
        )
        raise ArgumentError(msg)
    return Options(
        kind=checked_kind,
        workers=workers if isinstance(workers, int) else None,
        batch_size=batch_size if isinstance(batch_size, int) else "auto",
        executor=executor,  # type: ignore[arg-type]  # checked above
        executor_kind=executor_kind,
    )


def _executor_kind(executor: object) -> Literal["threads", "dask", "other", "unknown"] | None:
    """What `executor` is: the one place that asks (a Dask client is told without Dask)."""
    if executor is None:
        return None
    if isinstance(executor, ThreadPoolExecutor):
        return "threads"
    if isinstance(executor, Executor):
        return "other"
    return "dask" if is_dask_client(executor) else "unknown"


@final
@dataclass(frozen=True, slots=True)
class Limits:
    """The validated per-item and run-level limits of one run."""

    retries: int
    retry_on: tuple[type[Exception], ...]
    backoff: float
    timeout: float | None
    max_failures: int | None
    rate: float | None = None

    def retries_timeout(self, attempt: int) -> bool:
        """Whether a timed-out attempt number `attempt` gets another try."""
        return attempt <= self.retries and issubclass(TimeoutError, self.retry_on)


#: No retries, no timeout, no early stop.
NO_LIMITS = Limits(retries=0, retry_on=(Exception,), backoff=0.0, timeout=None, max_failures=None)


def _is_count(value: object, minimum: int) -> TypeGuard[int]:
    """Whether `value` is an int (not a bool) of at least `minimum`."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def make_limits(
    *,
    retries: object,
    retry_on: object,
    backoff: object,
    timeout: object,
    max_failures: object,
    rate: object = None,
) -> Limits:
    """Check the retry, timeout, rate and fail-fast options; raise `ArgumentError` on a bad one."""
    if not _is_count(retries, 0):
        msg = (
            f"retries must be an int >= 0 (extra attempts after the first), got {retries!r}; "
            "pass e.g. retries=3, or leave it out for no retries"
        )
        raise ArgumentError(msg)
    classes = retry_on if isinstance(retry_on, tuple) else (retry_on,)
    if not classes or not all(
        isinstance(cls, type) and issubclass(cls, Exception) for cls in classes
    ):
        msg = (
            f"retry_on must be an exception class or a tuple of them (subclasses of "
            f"Exception), got {retry_on!r}; pass e.g. retry_on=(ConnectionError, TimeoutError)"
        )
        raise ArgumentError(msg)
    if not _is_number(backoff) or backoff < 0:  # type: ignore[operator]
        msg = (
            f"backoff must be a number of seconds >= 0, got {backoff!r}; pass e.g. backoff=0.5 "
            "(waits grow as 0.5, 1, 2, ... s, randomised), or backoff=0 to retry at once"
        )
        raise ArgumentError(msg)
    if timeout is not None and (not _is_number(timeout) or timeout <= 0):  # type: ignore[operator]
        msg = (
            f"timeout must be a number of seconds > 0 for one attempt of one item, got "
            f"{timeout!r}; pass e.g. timeout=30, or leave it out for no time limit"
        )
        raise ArgumentError(msg)
    if max_failures is not None and not _is_count(max_failures, 1):
        msg = (
            f"max_failures must be a positive int, got {max_failures!r}; pass e.g. "
            "max_failures=10 to stop after 10 failed items, or leave it out to run every item"
        )
        raise ArgumentError(msg)
    if rate is not None and (not _is_number(rate) or rate <= 0):  # type: ignore[operator]
        msg = (
            f"rate must be a number of item starts per second > 0, got {rate!r}; pass e.g. "
            "rate=10 for at most 10 calls a second, rate=0.5 for one every 2 s, or leave it "
            "out for no limit"
        )
        raise ArgumentError(msg)
    return Limits(
        retries=retries,
        retry_on=classes,
        backoff=float(backoff),  # type: ignore[arg-type]  # checked above
        timeout=float(timeout) if timeout is not None else None,  # type: ignore[arg-type]
        max_failures=max_failures,
        rate=float(rate) if rate is not None else None,  # type: ignore[arg-type]  # checked
    )


@final
@dataclass(frozen=True, slots=True)
class Tracking:
    """What a run shows and remembers as it goes: a progress bar, a checkpoint journal."""

    progress: bool = False
    checkpoint: Path | None = None
    key: Callable[[Any], object] | None = None


def make_tracking(*, progress: object, checkpoint: object, key: object) -> Tracking:
    """Check the progress and checkpoint options; raise `ArgumentError` on a bad one."""
    if not isinstance(progress, bool):
        msg = (
            f"progress must be True or False, got {type(progress).__qualname__} {progress!r}; "
            "pass progress=True for a progress bar"
        )
        raise ArgumentError(msg)
    if checkpoint is not None and not isinstance(checkpoint, str | os.PathLike):
        msg = (
            f"checkpoint must be a path (str or pathlib.Path), got "
            f"{type(checkpoint).__qualname__} {checkpoint!r}; pass e.g. checkpoint='run.db'"
        )
        raise ArgumentError(msg)
    if key is not None and not callable(key):
        msg = (
            f"key must be a function of one item, got {type(key).__qualname__} {key!r}; "
            "pass e.g. key=lambda item: item['id']"
        )
        raise ArgumentError(msg)
    if key is not None and checkpoint is None:
        msg = (
            "key= gives items their identity in a checkpoint journal, and no checkpoint= was "
            "given; pass checkpoint='run.db' as well, or leave out key="
        )
        raise ArgumentError(msg)
    path = Path(os.fsdecode(checkpoint)) if checkpoint is not None else None
    return Tracking(progress=progress, checkpoint=path, key=key)
