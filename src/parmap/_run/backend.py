"""Opening the backend a plan asks for: threads, processes, an event loop, Dask, or the caller's."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from parmap._backends.threads import ThreadBackend

if TYPE_CHECKING:
    from collections.abc import Callable
    from concurrent.futures import Executor

    from distributed import Client

    from parmap._backends.base import Backend
    from parmap._worker.batch import Policy

    from .options import Options

__all__ = ["executor_workers", "open_backend"]


def executor_workers(options: Options) -> int | None:
    """How many items the caller's executor runs at once, where it says; else ``None``.

    A Dask client counts the threads of the cluster's workers as they are now.
    """
    if options.executor_kind == "dask":
        from parmap._backends.dask import cluster_threads  # noqa: PLC0415 - Dask only when used

        return cluster_threads(options.executor)  # type: ignore[arg-type]  # a Client
    workers = getattr(options.executor, "_max_workers", None)
    return workers if isinstance(workers, int) else None


def open_backend(
    fn: Callable[[object], object],
    kind: Literal["io", "cpu", "auto", "async"],
    workers: int,
    options: Options,
    *,
    policy: Policy | None = None,
    timeout: float | None = None,
) -> Backend:
    """Start the backend for `kind`, or adapt the caller's executor (``options.executor``).

    With an executor, `kind` does not matter: the executor decides where work runs.

    A caller's `ThreadPoolExecutor` runs `fn` directly; a Dask client runs
    batches as tasks on its cluster; any other executor is treated as one
    of processes, so `fn` and items are pickled for it. ``"async"`` runs
    `fn` on an event loop (`parmap._backends.eventloop.LoopBackend`).
    """
    executor = options.executor
    if kind == "async":
        from parmap._backends.eventloop import LoopBackend  # noqa: PLC0415 - asyncio when used

        return LoopBackend(fn, workers, policy, timeout)
    if options.executor_kind == "dask":
        from parmap._backends.dask import DaskBackend  # noqa: PLC0415 - Dask only when used

        client: Client = executor  # type: ignore[assignment]  # checked by make_options
        return DaskBackend(fn, client, policy)
    pool: Executor | None = executor  # type: ignore[assignment]  # not a Dask client
    if options.executor_kind == "threads":
        return ThreadBackend(fn, workers, pool, policy, timeout)
    if pool is not None or kind == "cpu":
        from parmap._backends.processes import (  # noqa: PLC0415 - multiprocessing when used
            ProcessBackend,
        )

        return ProcessBackend(fn, workers, pool, policy, timeout)
    return ThreadBackend(fn, workers, None, policy, timeout)
