"""Opening the backend a plan asks for: threads, processes, an event loop, Dask, or the caller's."""

from __future__ import annotations

from concurrent.futures import Executor, ThreadPoolExecutor
from typing import TYPE_CHECKING, cast

from parmap._backends.base import is_dask_client
from parmap._backends.threads import ThreadBackend

if TYPE_CHECKING:
    from collections.abc import Callable

    from distributed import Client

    from parmap._backends.base import Backend
    from parmap._worker.batch import Policy

__all__ = ["executor_workers", "open_backend"]


def executor_workers(executor: Executor | Client | None) -> int | None:
    """How many items a caller's executor runs at once, where it says; else ``None``.

    A Dask client counts the threads of the cluster's workers as they are now.
    """
    if is_dask_client(executor):
        from parmap._backends.dask import cluster_threads  # noqa: PLC0415 - Dask only when used

        return cluster_threads(executor)
    workers = getattr(executor, "_max_workers", None)
    return workers if isinstance(workers, int) else None


def open_backend(
    fn: Callable[[object], object],
    kind: str,
    workers: int,
    executor: Executor | Client | None,
    *,
    policy: Policy | None = None,
    timeout: float | None = None,
) -> Backend:
    """Start the backend for `kind` ("io", "cpu" or "async"), or adapt the caller's executor.

    A caller's `ThreadPoolExecutor` runs `fn` directly; a Dask client runs
    batches as tasks on its cluster; any other executor is treated as one
    of processes, so `fn` and items are pickled for it. ``"async"`` runs
    `fn` on an event loop (`parmap._backends.eventloop.LoopBackend`).
    """
    if kind == "async":
        from parmap._backends.eventloop import LoopBackend  # noqa: PLC0415 - asyncio only when used

        return LoopBackend(fn, workers, policy, timeout)
    if is_dask_client(executor):
        from parmap._backends.dask import DaskBackend  # noqa: PLC0415 - Dask only when used

        return DaskBackend(fn, executor, policy)
    pool = cast("Executor | None", executor)  # not a Dask client
    if pool is not None and isinstance(pool, ThreadPoolExecutor):
        return ThreadBackend(fn, workers, pool, policy, timeout)
    if pool is not None or kind == "cpu":
        from parmap._backends.processes import ProcessBackend  # noqa: PLC0415 - multiprocessing only when used

        return ProcessBackend(fn, workers, pool, policy, timeout)
    return ThreadBackend(fn, workers, None, policy, timeout)
