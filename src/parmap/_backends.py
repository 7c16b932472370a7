"""Where batches run: threads here, processes in `_processes`, or the caller's own executor.

A backend is a thin adapter: ``submit(items) -> Future`` of a raw result,
``unpack(raw) -> BatchResult``, ``replace()`` after the pool broke, and
``close(cancel=...)``. The dispatcher sees this one shape for every kind of
executor.
"""

from __future__ import annotations

from concurrent.futures import Executor, Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Protocol

from . import _worker
from ._threadpool import DaemonThreadPool

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

__all__ = ["Backend", "ThreadBackend", "describe_executor", "open_backend"]


class Backend(Protocol):
    """What the dispatcher needs from a place to run batches."""

    description: str

    def submit(self, items: Sequence[object]) -> Future[object]:
        """Start one batch; the future's result goes through `unpack`."""
        ...

    def unpack(self, raw: object) -> _worker.BatchResult:
        """Turn a finished future's result into a `BatchResult`."""
        ...

    def replace(self) -> bool:
        """Start fresh workers after the pool broke; ``False`` if that is not ours to do."""
        ...

    def close(self, *, cancel: bool) -> None:
        """Release the workers: wait for them, or (``cancel=True``) stop them now."""
        ...


class ThreadBackend:
    """Batches run in threads of this process: `fn` is called directly, nothing is pickled."""

    def __init__(
        self,
        fn: Callable[[object], object],
        workers: int,
        executor: Executor | None = None,
        policy: _worker.Policy | None = None,
    ) -> None:
        """Start a thread pool of `workers` threads, or use the caller's `executor`."""
        self._fn = fn
        self._policy = policy
        self._owned = executor is None
        self._executor = executor or DaemonThreadPool(workers, thread_name_prefix="parmap")
        self._stop = _worker.StopFlag()
        self.description = f"threads ×{workers}" if self._owned else describe_executor(executor)

    def submit(self, items: Sequence[object]) -> Future[object]:
        """Run `fn` over `items` in one thread."""
        return self._executor.submit(
            _worker.run_batch, self._fn, items, self._stop, policy=self._policy
        )

    def unpack(self, raw: object) -> _worker.BatchResult:
        """Thread results need no unpacking."""
        assert isinstance(raw, _worker.BatchResult)  # noqa: S101 - our own invariant
        return raw

    def replace(self) -> bool:
        """A thread pool does not break the way a process pool does."""
        return False

    def close(self, *, cancel: bool) -> None:
        """Shut the pool down; when cancelling, running batches stop after their current item.

        When cancelling, threads still busy with an item are not waited for:
        they are daemons, so they never keep the program from exiting.
        """
        if cancel:
            self._stop.set()
        if self._owned:
            self._executor.shutdown(wait=not cancel, cancel_futures=cancel)


def describe_executor(executor: Executor | None) -> str:
    """A caller's executor as the report shows it, e.g. ``"ThreadPoolExecutor ×4"``."""
    name = type(executor).__name__
    workers = getattr(executor, "_max_workers", None)
    return f"{name} ×{workers}" if isinstance(workers, int) else name


def open_backend(
    fn: Callable[[object], object],
    kind: str,
    workers: int,
    executor: Executor | None,
    policy: _worker.Policy | None = None,
) -> Backend:
    """Start the backend for `kind` ("io" or "cpu"), or adapt the caller's executor.

    A caller's `ThreadPoolExecutor` runs `fn` directly; any other executor is
    treated as one of processes, so `fn` and items are pickled for it.
    """
    if executor is not None and isinstance(executor, ThreadPoolExecutor):
        return ThreadBackend(fn, workers, executor, policy)
    if executor is not None or kind == "cpu":
        from ._processes import ProcessBackend  # noqa: PLC0415 - multiprocessing only when used

        return ProcessBackend(fn, workers, executor, policy)
    return ThreadBackend(fn, workers, None, policy)
