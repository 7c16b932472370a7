"""The thread backend: batches run in threads of this process; `fn` is called directly.

Nothing is pickled. With a `timeout`, a watchdog thread gives up on a batch
whose current item overran, and the pool lends one more thread meanwhile.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import CancelledError, Executor, Future
from typing import TYPE_CHECKING

from parmap._worker.batch import ATTEMPT, POSITION, STARTED, Policy, StopFlag, run_batch
from parmap._worker.records import BatchResult, LostItem

from . import threadpool
from .base import InProcess, describe_executor
from .threadpool import DaemonThreadPool

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

__all__ = ["THREAD_TARGET", "THREAD_WINDOW", "ThreadBackend"]

#: Seconds of work a batch on threads should hold: a thread task costs ~20 µs, so this
#: keeps overhead near 1% while batches stay short enough to spread over every worker.
THREAD_TARGET = 0.002
#: Seconds of work a batch holds at least, per worker: the calling thread collects every
#: finished batch and sends the next, under the GIL with all the workers, so many workers
#: need longer batches for it to keep up. At 1000 threads one 10 ms wait per batch meant
#: 100,000 hand-backs a second, more than it can do (20,000 waits: 0.99 s, now 0.74 s;
#: ThreadPoolExecutor 0.81 s); up to 100 threads it changes nothing for such waits.
DISPATCH_COST = 0.0001
#: Items in flight at most on threads, where the items and results in flight live in
#: the caller's own memory. Tiny items make batches of thousands, and many threads
#: holding one each (and freeing them out of order) kept memory growing with the
#: thread count: 3,000,000 trivial items on 32 threads peaked at +14 MB over the
#: interpreter with 50,000 in flight, +4 MB with 10,000, at the same speed (within 3%).
THREAD_WINDOW = 10_000
#: ... or this many per thread, when there are more than 100: each may need a batch of
#: its own (1000 threads keep 100,000 in flight).
THREAD_WINDOW_PER_WORKER = 100


class ThreadBackend(InProcess):
    """Batches run in threads of this process: `fn` is called directly, nothing is pickled.

    With a `timeout`, a watchdog thread checks how long each item's current
    attempt has run. A batch whose item overran is given up on: its future
    fails with `LostItem` (so the dispatcher records the item and sends the
    rest of the batch again), its thread is asked to stop after that item,
    and the pool may start one more thread meanwhile, so the run keeps its
    number of workers.
    """

    def __init__(
        self,
        fn: Callable[[object], object],
        workers: int,
        executor: Executor | None = None,
        policy: Policy | None = None,
        timeout: float | None = None,
    ) -> None:
        """Lease a thread pool of `workers` threads (a warm one if idle), or use `executor`."""
        self._fn = fn
        self._policy = policy
        self._owned = executor is None
        self._executor = executor or threadpool.lease(workers)
        self._stop = StopFlag()
        self.description = f"threads ×{workers}" if self._owned else describe_executor(executor)
        self._timeout = timeout
        self.batch_target = max(THREAD_TARGET, workers * DISPATCH_COST)
        self.window_items = max(THREAD_WINDOW, workers * THREAD_WINDOW_PER_WORKER)
        self._running: dict[Future[object], _Watched] = {}
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._gave_up = False
        if timeout is not None:
            threading.Thread(
                target=self._watch, args=(timeout,), name="parmap-watchdog", daemon=True
            ).start()

    def submit(
        self, items: Sequence[object], prior: dict[int, int] | None = None
    ) -> Future[object]:
        """Run `fn` over `items` in one thread."""
        if self._timeout is None:
            return self._executor.submit(
                run_batch, self._fn, items, self._stop, policy=self._policy, prior=prior
            )
        watched = _Watched()
        with self._lock:
            self._running[watched.outer] = watched
        inner = self._executor.submit(
            run_batch,
            self._fn,
            items,
            watched.stop,
            policy=self._policy,
            progress=watched.progress,
            prior=prior,
        )
        inner.add_done_callback(lambda done: self._finished(watched, done))
        return watched.outer

    def _finished(self, watched: _Watched, inner: Future[BatchResult]) -> None:
        with self._lock:
            self._running.pop(watched.outer, None)
            abandoned = watched.abandoned
            if not abandoned:
                _transfer(inner, watched.outer)
        if abandoned and isinstance(self._executor, DaemonThreadPool):
            self._executor.give_back()

    def _watch(self, timeout: float) -> None:
        limit = int(timeout * 1e9)
        interval = min(max(timeout / 10, 0.01), 0.25)
        while not self._closing.wait(interval):
            now = time.monotonic_ns()
            with self._lock:
                overdue = [
                    w
                    for w in self._running.values()
                    if w.progress[POSITION] >= 0 and now - w.progress[STARTED] > limit
                ]
                for watched in overdue:
                    self._running.pop(watched.outer, None)
                    watched.give_up()
                    self._gave_up = True
            for _ in overdue:
                if isinstance(self._executor, DaemonThreadPool):
                    self._executor.lend()

    def stalled(self) -> bool:
        """Threads always answer: each batch's future is set by the thread that ran it."""
        return False

    def close(self, *, cancel: bool) -> None:
        """Give the pool back for the next run, or shut it down when cancelling.

        When cancelling, running batches stop after their current item.

        When cancelling, threads still busy with an item are not waited for:
        they are daemons, so they never keep the program from exiting.
        """
        self._closing.set()
        if cancel:
            self._stop.set()
            with self._lock:
                for watched in self._running.values():
                    watched.stop.set()
        if not self._owned:
            return
        if not cancel and not self._gave_up and isinstance(self._executor, DaemonThreadPool):
            threadpool.give_back(self._executor)  # every batch finished: its threads are idle
            return
        # Threads still busy with items given up for their timeout are not waited for.
        wait = not cancel and not self._gave_up
        self._executor.shutdown(wait=wait, cancel_futures=cancel)


class _Watched:
    """A batch run under a timeout: the future handed out, its progress, its stop flag."""

    def __init__(self) -> None:
        self.outer: Future[object] = Future()
        self.outer.set_running_or_notify_cancel()
        self.progress = [-1, 0, 0]
        self.stop = StopFlag()
        self.abandoned = False

    def give_up(self) -> None:
        """The current item overran: stop after it, and fail the batch's future now."""
        self.abandoned = True
        self.stop.set()
        self.outer.set_exception(
            LostItem(
                self.progress[POSITION],
                self.progress[ATTEMPT],
                None,
                timed_out=True,
            )
        )


def _transfer(inner: Future[BatchResult], outer: Future[object]) -> None:
    if inner.cancelled():
        outer.set_exception(CancelledError())  # outer is running: cancel() would do nothing
        return
    exc = inner.exception()
    if exc is not None:
        outer.set_exception(exc)
    else:
        outer.set_result(inner.result())
