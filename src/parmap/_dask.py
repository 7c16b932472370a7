"""The Dask backend: batches run as tasks on the caller's ``distributed.Client``.

::

    parent: DaskBackend.submit(items)
              │ cloudpickle (token, job, items)     fn travels with each batch,
              ▼                                     unpickled once per worker process
    client.submit(run_shipped_batch, payload, pure=False)
              │ the scheduler picks a worker ──▶ worker: _worker.run_shipped_batch
              │                                     run each item, catch each failure
    concurrent Future (ClientExecutor) ◀────────────┘ bytes
    parent: _worker.unpack(bytes)

Dask's ``ClientExecutor`` turns each Dask future into a
`concurrent.futures.Future` that the dispatcher can wait on; cancelling it
cancels the Dask task. When a worker dies, Dask itself runs its tasks again
elsewhere; it gives up on a task whose workers died
``distributed.scheduler.allowed-failures + 1`` times, with ``KilledWorker``.
A batch that ends that way is split: each of its items is sent again on its
own, so that only the item that kills workers is recorded (as
`WorkerDiedError`) and every other item runs.

This module is imported only when a Client is passed, so ``import parmap``
never imports Dask.
"""

from __future__ import annotations

import contextlib
import functools
import threading
import uuid
from concurrent.futures import CancelledError, Future, InvalidStateError
from dataclasses import dataclass
from typing import TYPE_CHECKING

import cloudpickle
from distributed.scheduler import KilledWorker

from . import _worker
from ._batching import DASK_TARGET
from ._errors import UnpicklableFunctionError, WorkerDiedError
from ._processes import _pickle_function, _placeholders

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from concurrent.futures import Executor

    from distributed import Client

__all__ = ["DaskBackend", "cluster_threads"]


def cluster_threads(client: Client) -> int:
    """The threads of the cluster's workers now (at least 1: a cluster may still be starting)."""
    threads: dict[str, int] = client.nthreads()  # type: ignore[no-untyped-call]
    return max(1, sum(threads.values()))


class DaskBackend:
    """Batches run as Dask tasks on the caller's cluster; the client is never closed.

    `fn` and its retry policy are pickled once per run and travel with each
    batch (a worker unpickles them once); items and results travel as bytes
    packed by `_worker`, so each item fails or succeeds on its own exactly as
    in parmap's own worker processes. Each task gets a unique key, so equal
    batches are never merged by Dask.
    """

    def __init__(
        self,
        fn: Callable[[object], object],
        client: Client,
        policy: _worker.Policy | None = None,
    ) -> None:
        """Pickle `fn` (failing early if it cannot be) and wrap `client` in an executor."""
        try:
            self._job = _pickle_function(_worker.Job(fn, policy))
        except UnpicklableFunctionError as exc:
            msg = (
                f"fn {fn!r} cannot be sent to the Dask cluster's workers: {exc.__cause__}. "
                "Keep objects such as locks, open files and connections out of what fn "
                "refers to (create them inside fn instead)"
            )
            raise UnpicklableFunctionError(msg) from exc.__cause__
        self._token = uuid.uuid4().hex
        self._executor: Executor = client.get_executor(pure=False)  # type: ignore[no-untyped-call]
        self.sent_bytes = 0
        self.batch_target = DASK_TARGET
        where = getattr(client.scheduler, "address", None)
        self.description = f"dask ×{cluster_threads(client)}" + (f" at {where}" if where else "")
        self._lock = threading.Lock()
        self._pending: set[_Batch] = set()

    def submit(
        self, items: Sequence[object], prior: dict[int, int] | None = None
    ) -> Future[object]:
        """Send one batch to the cluster as one task."""
        payload = self.payload(items, prior)
        self.sent_bytes = len(payload)
        batch = _Batch(self, items, prior)
        with self._lock:
            self._pending.add(batch)
        batch.start(payload)
        return batch.outer

    def send(self, payload: bytes) -> Future[object]:
        """Start one task running `payload` (its result: bytes for `_worker.unpack`)."""
        return self._executor.submit(_worker.run_shipped_batch, payload)

    def payload(self, items: Sequence[object], prior: dict[int, int] | None) -> bytes:
        """The bytes of a task running `items`; an item that cannot be pickled fails alone."""
        head = (self._token, self._job)
        try:
            data: bytes = cloudpickle.dumps((*head, items, False, -1, prior or {}))
        except Exception:  # noqa: BLE001 - find the culprits and send placeholders
            data = cloudpickle.dumps((*head, _placeholders(items), True, -1, prior or {}))
        return data

    def done(self, batch: _Batch) -> None:
        """Forget a batch whose future is settled."""
        with self._lock:
            self._pending.discard(batch)

    def unpack(self, raw: object) -> _worker.BatchResult:
        """Turn a task's bytes (or a split batch's pieces) back into a batch result."""
        if isinstance(raw, _Pieces):
            return raw.assemble()
        assert isinstance(raw, bytes)  # noqa: S101 - our own invariant
        return _worker.unpack(raw)

    def replace(self) -> bool:
        """Dask replaces lost workers itself; there is no pool of parmap's own to restart."""
        return False

    def stalled(self) -> bool:
        """Dask answers for its tasks: a lost worker's tasks run again, or fail."""
        return False

    def close(self, *, cancel: bool) -> None:
        """Leave the client open; when cancelling, cancel the tasks not yet finished.

        Dask cannot stop a task that is already running: it runs to its end on
        its worker, and its result is dropped.
        """
        if not cancel:
            return
        with self._lock:
            pending = list(self._pending)
            self._pending.clear()
        for batch in pending:
            batch.cancel()


@dataclass(slots=True)
class _Pieces:
    """A split batch's outcome: per item, a task's bytes or the exception its task ended with."""

    pieces: list[bytes | BaseException]

    def assemble(self) -> _worker.BatchResult:
        """One batch result from one-item results; a lost item fails with `WorkerDiedError`."""
        values: list[object] = []
        failures: list[_worker.Failure] = []
        seconds = 0.0
        for position, piece in enumerate(self.pieces):
            if isinstance(piece, bytes):
                part = _worker.unpack(piece)
                seconds += part.seconds
                if part.fatal is not None:  # stopped: keep only what is accounted for
                    return _worker.BatchResult(values, failures, seconds, part.fatal)
                values.append(part.values[0] if part.values else None)
                for failure in part.failures:
                    failure.position = position
                    failures.append(failure)
            else:
                values.append(None)
                error = _died(piece) if isinstance(piece, KilledWorker) else piece
                failures.append(_worker.describe(position, _as_exception(error)))
        return _worker.BatchResult(values, failures, seconds)


def _as_exception(error: BaseException) -> Exception:
    if isinstance(error, Exception):
        return error
    wrapped = RuntimeError(f"the task of this item ended with {type(error).__name__}: {error}")
    wrapped.__cause__ = error
    return wrapped


def _died(killed: KilledWorker) -> WorkerDiedError:
    tries = getattr(killed, "allowed_failures", None)
    times = f"{tries + 1} workers" if isinstance(tries, int) else "several workers"
    error = WorkerDiedError(
        f"every Dask worker that ran this item died while running it ({times}, the limit "
        "set by distributed.scheduler.allowed-failures); Dask replaced them and the run went "
        "on. If this item always does it, it crashes the interpreter or runs out of memory "
        "(an extension module's fault, os._exit): run it alone to see"
    )
    error.__cause__ = killed
    return error


class _Batch:
    """One batch on the cluster: the future the dispatcher waits on, and the tasks behind it.

    Normally one task runs the whole batch. If Dask gives up on it with
    ``KilledWorker``, each item is sent again as a task of its own; `outer`
    is settled once all of them are, with their `_Pieces`.
    """

    def __init__(
        self, backend: DaskBackend, items: Sequence[object], prior: dict[int, int] | None
    ) -> None:
        self._backend = backend
        self._items = items
        self._prior = prior or {}
        self.outer: Future[object] = Future()
        self._lock = threading.Lock()
        self._tasks: list[Future[object]] = []
        self._pieces: list[bytes | BaseException | None] = []
        self._left = 0
        self._closed = False
        self.outer.add_done_callback(self._settled)

    def start(self, payload: bytes) -> None:
        """Send the whole batch as one task."""
        task = self._backend.send(payload)
        if self._track(task):
            task.add_done_callback(self._whole_done)

    def cancel(self) -> None:
        """Cancel the batch and every task of it not yet finished."""
        self.outer.cancel()

    def _track(self, task: Future[object]) -> bool:
        """Keep `task` until the batch is settled; cancel it if the batch was cancelled already."""
        with self._lock:
            if not self._closed:
                self._tasks.append(task)
                return True
        task.cancel()
        return False

    def _settled(self, outer: Future[object]) -> None:
        """The dispatcher has the outcome (or cancelled the batch): let go of the tasks.

        Dropping the last reference to a Dask future releases its result on
        the worker at once; a result kept there would be computed again if
        that worker died later.
        """
        with self._lock:
            self._closed = True
            tasks, self._tasks = self._tasks, []
        if outer.cancelled():
            for task in tasks:
                task.cancel()
        self._backend.done(self)

    def _whole_done(self, task: Future[object]) -> None:
        if self.outer.done():
            return
        if task.cancelled():
            self._settle(error=CancelledError())
            return
        exc = task.exception()
        if isinstance(exc, KilledWorker):
            if len(self._items) == 1:
                self._settle(result=_Pieces([exc]))
            else:
                self._split()
            return
        if exc is not None:
            self._settle(error=exc)
        else:
            self._settle(result=task.result())

    def _split(self) -> None:
        """Send each item again as a task of its own (Dask gave up on the whole batch)."""
        count = len(self._items)
        with self._lock:
            self._pieces = [None] * count
            self._left = count
        for position, item in enumerate(self._items):
            prior = {0: self._prior[position]} if position in self._prior else None
            try:
                task = self._backend.send(self._backend.payload([item], prior))
            except Exception as exc:  # noqa: BLE001 - e.g. the client was closed meanwhile
                self._piece_done(position, exc)
                continue
            if not self._track(task):
                return
            task.add_done_callback(functools.partial(self._task_done, position))

    def _task_done(self, position: int, task: Future[object]) -> None:
        with self._lock:  # its result is here now: release it on the worker (see `_settled`)
            if task in self._tasks:
                self._tasks.remove(task)
        if task.cancelled():
            self._piece_done(position, CancelledError())
            return
        exc = task.exception()
        self._piece_done(position, exc if exc is not None else task.result())

    def _piece_done(self, position: int, piece: object) -> None:
        with self._lock:
            if not isinstance(piece, bytes | BaseException):
                piece = TypeError(f"a task returned {type(piece).__name__}, not bytes")
            self._pieces[position] = piece
            self._left -= 1
            finished = self._left == 0
        if finished:
            pieces = [piece for piece in self._pieces if piece is not None]
            self._settle(result=_Pieces(pieces))

    def _settle(self, *, result: object = None, error: BaseException | None = None) -> None:
        """Hand the outcome to the dispatcher, unless it cancelled the batch meanwhile."""
        with contextlib.suppress(InvalidStateError):
            if error is not None:
                self.outer.set_exception(error)
            else:
                self.outer.set_result(result)
