"""The process backend: a ProcessPoolExecutor on a clean-start context, and what it lacks.

::

    parent: ProcessBackend.submit(items)
              │ cloudpickle (token, items)          fn travels once, in the initializer
              ▼
    ProcessPoolExecutor call queue ──▶ worker: _worker.run_shipped_batch
                                            │ run each item, catch each failure,
                                            │ pickle each result on its own
    parent: _worker.unpack(bytes) ◀─────────┘

The pool (`_pool.ProcessPool`) extends ProcessPoolExecutor: a worker that
dies running an item costs that item only, a hung item's worker is killed
for its timeout, and `kill_workers` stops a run at once. ``replace`` starts a
fresh pool after the stock kind of breakage.
"""

from __future__ import annotations

import itertools
import os
import uuid
from typing import TYPE_CHECKING

import cloudpickle

from . import _worker
from ._backends import describe_executor
from ._batching import PROCESS_TARGET
from ._errors import UnpicklableFunctionError
from ._pool import ProcessPool

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from concurrent.futures import Executor, Future

__all__ = ["ProcessBackend"]


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
        timeout: float | None = None,
    ) -> None:
        """Pickle `fn` (failing early if it cannot be) and start the pool, or adopt `executor`."""
        self._token = uuid.uuid4().hex
        self._timeout = timeout
        self._numbers = itertools.count()
        self.sent_bytes = 0
        self.batch_target = PROCESS_TARGET
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

    def _start(self) -> ProcessPool:
        return ProcessPool(
            self._workers,
            initializer=_worker.install,
            initargs=(self._token, self._fn_bytes, dict(os.environ)),
            timeout=self._timeout,
        )

    def submit(
        self, items: Sequence[object], prior: dict[int, int] | None = None
    ) -> Future[object]:
        """Send one batch to a worker process; items that cannot be pickled fail on their own.

        Each batch gets a number, passed beside the payload, by which the
        pool finds the batch a dead worker was running. `prior` counts
        attempts already lost to a timeout, by position.
        """
        batch = next(self._numbers)
        head = (self._token, self._shipped)
        try:
            payload = cloudpickle.dumps((*head, items, False, batch, prior or {}))
        except Exception:  # noqa: BLE001 - find the culprits and send placeholders
            payload = cloudpickle.dumps((*head, _placeholders(items), True, batch, prior or {}))
        self.sent_bytes = len(payload)
        return self._executor.submit(_worker.run_shipped_batch, payload, batch)

    def unpack(self, raw: object) -> _worker.BatchResult:
        """Turn a worker's bytes back into a batch result."""
        assert isinstance(raw, bytes)  # noqa: S101 - our own invariant
        return _worker.unpack(raw)

    def replace(self) -> bool:
        """Start a fresh pool after a worker died (only for a pool of our own)."""
        if not self._owned:
            return False
        assert isinstance(self._executor, ProcessPool)  # noqa: S101 - we made it
        self._executor.kill_workers()
        self._executor = self._start()
        return True

    def stalled(self) -> bool:
        """Whether parmap's own pool stopped answering (a caller's executor is its own business)."""
        return isinstance(self._executor, ProcessPool) and self._executor.stalled()

    def close(self, *, cancel: bool) -> None:
        """Shut the pool down; when cancelling, kill the worker processes at once."""
        if not self._owned:
            return
        assert isinstance(self._executor, ProcessPool)  # noqa: S101 - we made it
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
