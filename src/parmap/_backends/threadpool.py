"""A thread pool whose threads never hold up the end of the program, start fast, and stay warm.

`concurrent.futures.ThreadPoolExecutor` joins its threads when the
interpreter exits, so after Ctrl-C a program waits for every item still
running (a 30-second download keeps it alive for 30 seconds). parmap's
threads are daemons instead: a run that ends normally still waits for them
(`shutdown(wait=True)`), but one that is interrupted leaves them to finish
their current item in the background, and the program can exit at once.

Starting a thread costs ~0.1 ms of the starting thread's time (it waits
until the new one runs), so a hundred threads started one by one from the
dispatcher hold the last one back by ~10 ms. Here each thread, as it
starts, starts up to two more of those still wanted by then.

A run that ends normally gives its pool back to `SHELF`, where the
threads wait, idle, for the next run (`lease`) for `IDLE_TIMEOUT` seconds.
"""

from __future__ import annotations

import itertools
import queue
import threading
from collections import deque
from concurrent.futures import Executor, Future
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from .shelf import Shelf

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["IDLE_TIMEOUT", "SHELF", "DaemonThreadPool", "give_back", "lease"]

P = ParamSpec("P")
T = TypeVar("T")

#: A task: its future, the call, and whether it claimed a thread when queued (an idle
#: thread's token, or a thread started for it); an unclaimed one waits for a busy thread.
_Task = tuple["Future[Any]", "Callable[..., Any]", tuple[Any, ...], dict[str, Any], bool]

#: Threads a starting thread starts, of those still wanted.
_FAN_OUT = 2


class _Retire:
    """Queued to make one thread exit; `claimed` when an idle thread was counted for it."""

    __slots__ = ("claimed",)

    def __init__(self, *, claimed: bool) -> None:
        self.claimed = claimed


class DaemonThreadPool(Executor):
    """An executor of up to `max_workers` daemon threads, started as work arrives.

    Examples:
        >>> pool = DaemonThreadPool(2)
        >>> pool.submit(pow, 2, 10).result()
        1024
        >>> pool.shutdown()
    """

    def __init__(self, max_workers: int, thread_name_prefix: str = "parmap") -> None:
        """Prepare the pool; threads start with the first tasks."""
        self._max_workers = max_workers
        self._prefix = thread_name_prefix
        self._names = itertools.count()
        self._tasks: queue.SimpleQueue[_Task | _Retire | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._exited = threading.Condition(self._lock)
        # counts under `_lock`:
        self._live = 0  # threads started or wanted, less those asked to retire
        self._owed = 0  # threads wanted, to be started by threads that are starting up
        self._starters = 0  # threads started that have not yet taken their share of `_owed`
        self._running = 0  # threads started that have not exited
        # One token per thread waiting for a task that no queued task has claimed: a
        # deque's append and pop need no lock, so a thread that finished a task takes none.
        # A thread that takes an unclaimed task gives up a token; when there is none just
        # then (a submission took it), it leaves a debt, which the next token pays instead.
        self._idle: deque[None] = deque()
        self._debts: deque[None] = deque()
        self._threads: list[threading.Thread] = []
        self._closed = False
        self._lent = False

    @property
    def workers(self) -> int:
        """How many threads may run at once."""
        return self._max_workers

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        """Queue ``fn(*args, **kwargs)``; have another thread started if none is idle."""
        with self._lock:
            if self._closed:
                msg = "cannot submit to a parmap thread pool that was shut down"
                raise RuntimeError(msg)
            future: Future[T] = Future()
            idle = _claim(self._idle)
            start = not idle and self._live < self._max_workers
            self._tasks.put((future, fn, args, kwargs, idle or start))
            if not start:
                return future
            # One more thread: asking for more at once (as many again as there are) had all
            # of a thousand threads wait and wake in step, and took 1.35 s instead of 1.01 s.
            self._live += 1
            if self._starters:  # a thread starting up will start this one
                self._owed += 1
                return future
            self._starters += 1
            self._running += 1
        try:
            self._start()
        except BaseException:
            future.cancel()  # so no thread ever runs it
            raise
        return future

    def _start(self) -> None:
        """Start one thread, already counted in `_live`, `_starters` and `_running`."""
        thread = threading.Thread(
            target=self._work, name=f"{self._prefix}_{next(self._names)}", daemon=True
        )
        try:
            thread.start()
        except BaseException:
            with self._lock:
                self._live -= 1
                self._starters -= 1
                self._running -= 1
                self._exited.notify_all()
            raise
        with self._lock:
            if len(self._threads) > 2 * self._max_workers:
                self._threads = [t for t in self._threads if t.is_alive()]
            self._threads.append(thread)

    def _start_owed(self) -> None:
        """Start up to `_FAN_OUT` of the threads still wanted, each of which does the same."""
        with self._lock:
            count = min(_FAN_OUT, self._owed)
            self._owed -= count
            self._starters += count - 1  # these start, this one is done starting
            self._running += count
        for started in range(count):
            try:
                self._start()
            except BaseException:  # noqa: BLE001 - no more threads to be had: run with those there are
                with self._lock:
                    left = count - started - 1
                    self._live -= left + self._owed
                    for _ in range(left + self._owed):
                        _claim(self._idle)
                    self._starters -= left
                    self._running -= left
                    self._owed = 0
                    self._exited.notify_all()
                return

    def _work(self) -> None:
        try:
            self._start_owed()
            while True:
                task = self._tasks.get()
                if task is None:
                    return
                if isinstance(task, _Retire):
                    if not task.claimed:
                        self._busy()
                    return
                future, fn, args, kwargs, claimed = task
                if not claimed:
                    self._busy()
                if future.set_running_or_notify_cancel():
                    try:
                        result = fn(*args, **kwargs)
                    except BaseException as exc:  # noqa: BLE001 - handed to whoever waits on it
                        future.set_exception(exc)
                    else:
                        future.set_result(result)
                del task, future, fn, args, kwargs
                if not _claim(self._debts):
                    self._idle.append(None)
        finally:
            with self._lock:
                self._running -= 1
                self._exited.notify_all()

    def _busy(self) -> None:
        """This thread took an unclaimed task: it is no longer idle (see `_idle`)."""
        if not _claim(self._idle):
            self._debts.append(None)

    def resize(self, workers: int) -> None:
        """Run at most `workers` threads from now on; threads beyond that exit once idle."""
        with self._lock:
            self._max_workers = workers
            while self._live > workers:
                self._live -= 1
                self._tasks.put(_Retire(claimed=_claim(self._idle)))

    def lend(self) -> None:
        """Allow one more thread: one is busy with an item nobody waits for any more.

        The extra thread starts now if work is waiting and no thread is idle,
        since no new submission may come to start it.
        """
        with self._lock:
            self._lent = True
            self._max_workers += 1
            if self._closed or self._idle:  # an idle thread takes the waiting work
                return
            self._live += 1
            self._starters += 1
            self._running += 1
        self._start()

    def give_back(self) -> None:
        """Undo one `lend`: the abandoned item is done, so one thread can go."""
        with self._lock:
            self._max_workers -= 1
            # a lend that found an idle thread started none: then there is none to retire
            while not self._closed and self._live > self._max_workers:
                self._live -= 1
                self._tasks.put(_Retire(claimed=_claim(self._idle)))

    def reusable(self) -> bool:
        """Whether another run may use this pool: open, and no thread lent for a timeout."""
        return not self._closed and not self._lent

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:  # noqa: FBT001, FBT002 - Executor's signature
        """Stop accepting work; optionally cancel queued tasks and wait for the threads."""
        with self._lock:
            self._closed = True
            self._live -= self._owed
            self._owed = 0
            retiring = 0  # threads whose retire token is taken out: told to go by a None
            if cancel_futures:
                while True:
                    try:
                        task = self._tasks.get_nowait()
                    except queue.Empty:
                        break
                    if isinstance(task, tuple):
                        task[0].cancel()
                    elif isinstance(task, _Retire):
                        retiring += 1
            for _ in range(max(self._live, 0) + retiring):
                self._tasks.put(None)
            if wait:
                while self._running:
                    self._exited.wait()
            threads = list(self._threads) if wait else []
        for thread in threads:
            thread.join()


def _claim(idle: deque[None]) -> bool:
    """Take one idle thread's token, if there is one."""
    try:
        idle.pop()
    except IndexError:
        return False
    return True


#: Seconds an idle pool keeps its threads. Idle threads cost no CPU and little memory;
#: the same as the process pools', so one loop's calls all find theirs warm.
IDLE_TIMEOUT = 60.0

#: Where the idle thread pool waits (`IDLE_TIMEOUT` read at each give-back: tests shorten it).
SHELF: Shelf[DaemonThreadPool] = Shelf("parmap-threads-reaper", lambda: IDLE_TIMEOUT)


def lease(workers: int) -> DaemonThreadPool:
    """A pool of `workers` threads for one run: the idle one, resized, if any; else a new one."""
    pool = SHELF.lease(lambda _: True)
    if pool is None:
        return DaemonThreadPool(workers, thread_name_prefix="parmap")
    pool.resize(workers)
    return pool


def give_back(pool: DaemonThreadPool) -> None:
    """Keep `pool`'s threads idle for the next run, if it is healthy; else shut it down."""
    SHELF.give_back(pool)
