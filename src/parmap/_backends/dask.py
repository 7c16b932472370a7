"""The Dask backend: batches run as tasks on the caller's ``distributed.Client``.

::

    parent: DaskBackend.submit(items)
              │ cloudpickle (token, job, items)     fn travels with each batch,
              ▼                                     unpickled once per worker process
    client.submit(run_shipped_batch, payload, pure=False)
              │ the scheduler picks a worker ──▶ worker: run_shipped_batch
              │                                     run each item, catch each failure
    concurrent Future (bridged) ◀──────────────────┘ bytes
    parent: unpack_result(bytes)

Each Dask future is bridged to a `concurrent.futures.Future` that the
dispatcher can wait on, its result fetched on the client's event loop (so
results of many tasks are fetched at once); cancelling the bridge cancels the
Dask task. (Dask's own ``ClientExecutor`` does this too, but leaves its
future unsettled for ever when fetching a result fails after a worker died.)

When a worker dies, Dask itself runs its tasks again elsewhere; it gives up
on a task whose workers died ``distributed.scheduler.allowed-failures + 1``
times, with ``KilledWorker``.
That blames every task that was on the workers as they died, innocent ones
queued behind the culprit included. So the items of a batch that ends that
way are run again, each alone and one at a time: only the item that kills
workers is then recorded (as `WorkerDiedError`), and every other item runs.

This module is imported only when a Client is passed, so ``import parmap``
never imports Dask.
"""

from __future__ import annotations

import collections
import contextlib
import functools
import threading
import time
import uuid
from concurrent.futures import BrokenExecutor, CancelledError, Future, InvalidStateError
from dataclasses import dataclass
from typing import TYPE_CHECKING

from distributed.scheduler import KilledWorker

from parmap._errors import UnpicklableFunctionError, WorkerDiedError
from parmap._worker.process import Job, Shipment, run_shipped_batch
from parmap._worker.records import BatchResult, Failure, describe
from parmap._worker.timing import Measured, Timings
from parmap._worker.transport import unpack_result

from .base import WINDOW_ITEMS
from .shipping import batch_payload, pickle_job

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence

    from distributed import Client
    from distributed import Future as DaskFuture

    from parmap._worker.batch import Policy

__all__ = ["DASK_TARGET", "NO_WORKERS_GRACE", "DaskBackend", "cluster_threads"]

#: A Dask task costs ~1 ms of scheduler time, and Dask's own advice is tasks of
#: 100 ms or more: so a batch on a Dask cluster holds ~100 ms of work.
DASK_TARGET = 0.1

#: Seconds a run waits while the cluster has no workers at all before it gives up.
#: Long enough for a cluster to start its first workers; a cluster whose workers
#: all failed to restart never gets them back, and must not keep a run waiting for ever.
NO_WORKERS_GRACE = 120.0


def cluster_threads(client: Client) -> int:
    """The threads of the cluster's workers now (at least 1: a cluster may still be starting)."""
    threads: dict[str, int] = client.nthreads()  # type: ignore[no-untyped-call]
    return max(1, sum(threads.values()))


class DaskBackend:
    """Batches run as Dask tasks on the caller's cluster; the client is never closed.

    `fn` and its retry policy are pickled once per run and travel with each
    batch (a worker unpickles them once); items and results travel as bytes
    packed by `parmap._worker`, so each item fails or succeeds on its own exactly as
    in parmap's own worker processes. Each task gets a unique key, so equal
    batches are never merged by Dask.
    """

    def __init__(
        self,
        fn: Callable[[object], object],
        client: Client,
        policy: Policy | None = None,
    ) -> None:
        """Pickle `fn` (failing early if it cannot be); batches will run on `client`."""
        try:
            self._job = pickle_job(Job(fn, policy))
        except UnpicklableFunctionError as exc:
            msg = (
                f"fn {fn!r} cannot be sent to the Dask cluster's workers: {exc.__cause__}. "
                "Keep objects such as locks, open files and connections out of what fn "
                "refers to (create them inside fn instead)"
            )
            raise UnpicklableFunctionError(msg) from exc.__cause__
        self._token = uuid.uuid4().hex
        self.sent_bytes = 0
        self.batch_target = DASK_TARGET
        self.window_items = WINDOW_ITEMS
        self._client = client
        self._where = getattr(client.scheduler, "address", None) or "?"
        self.description = f"dask ×{cluster_threads(client)} at {self._where}"
        self._no_workers_since: float | None = None
        self._broken = False
        self._lock = threading.Lock()
        self._pending: set[_Batch] = set()
        self._suspects: collections.deque[tuple[_Batch, int]] = collections.deque()
        self._testing = False

    def submit(
        self, items: Sequence[object], prior: dict[int, int] | None = None
    ) -> Future[object]:
        """Send one batch to the cluster as one task.

        Raises:
            BrokenExecutor: The cluster has had no workers for too long (see `stalled`).
        """
        if self._broken:
            msg = (
                f"the Dask cluster at {self._where} has had no workers for "
                f"{NO_WORKERS_GRACE:g} s, so its tasks cannot run; start or scale up its "
                "workers (e.g. cluster.scale(4)), then run again"
            )
            raise BrokenExecutor(msg)
        payload = self.payload(items, prior)
        self.sent_bytes = len(payload)
        batch = _Batch(self, items, prior)
        with self._lock:
            self._pending.add(batch)
        batch.start(payload)
        return batch.outer

    def send(self, payload: bytes, priority: int = 0) -> Future[object]:
        """Start one task running `payload`; its future's result is bytes for `unpack_result`.

        The Dask future is bridged to a `concurrent.futures.Future`, which the
        dispatcher can wait on; cancelling that one cancels the Dask task.
        """
        task: DaskFuture[bytes] = self._client.submit(
            run_shipped_batch, payload, pure=False, priority=priority
        )
        bridge: Future[object] = Future()
        bridge.add_done_callback(functools.partial(_cancel_task, task))
        loop = self._client.loop
        assert loop is not None  # noqa: S101 - a synchronous client runs its own loop
        loop.add_callback(_fetch, self._client, task, bridge)
        return bridge

    def payload(self, items: Sequence[object], prior: dict[int, int] | None) -> bytes:
        """The bytes of a task running `items`; an item that cannot be pickled fails alone."""
        head = Shipment(self._token, self._job, None, 0)  # the workers' own environ
        return batch_payload(head, items, -1, prior)

    def suspect(self, batch: _Batch, positions: Iterable[int]) -> None:
        """Run these items of `batch` again, each alone, one at a time: Dask gave up on their task.

        ``KilledWorker`` blames every task that was on a worker each time one
        died, so it also falls on tasks queued behind the one that kills
        workers. Run alone, an innocent item succeeds, and the culprit fails
        alone. Suspects go first on their worker (priority 1): one queued
        behind a running culprit runs before it once both are moved to a new
        worker, so it is not blamed again and again. Ordinary tasks queued
        behind a suspect that kills may be blamed with it; they then become
        suspects in turn, and run.
        """
        with self._lock:
            self._suspects.extend((batch, position) for position in positions)
        self._test_next()

    def _test_next(self, *, finished: bool = False) -> None:
        """Start the next suspect, unless one is running (`finished`: the running one ended)."""
        while True:
            with self._lock:
                if finished:
                    self._testing = finished = False
                if self._testing:
                    return
                while self._suspects and self._suspects[0][0].closed:
                    self._suspects.popleft()
                if not self._suspects:
                    return
                batch, position = self._suspects.popleft()
                self._testing = True
            try:
                task = self.send(batch.payload(position), priority=1)
            except Exception as exc:  # noqa: BLE001 - e.g. the client was closed meanwhile
                with self._lock:
                    self._testing = False
                batch.piece_done(position, exc)
                continue
            batch.track(task)
            task.add_done_callback(functools.partial(self._tested, batch, position))
            return

    def _tested(self, batch: _Batch, position: int, task: Future[object]) -> None:
        batch.piece_done(position, task)
        self._test_next(finished=True)

    def done(self, batch: _Batch) -> None:
        """Forget a batch whose future is settled."""
        with self._lock:
            self._pending.discard(batch)

    def unpack(self, raw: object) -> BatchResult:
        """Turn a task's bytes (or a split batch's pieces) back into a batch result."""
        if isinstance(raw, _Pieces):
            return raw.assemble()
        assert isinstance(raw, bytes)  # noqa: S101 - our own invariant
        return unpack_result(raw)

    def replace(self) -> bool:
        """Dask replaces lost workers itself; there is no pool of parmap's own to restart."""
        return False

    def stalled(self) -> bool:
        """Whether the cluster has had no workers at all for `NO_WORKERS_GRACE` seconds.

        Dask keeps tasks waiting for workers for ever (a cluster may be
        scaling up from none). parmap waits that long, then gives up: the
        batches in flight fail over, and sending them again raises
        `BrokenExecutor`, which ends the run with its partial summary.
        """
        workers: dict[str, int] = self._client.nthreads()  # type: ignore[no-untyped-call]
        now = time.monotonic()
        if workers:
            self._no_workers_since = None
        elif self._no_workers_since is None:
            self._no_workers_since = now
        elif now - self._no_workers_since > NO_WORKERS_GRACE:
            self._broken = True
        return self._broken

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


async def _fetch(client: Client, task: DaskFuture[bytes], bridge: Future[object]) -> None:
    """Wait for a task on the client's event loop; hand its result or exception to `bridge`.

    Fetching the result can fail even after the task finished (its worker
    died meanwhile, and Dask gave up on computing it again): that failure is
    the outcome then. Nothing escapes, so the bridge is always settled.
    """
    try:
        outcome: object = await client.gather(task, asynchronous=True)  # type: ignore[no-untyped-call]
    except BaseException as exc:  # noqa: BLE001 - whatever it is, it is the task's outcome
        outcome = exc
    with contextlib.suppress(InvalidStateError):
        if isinstance(outcome, BaseException):
            bridge.set_exception(outcome)
        else:
            bridge.set_result(outcome)


def _cancel_task(task: DaskFuture[bytes], bridge: Future[object]) -> None:
    """The dispatcher cancelled the bridge: cancel the Dask task too."""
    if bridge.cancelled():
        task.cancel()  # type: ignore[no-untyped-call]


@dataclass(slots=True)
class _Pieces:
    """A split batch's outcome: per item, a task's bytes or the exception its task ended with."""

    pieces: list[bytes | BaseException]

    def assemble(self) -> BatchResult:
        """One batch result from one-item results; a lost item fails with `WorkerDiedError`."""
        values: list[object] = []
        failures: list[Failure] = []
        seconds = 0.0
        timings = Timings()
        for position, piece in enumerate(self.pieces):
            if isinstance(piece, bytes):
                part = unpack_result(piece)
                seconds += part.seconds
                if part.fatal is not None:  # stopped: keep only what is accounted for
                    return BatchResult(values, failures, seconds, part.fatal, _measured(timings))
                if part.timings is not None:
                    timings.absorb(part.timings, offset=position)
                values.append(part.values[0] if part.values else None)
                for failure in part.failures:
                    failure.position = position
                    failures.append(failure)
            else:
                values.append(None)
                error = _died(piece) if isinstance(piece, KilledWorker) else piece
                failures.append(describe(position, _as_exception(error)))
        return BatchResult(values, failures, seconds, None, _measured(timings))


def _measured(timings: Timings) -> Measured | None:
    return timings.packed() if timings.counts else None


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
    ``KilledWorker``, its items become suspects (see `DaskBackend.suspect`),
    each run again alone; `outer` is settled once all of them are, with
    their `_Pieces`.
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
        self.closed = False
        self.outer.add_done_callback(self._settled)

    def start(self, payload: bytes) -> None:
        """Send the whole batch as one task."""
        task = self._backend.send(payload)
        if self.track(task):
            task.add_done_callback(self._whole_done)

    def cancel(self) -> None:
        """Cancel the batch and every task of it not yet finished."""
        self.outer.cancel()

    def track(self, task: Future[object]) -> bool:
        """Keep `task` until the batch is settled; cancel it if the batch was cancelled already."""
        with self._lock:
            if not self.closed:
                self._tasks.append(task)
                return True
        task.cancel()
        return False

    def payload(self, position: int) -> bytes:
        """The bytes of a task running the item at `position` alone."""
        prior = {0: self._prior[position]} if position in self._prior else None
        return self._backend.payload([self._items[position]], prior)

    def _settled(self, _outer: Future[object]) -> None:
        """The dispatcher has the outcome (or cancelled the batch): let go of the tasks.

        Dropping the last reference to a Dask future releases its result on
        the worker at once; a result kept there would be computed again if
        that worker died later.
        """
        with self._lock:
            self.closed = True
            tasks, self._tasks = self._tasks, []
        for task in tasks:  # only those left running: the batch was cancelled or failed over
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
            with self._lock:
                self._pieces = [None] * len(self._items)
                self._left = len(self._items)
                if task in self._tasks:
                    self._tasks.remove(task)
            self._backend.suspect(self, range(len(self._items)))
        elif exc is not None:
            self._settle(error=exc)
        else:
            self._settle(result=task.result())

    def piece_done(self, position: int, task: Future[object] | BaseException) -> None:
        """Record how the item at `position`, run alone, ended; settle once all have."""
        if isinstance(task, BaseException):
            piece: object = task
        else:
            with self._lock:  # its result is here now: release it on the worker
                if task in self._tasks:
                    self._tasks.remove(task)
            cancelled = task.cancelled()
            piece = CancelledError() if cancelled else task.exception() or task.result()
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
