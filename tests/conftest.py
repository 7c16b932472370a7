"""Shared fixtures: the `kind` parameter, and a check that no test leaks threads or processes."""

from __future__ import annotations

import os
import sys
import threading
import time
from typing import TYPE_CHECKING, cast

import psutil
import pytest
from hypothesis import HealthCheck, settings

if TYPE_CHECKING:
    from collections.abc import Iterator

    from parmap import Kind

settings.register_profile(
    "patience",
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "patience"))

#: Seconds a finished run's threads and processes get to be gone.
LEAK_GRACE = 10.0


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
    """Stop the workers that runs left idle for the next run (if processes were used at all).

    Every test then starts from no pool, and the check below still finds any
    worker that a run failed to stop or to give back.
    """
    warm = sys.modules.get("parmap._warm")
    if warm is not None:
        warm.close_all()


@pytest.fixture(autouse=True)
def no_leaks() -> Iterator[None]:
    """Fail a test that leaves threads or worker processes behind (idle warm pools closed first)."""
    threads_before = set(threading.enumerate())
    yield
    _close_warm_pools()
    deadline = time.monotonic() + LEAK_GRACE
    while True:
        allowed = _fork_servers()
        extra_threads = [
            t for t in threading.enumerate() if t not in threads_before and t.is_alive()
        ]
        extra_children = _live_children(allowed)
        if not extra_threads and not extra_children:
            return
        if time.monotonic() > deadline:
            pytest.fail(f"leaked threads {extra_threads} and processes {extra_children}")
        time.sleep(0.05)  # polling for the leak check's deadline, not for synchronisation
