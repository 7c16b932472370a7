"""The process backend: a ProcessPoolExecutor on a clean-start context, and what it lacks.

::

    parent: ProcessBackend.submit(items)
              │ cloudpickle (shipment, items)      fn travels until every worker has it
              ▼
    ProcessPoolExecutor call queue ──▶ worker: run_shipped_batch
                                            │ run each item, catch each failure,
                                            │ pickle each result on its own
    parent: unpack_result(bytes) ◀─────────┘

The pool (`_pool.ProcessPool`) extends ProcessPoolExecutor: a worker that
dies running an item costs that item only, a hung item's worker is killed
for its timeout, and `kill_workers` stops a run at once. ``replace`` starts a
fresh pool after the stock kind of breakage. Pools are warm (`_warm`): a run
borrows one that an earlier run left idle, and gives it back at its end.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import sys
from typing import TYPE_CHECKING

import cloudpickle

from . import _warm
from ._backends import describe_executor
from ._batching import PROCESS_TARGET
from ._errors import UnpicklableFunctionError
from ._pool import ProcessPool
from ._worker import pickling
from ._worker.process import Job, Shipment, run_shipped_batch
from ._worker.transport import NotSent, unpack_result

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from concurrent.futures import Executor, Future

    from ._worker.batch import Policy
    from ._worker.records import BatchResult

__all__ = ["ProcessBackend", "batch_payload"]


class ProcessBackend:
    """Batches run in worker processes; `fn`, items and results travel by cloudpickle.

    `fn` (with the retry policy) is pickled once per run. In parmap's own pool
    it travels with the first batches only, until every worker has stamped
    its slot with the run's shipment (workers started during the run take it
    in their initializer), and each worker unpickles it once, or not at all
    when an earlier call shipped the same bytes. With a caller's executor it
    travels with each batch and is unpickled once per worker.
    """

    def __init__(
        self,
        fn: Callable[[object], object],
        workers: int,
        executor: Executor | None = None,
        policy: Policy | None = None,
        timeout: float | None = None,
    ) -> None:
        """Pickle `fn` (failing early if it cannot be) and borrow a pool, or adopt `executor`."""
        job_bytes = _pickle_function(Job(fn, policy))
        token = hashlib.blake2b(job_bytes, digest_size=16).hexdigest()
        #: Names the function and its policy: what `_batching.remember` keys on.
        self.job_key = token
        self._timeout = timeout
        self.sent_bytes = 0
        self.batch_target = PROCESS_TARGET
        self._workers = workers
        self._owned = executor is None
        self._executor: Executor
        self._confirmed = False  # every worker of the pool has the shipment
        if executor is None:
            environ = dict(os.environ)
            place = (os.getcwd(), list(sys.path))  # noqa: PTH109 - a str, like sys.path
            stamp = _stamp(job_bytes, environ, place)
            self._shipment = Shipment(token, job_bytes, environ, stamp, place)
            self._light = Shipment(token, None, None, stamp)
            self._executor = self._borrow(_warm.lease(workers))
            self.description = f"processes ×{workers}"
        else:
            self._shipment = self._light = Shipment(token, job_bytes, None, 0)
            self._executor = executor
            self.description = describe_executor(executor)

    def _borrow(self, pool: ProcessPool) -> ProcessPool:
        pool.begin(self._shipment, self._timeout)
        self._confirmed = False
        return pool

    def _head(self) -> Shipment:
        """The shipment to send with the next batch: in full, until every worker has it."""
        if not self._confirmed and isinstance(self._executor, ProcessPool):
            self._confirmed = self._executor.stamped(self._shipment.stamp)
        return self._light if self._confirmed else self._shipment

    def submit(
        self, items: Sequence[object], prior: dict[int, int] | None = None
    ) -> Future[object]:
        """Send one batch to a worker process; items that cannot be pickled fail on their own.

        Each batch gets a number, passed beside the payload, by which the
        pool finds the batch a dead worker was running. `prior` counts
        attempts already lost to a timeout, by position.
        """
        executor = self._executor
        batch = next(executor.batch_numbers) if isinstance(executor, ProcessPool) else -1
        payload = batch_payload(self._head(), items, batch, prior)
        self.sent_bytes = len(payload)
        return executor.submit(run_shipped_batch, payload, batch)

    def unpack(self, raw: object) -> BatchResult:
        """Turn a worker's bytes back into a batch result."""
        assert isinstance(raw, bytes)  # noqa: S101 - our own invariant
        return unpack_result(raw)

    def replace(self) -> bool:
        """Start a fresh pool after a worker died (only for a pool of our own)."""
        if not self._owned:
            return False
        assert isinstance(self._executor, ProcessPool)  # noqa: S101 - we made it
        self._executor.kill_workers()
        self._executor = self._borrow(_warm.start(self._workers))
        return True

    def stalled(self) -> bool:
        """Whether parmap's own pool stopped answering (a caller's executor is its own business)."""
        return isinstance(self._executor, ProcessPool) and self._executor.stalled()

    def close(self, *, cancel: bool) -> None:
        """Give the pool back for the next run; when cancelling, kill its workers at once."""
        if not self._owned:
            return
        assert isinstance(self._executor, ProcessPool)  # noqa: S101 - we made it
        if cancel:
            self._executor.kill_workers()
        else:
            self._executor.end()
            _warm.give_back(self._executor)


def _stamp(job_bytes: bytes, environ: dict[str, str], place: tuple[str, list[str]]) -> int:
    """A non-zero 63-bit name for a shipment: the job's bytes, environment and place."""
    digest = hashlib.blake2b(job_bytes, digest_size=8)
    digest.update(pickle.dumps((sorted(environ.items()), place)))
    return int.from_bytes(digest.digest(), "little") >> 1 or 1


def batch_payload(
    shipment: Shipment,
    items: Sequence[object],
    batch: int,
    prior: dict[int, int] | None,
) -> bytes:
    """The bytes `run_shipped_batch` runs; an item that cannot be pickled fails alone."""
    try:
        payload: bytes = cloudpickle.dumps((shipment, items, False, batch, prior or {}))
    except Exception:  # noqa: BLE001 - find the culprits and send placeholders
        payload = cloudpickle.dumps((shipment, _placeholders(items), True, batch, prior or {}))
    return payload


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
            sendable.append(NotSent(message))
        else:
            sendable.append(item)
    return sendable


def _pickle_function(job: Job) -> bytes:
    try:
        return pickling.dumps(job)
    except Exception as exc:
        msg = (
            f"fn {job.fn!r} cannot be sent to worker processes: {type(exc).__name__}: {exc}. "
            "Use kind='io' to run it on threads (nothing is pickled), or keep objects "
            "such as locks, open files and connections out of what fn refers to "
            "(create them inside fn instead)"
        )
        raise UnpicklableFunctionError(msg) from exc
