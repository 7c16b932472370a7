"""The process backend: a ProcessPoolExecutor on a clean-start context, and what it lacks.

::

    parent: ProcessBackend.submit(items)
              │ cloudpickle (shipment, items)      fn travels until every worker has it
              ▼
    ProcessPoolExecutor call queue ──▶ worker: run_shipped_batch
                                            │ run each item, catch each failure,
                                            │ pickle each result on its own
    parent: unpack_result(bytes) ◀──────────┘

The pool (`pool.ProcessPool`) extends ProcessPoolExecutor: a worker that
dies running an item costs that item only, a hung item's worker is killed
for its timeout, and `kill_workers` stops a run at once. ``replace`` starts a
fresh pool after the stock kind of breakage. Pools are warm (`warm`): a run
borrows one that an earlier run left idle, and gives it back at its end.
"""

from __future__ import annotations

import os
import pickle
import sys
from typing import TYPE_CHECKING

# blake2b from its own module: `import hashlib` would also load OpenSSL's libcrypto (~4 MB
# of resident memory in the calling process) for a hash that never comes from OpenSSL
try:
    from _blake2 import blake2b
except ImportError:  # an interpreter without CPython's _blake2
    from hashlib import blake2b

from parmap._worker.process import Job, Shipment, run_shipped_batch
from parmap._worker.transport import unpack_result

from . import warm
from .base import WINDOW_ITEMS, describe_executor
from .pool import ProcessPool
from .shipping import batch_payload, pickle_job

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from concurrent.futures import Executor, Future

    from parmap._worker.batch import Policy
    from parmap._worker.records import BatchResult

__all__ = ["PROCESS_TARGET", "ProcessBackend"]

#: Seconds of work a batch sent to a worker process should hold: a process task costs
#: ~0.2 ms, so this keeps overhead near 1% while batches stay short enough to spread out.
PROCESS_TARGET = 0.05


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
        job_bytes = pickle_job(Job(fn, policy))
        token = blake2b(job_bytes, digest_size=16).hexdigest()
        #: Names the function and its policy: what `parmap._run.batching.remember` keys on.
        self.job_key = token
        self._timeout = timeout
        self.sent_bytes = 0
        self.batch_target = PROCESS_TARGET
        self.window_items = WINDOW_ITEMS
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
            self._executor = self._borrow(warm.lease(workers))
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
        self._executor = self._borrow(warm.start(self._workers))
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
            warm.give_back(self._executor)


def _stamp(job_bytes: bytes, environ: dict[str, str], place: tuple[str, list[str]]) -> int:
    """A non-zero 63-bit name for a shipment: the job's bytes, environment and place."""
    digest = blake2b(job_bytes, digest_size=8)
    digest.update(pickle.dumps((sorted(environ.items()), place)))
    return int.from_bytes(digest.digest(), "little") >> 1 or 1
