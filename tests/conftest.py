"""Shared fixtures: the `kind` parameter, a Dask cluster, and a check that nothing leaks.

The leak check fails a test that leaves threads or child processes behind.
One exemption, narrow on purpose: while a test module's Dask cluster is up
(the `dask_client` fixture), its worker processes and the threads Dask keeps
for them are the fixture's, not the test's. Dask starts a new worker process
(and new threads to watch it) whenever one dies, so these cannot be taken as
a snapshot before the test; they are asked of the cluster instead.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from typing import TYPE_CHECKING, cast

import psutil
import pytest
from hypothesis import HealthCheck, settings

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from distributed import Client

    from parmap import Kind

settings.register_profile(
    "patience",
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "patience"))

#: Seconds a finished run's threads and processes get to be gone.
LEAK_GRACE = 10.0


#: Name prefixes of the threads a running Dask cluster keeps in this process: one pair
#: watching each worker process, a queue feeder for each, Dask's own helper pools.
DASK_THREADS = ("AsyncProcess Dask Worker process", "QueueFeederThread", "Dask-")
#: No dashboard, and the scheduler's small HTTP server (health, metrics) on a free port:
#: by default it takes 8787, warning when another cluster on the machine has it already.
QUIET_SCHEDULER = {"dashboard_address": "127.0.0.1:0"}
#: Threads Dask starts once per process, on first use, and keeps on purpose until the
#: interpreter exits (its pools for offloading (de)serialisation and for running the
#: done-callbacks of its futures): never a test's leak.
DASK_FOREVER = ("Dask-Offload_", "Dask-Callback-Thread")
#: The current worker processes of the Dask cluster, while the `dask_client` fixture is up.
_dask_workers: Callable[[], set[int]] | None = None


@pytest.fixture(scope="module")
def dask_client() -> Iterator[Client]:
    """A real Dask cluster on this machine: 2 worker processes of 1 thread, no dashboard.

    One per test module that asks for it (starting one takes about a second).
    Skipped, saying why, where the ``dask`` extra is not installed.
    """
    global _dask_workers  # noqa: PLW0603 - the leak check reads it
    distributed = pytest.importorskip(
        "distributed", reason='Dask is an optional extra: pip install -e ".[dask]"'
    )
    import dask  # noqa: PLC0415 - installed with distributed

    # A LocalCluster closes a worker's nanny for good when, 15 s after the worker was
    # lost, no worker of that name is up: tests that kill workers again and again could
    # catch a restart at that instant and leave the cluster without workers.
    settings = contextlib.ExitStack()
    settings.enter_context(dask.config.set({"distributed.deploy.lost-worker-timeout": "1h"}))
    cluster = distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        scheduler_kwargs=QUIET_SCHEDULER,
    )
    client = distributed.Client(cluster)

    def workers() -> set[int]:
        return {
            nanny.process.pid
            for nanny in list(cluster.workers.values())
            if nanny.process is not None and nanny.process.pid is not None
        }

    _dask_workers = workers
    try:
        yield client
    finally:
        _dask_workers = None
        client.close()
        cluster.close()
        settings.close()


@pytest.fixture(params=["io", "cpu"])
def kind(request: pytest.FixtureRequest) -> Kind:
    """Run a behaviour test once on threads and once on processes."""
    return cast("Kind", request.param)


def _fork_servers() -> set[int]:
    """Helpers that may outlive a run: fork servers and resource trackers (not their children).

    Worker processes are children of a fork server, so the recursive scan in
    `_live_children` still counts every worker left alive.
    """
    allowed: set[int] = set()
    for child in psutil.Process().children():
        try:
            cmdline = " ".join(child.cmdline())
        except psutil.Error:
            continue
        if "forkserver" in cmdline or "resource_tracker" in cmdline:
            allowed.add(child.pid)
    return allowed


def _live_children(allowed: set[int]) -> list[psutil.Process]:
    children = []
    for child in psutil.Process().children(recursive=True):
        if child.pid in allowed:
            continue
        try:
            if child.status() == psutil.STATUS_ZOMBIE:
                continue
        except psutil.Error:
            continue
        children.append(child)
    return children


def _close_warm_pools() -> None:
    """Stop the workers (processes and threads) that runs left idle for the next run.

    Every test then starts from no pool, and the check below still finds any
    worker that a run failed to stop or to give back.
    """
    warm = sys.modules.get("parmap._backends.warm")
    if warm is not None:
        warm.close_all()
    threads = sys.modules.get("parmap._backends.threadpool")
    if threads is not None:
        threads.SHELF.close()


@pytest.fixture(autouse=True)
def no_leaks() -> Iterator[None]:
    """Fail a test that leaves threads or worker processes behind (idle warm pools closed first)."""
    threads_before = set(threading.enumerate())
    yield
    _close_warm_pools()
    deadline = time.monotonic() + LEAK_GRACE
    while True:
        allowed = _fork_servers()
        kept: tuple[str, ...] = DASK_FOREVER
        if _dask_workers is not None:
            allowed |= _dask_workers()
            kept += DASK_THREADS
        extra_threads = [
            t
            for t in threading.enumerate()
            if t not in threads_before and t.is_alive() and not t.name.startswith(kept)
        ]
        extra_children = _live_children(allowed)
        if not extra_threads and not extra_children:
            return
        if time.monotonic() > deadline:
            pytest.fail(f"leaked threads {extra_threads} and processes {extra_children}")
        time.sleep(0.05)  # polling for the leak check's deadline, not for synchronisation
