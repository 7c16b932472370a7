"""Warm process pools: later calls reuse the workers of earlier ones, safely."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import textwrap
import threading
from typing import TYPE_CHECKING, Literal

import psutil
import pytest

from parmap import parmap
from parmap._backends import warm as _warm
from parmap._backends.pool import _Wakeup
from parmap._backends.processes import ProcessBackend

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from pathlib import Path

#: Per-process count of functions unpickled, by name (see `Loaded`).
LOADS: dict[str, int] = {}


def _rebuild(name: str) -> Loaded:
    LOADS[name] = LOADS.get(name, 0) + 1
    return Loaded(name)


class Loaded:
    """A function that counts, in each worker, how often it was unpickled there."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (_rebuild, (self.name,))

    def __call__(self, _: int) -> tuple[int, int]:
        return os.getpid(), LOADS.get(self.name, 0)


def pid_of(_: object) -> int:
    return os.getpid()


def env_of(name: str) -> str | None:
    return os.environ.get(name)


def exit_on_3(x: int) -> int:
    if x == 3:
        os._exit(3)
    return os.getpid()


def interrupt_on_3(x: int) -> int:
    if x == 3:
        raise KeyboardInterrupt
    return os.getpid()


def hang_on_3(x: int) -> int:
    if x == 3:
        threading.Event().wait(60)  # the item hangs, it is not a sync
    return os.getpid()


def pids(items: int = 20, workers: int = 2) -> set[int]:
    """The pids of the workers that ran a call's items."""
    summary = parmap(pid_of, range(items), kind="cpu", workers=workers, batch_size=1)
    assert summary.ok
    return set(summary.results)  # type: ignore[arg-type]


def alive_processes(pids: Iterable[int]) -> list[psutil.Process]:
    """The processes of `pids` that still exist."""
    found = []
    for pid in pids:
        try:
            found.append(psutil.Process(pid))
        except psutil.NoSuchProcess:
            continue
    return found


def idle_workers() -> set[int]:
    """The pids of the workers of every idle pool."""
    pool = _warm.SHELF.idle()
    return set(pool._processes or {}) if pool is not None else set()  # noqa: SLF001


def test_a_second_call_reuses_the_workers() -> None:
    """Consecutive calls with the same worker count run on the same worker processes."""
    pids()
    pool = idle_workers()
    assert len(pool) == 2
    assert pids() <= pool
    assert idle_workers() == pool
    assert all(psutil.pid_exists(pid) for pid in pool)


def test_each_worker_count_has_its_own_pool() -> None:
    """A call asking for another number of workers never runs on more than it asked for."""
    pids(workers=2)
    assert len(pids(items=40, workers=1)) == 1


def test_a_function_is_unpickled_once_per_worker() -> None:
    """Shipped again by a later call, the same function is not unpickled again; another one is."""
    same = Loaded("same")
    runs = [parmap(same, range(30), kind="cpu", workers=2, batch_size=1) for _ in range(2)]
    loads = {pid: count for run in runs for pid, count in run.results}  # type: ignore[misc]
    assert set(loads.values()) == {1}
    other = parmap(Loaded("other"), range(30), kind="cpu", workers=2, batch_size=1)
    assert {count for _, count in other.results} == {1}  # type: ignore[misc]


def test_the_function_stops_travelling_once_every_worker_has_it() -> None:
    """Once every worker took the run's function, batches go without it, also in the next run."""
    ballast = b"x" * 1_000_000

    def fn(x: object) -> object:
        assert isinstance(x, int)
        return x + len(ballast)

    for _ in range(2):
        backend = ProcessBackend(fn, 1)
        try:
            sizes = []
            for batch in range(3):
                assert backend.unpack(backend.submit([batch]).result(timeout=30)).values == [
                    batch + len(ballast)
                ]
                sizes.append(backend.sent_bytes)
        finally:
            backend.close(cancel=False)
        assert sizes[-1] < 10_000, sizes


def test_workers_take_the_callers_current_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each call's workers see os.environ as it is at that call, also when reused."""
    monkeypatch.setenv("PARMAP_TEST_VALUE", "one")
    first = parmap(env_of, ["PARMAP_TEST_VALUE"] * 4, kind="cpu", workers=2)
    before = idle_workers()
    monkeypatch.setenv("PARMAP_TEST_VALUE", "two")
    second = parmap(env_of, ["PARMAP_TEST_VALUE"] * 4, kind="cpu", workers=2)
    assert first.results == ["one"] * 4
    assert second.results == ["two"] * 4
    assert idle_workers() == before


def live_children() -> list[psutil.Process]:
    """This process's descendants that are still running (not exited and waiting to be reaped)."""
    alive = []
    for child in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.NoSuchProcess):
            if child.status() != psutil.STATUS_ZOMBIE:
                alive.append(child)
    return alive


def test_idle_pools_do_not_pile_up_across_worker_counts() -> None:
    """After 30 runs of mixed kinds and worker counts, one pool's workers at most stay idle.

    Beside them only the fork server and the resource tracker remain, and the
    number of threads stops growing after the first runs.
    """
    counts = [1, 2, 3, 2]
    threads = 0
    for run in range(30):
        kind: Literal["io", "cpu"] = "io" if run % 3 == 0 else "cpu"
        summary = parmap(pid_of, range(8), kind=kind, workers=counts[run % len(counts)])
        assert summary.ok
        if run == len(counts):
            threads = threading.active_count()
    assert len(idle_workers()) <= max(counts)
    assert len(live_children()) <= max(counts) + 2
    assert threading.active_count() <= threads


def test_a_call_with_another_worker_count_replaces_the_idle_pool() -> None:
    """The idle pool of 2 workers is shut down when a call asks for 3, whose pool is kept."""
    two = alive_processes(pids(workers=2))
    three = pids(items=30, workers=3)
    _, alive = psutil.wait_procs(two, timeout=20)
    assert alive == []
    assert three <= idle_workers()
    assert len(idle_workers()) <= 3


def test_concurrent_calls_from_threads() -> None:
    """Several threads calling at once each get their own correct results."""
    barrier = threading.Barrier(3, timeout=30)
    results: dict[int, list[int | None]] = {}

    def call(offset: int) -> None:
        barrier.wait()
        for _ in range(3):
            summary = parmap(abs, range(-offset, -offset - 200, -1), kind="cpu", workers=2)
            results[offset] = summary.results

    threads = [threading.Thread(target=call, args=(1000 * n,)) for n in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert results == {1000 * n: list(range(1000 * n, 1000 * n + 200)) for n in range(3)}


def test_idle_workers_exit_after_the_idle_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    """Workers left idle exit once the idle timeout has passed."""
    monkeypatch.setattr(_warm, "IDLE_TIMEOUT", 0.2)
    workers = alive_processes(pids())
    _, alive = psutil.wait_procs(workers, timeout=20)
    assert alive == []


@pytest.mark.parametrize(
    ("fn", "timeout"),
    [(exit_on_3, None), (hang_on_3, 0.5), (interrupt_on_3, None)],
    ids=["crash", "timeout", "interrupt"],
)
def test_a_pool_that_lost_a_worker_is_not_reused(
    fn: Callable[[int], int], timeout: float | None
) -> None:
    """After a worker died, was killed for a timeout, or a run was interrupted: fresh workers."""
    pids()
    before = idle_workers()
    with contextlib.suppress(KeyboardInterrupt):
        parmap(fn, range(6), kind="cpu", workers=2, batch_size=1, timeout=timeout)
    assert pids().isdisjoint(before)


EXIT_SCRIPT = """
import os
from parmap import parmap

for _ in range(2):
    summary = parmap(lambda _: os.getpid(), range(20), kind="cpu", workers=2, batch_size=1)
    pids = set(summary.results)
print(" ".join(map(str, pids)), flush=True)
"""


def test_nothing_outlives_the_program(tmp_path: Path) -> None:
    """A script that ends with idle workers exits at once, and takes its workers with it."""
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent(EXIT_SCRIPT))
    proc = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=30,  # far less than the idle timeout: exiting does not wait for it
        env={**os.environ, "PYTHONPATH": ""},
        check=True,
    )
    workers = alive_processes(map(int, proc.stdout.split()))
    _, alive = psutil.wait_procs(workers, timeout=10)
    assert alive == []
    assert proc.stderr == ""


def where_am_i(_item: int) -> tuple[str, list[str]]:
    """The worker's working directory and import path."""
    return os.getcwd(), sys.path[:]  # noqa: PTH109 - compared as a str


def test_each_call_takes_the_callers_directory_and_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = parmap(where_am_i, [0], kind="cpu", workers=1).results[0]
    assert first is not None
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path / "extra"))
    second = parmap(where_am_i, [0], kind="cpu", workers=1).results[0]
    assert second is not None
    assert second[0] == str(tmp_path) != first[0]
    assert second[1][0] == str(tmp_path / "extra")


def test_the_manager_thread_is_woken_once_until_it_looks() -> None:
    """Batches submitted before the manager thread looked write its wake-up pipe only once."""
    wakeup = _Wakeup()
    reader = wakeup._reader  # noqa: SLF001 - the pipe is what is tested
    try:
        wakeup.wakeup()
        wakeup.wakeup()
        reader.recv_bytes()
        assert not reader.poll(0)
        wakeup.clear()  # the manager thread looks: the next batch wakes it again
        wakeup.wakeup()
        assert reader.poll(10)
    finally:
        wakeup.close()
