"""The process backend: a ProcessPoolExecutor on a clean-start context, and what it lacks.

::

    parent: ProcessBackend.submit(items)
              │ cloudpickle (token, items)          fn travels once, in the initializer
              ▼
    ProcessPoolExecutor call queue ──▶ worker: _worker.run_shipped_batch
                                            │ run each item, catch each failure,
                                            │ pickle each result on its own
    parent: _worker.unpack(bytes) ◀─────────┘

Added to ProcessPoolExecutor: `kill_workers` (stop a run at once, even with
every worker busy; Python 3.14 has this built in) and ``replace`` (a fresh
pool after a worker died).
"""

from __future__ import annotations

import os
import threading
import uuid
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from typing import TYPE_CHECKING

import cloudpickle

from . import _worker
from ._backends import describe_executor
from ._context import clean_context
from ._errors import UnpicklableFunctionError

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

__all__ = ["ProcessBackend"]

#: Seconds to wait for killed worker processes to be reaped.
_REAP_TIMEOUT = 5.0


class _ProcessPool(ProcessPoolExecutor):
    """A ProcessPoolExecutor that can also kill its workers at once."""

    def kill_workers(self) -> None:
        """Cancel pending work and kill every worker process, then reap them."""
        processes = dict(self._processes or {})
        thread = getattr(self, "_executor_manager_thread", None)  # shutdown() forgets it
        self.shutdown(wait=False, cancel_futures=True)
        for proc in processes.values():
            try:
                proc.kill()
            except (ProcessLookupError, ValueError):  # already gone, or already closed
                continue
        for proc in processes.values():
            try:
                proc.join(_REAP_TIMEOUT)
            except (AssertionError, ValueError):  # pragma: no cover - closed process object
                continue
        if isinstance(thread, threading.Thread):
            thread.join(_REAP_TIMEOUT)


class ProcessBackend:
    """Batches run in worker processes; `fn`, items and results travel by cloudpickle.

    In parmap's own pool `fn` is pickled once per run and unpickled once per
    worker (in the pool's initializer). With a caller's executor it travels
    with each batch and is unpickled once per worker.
    """

    def __init__(
        self,
        fn: Callable[[object], object],
        workers: int,
        executor: Executor | None = None,
        policy: _worker.Policy | None = None,
    ) -> None:
        """Pickle `fn` (failing early if it cannot be) and start the pool, or adopt `executor`."""
        self._token = uuid.uuid4().hex
        self._fn_bytes = _pickle_function(_worker.Job(fn, policy))
        self._workers = workers
        self._owned = executor is None
        self._executor: Executor
        if executor is None:
            self._executor = self._start()
            self._shipped: bytes | None = None
            self.description = f"processes ×{workers}"
        else:
            self._executor = executor
            self._shipped = self._fn_bytes
            self.description = describe_executor(executor)

    def _start(self) -> _ProcessPool:
        return _ProcessPool(
            self._workers,
            mp_context=clean_context(),
            initializer=_worker.install,
            initargs=(self._token, self._fn_bytes, dict(os.environ)),
        )

    def submit(self, items: Sequence[object]) -> Future[object]:
        """Send one batch to a worker process; items that cannot be pickled fail on their own."""
        try:
            payload = cloudpickle.dumps((self._token, self._shipped, items, False))
        except Exception:  # noqa: BLE001 - find the culprits and send placeholders
            payload = cloudpickle.dumps((self._token, self._shipped, _placeholders(items), True))
        return self._executor.submit(_worker.run_shipped_batch, payload)

    def unpack(self, raw: object) -> _worker.BatchResult:
        """Turn a worker's bytes back into a batch result."""
        assert isinstance(raw, bytes)  # noqa: S101 - our own invariant
        return _worker.unpack(raw)

    def replace(self) -> bool:
        """Start a fresh pool after a worker died (only for a pool of our own)."""
        if not self._owned:
            return False
        assert isinstance(self._executor, _ProcessPool)  # noqa: S101 - we made it
        self._executor.kill_workers()
        self._executor = self._start()
        return True

    def close(self, *, cancel: bool) -> None:
        """Shut the pool down; when cancelling, kill the worker processes at once."""
        if not self._owned:
            return
        assert isinstance(self._executor, _ProcessPool)  # noqa: S101 - we made it
        if cancel:
            self._executor.kill_workers()
        else:
            self._executor.shutdown(wait=True)


def _placeholders(items: Sequence[object]) -> list[object]:
    """`items`, with each one that cannot be pickled replaced by a `NotSent` saying why."""
    sendable: list[object] = []
    for item in items:
        try:
            cloudpickle.dumps(item)
        except Exception as exc:  # noqa: BLE001 - that item's failure, with the reason
            message = (
                f"this item could not be pickled to send it to a worker process: "
                f"{type(exc).__name__}: {exc}; pass plain data (numbers, strings, lists, "
                "dicts, dataclasses), or use kind='io', where nothing is pickled"
            )
            sendable.append(_worker.NotSent(message))
        else:
            sendable.append(item)
    return sendable


def _pickle_function(job: _worker.Job) -> bytes:
    try:
        return cloudpickle.dumps(job)  # type: ignore[no-any-return]
    except Exception as exc:
        msg = (
            f"fn {job.fn!r} cannot be sent to worker processes: {type(exc).__name__}: {exc}. "
            "Use kind='io' to run it on threads (nothing is pickled), or keep objects "
            "such as locks, open files and connections out of what fn refers to "
            "(create them inside fn instead)"
        )
        raise UnpicklableFunctionError(msg) from exc
