"""A thread pool whose threads never hold up the end of the program.

`concurrent.futures.ThreadPoolExecutor` joins its threads when the
interpreter exits, so after Ctrl-C a program waits for every item still
running (a 30-second download keeps it alive for 30 seconds). parmap's
threads are daemons instead: a run that ends normally still waits for them
(`shutdown(wait=True)`), but one that is interrupted leaves them to finish
their current item in the background, and the program can exit at once.
"""

from __future__ import annotations

import queue
import threading
from concurrent.futures import Executor, Future
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["DaemonThreadPool"]

P = ParamSpec("P")
T = TypeVar("T")

_Task = tuple["Future[Any]", "Callable[..., Any]", tuple[Any, ...], dict[str, Any]]


class _Retire:
    """Queued to make one idle thread exit (see `DaemonThreadPool.give_back`)."""


_RETIRE = _Retire()


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
        self._tasks: queue.SimpleQueue[_Task | _Retire | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        # threads waiting for a task: a count under `_lock` (a Semaphore's Condition costs ~10x)
        self._idle = 0
        self._lock = threading.Lock()
        self._closed = False

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        """Queue ``fn(*args, **kwargs)``; start another thread if none is idle."""
        with self._lock:
            if self._closed:
                msg = "cannot submit to a parmap thread pool that was shut down"
                raise RuntimeError(msg)
            future: Future[T] = Future()
            self._tasks.put((future, fn, args, kwargs))
            if self._idle:
                self._idle -= 1
            elif len(self._threads) < self._max_workers:
                thread = threading.Thread(
                    target=self._work,
                    name=f"{self._prefix}_{len(self._threads)}",
                    daemon=True,
                )
                try:
                    thread.start()
                except BaseException:
                    future.cancel()  # so no thread ever runs it
                    raise
                self._threads.append(thread)
            return future

    def _work(self) -> None:
        while True:
            task = self._tasks.get()
            if task is None:
                return
            if isinstance(task, _Retire):
                with self._lock:
                    self._threads.remove(threading.current_thread())
                    self._idle = max(0, self._idle - 1)
                return
            future, fn, args, kwargs = task
            if future.set_running_or_notify_cancel():
                try:
                    result = fn(*args, **kwargs)
                except BaseException as exc:  # noqa: BLE001 - handed to whoever waits on the future
                    future.set_exception(exc)
                else:
                    future.set_result(result)
            del task, future, fn, args, kwargs
            with self._lock:
                self._idle += 1

    def lend(self) -> None:
        """Allow one more thread: one is busy with an item nobody waits for any more.

        The extra thread starts now if work is waiting and no thread is idle,
        since no new submission may come to start it.
        """
        with self._lock:
            self._max_workers += 1
            if self._closed:
                return
            if self._idle:
                self._idle -= 1
                return
            thread = threading.Thread(
                target=self._work, name=f"{self._prefix}_{len(self._threads)}", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def give_back(self) -> None:
        """Undo one `lend`: the abandoned item is done, so one thread can go."""
        with self._lock:
            self._max_workers -= 1
            if not self._closed:
                self._tasks.put(_RETIRE)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:  # noqa: FBT001, FBT002 - Executor's signature
        """Stop accepting work; optionally cancel queued tasks and wait for the threads."""
        with self._lock:
            self._closed = True
            if cancel_futures:
                while True:
                    try:
                        task = self._tasks.get_nowait()
                    except queue.Empty:
                        break
                    if isinstance(task, tuple):
                        task[0].cancel()
            for _ in self._threads:
                self._tasks.put(None)
        if wait:
            for thread in list(self._threads):
                thread.join()
