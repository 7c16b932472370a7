"""Warm thread pools: later calls reuse the threads of earlier ones, never more than asked for."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import textwrap
import threading
import time
from typing import TYPE_CHECKING

import pytest

from parmap import imap, parmap
from parmap._backends import threadpool

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator


@pytest.fixture(autouse=True)
def _no_idle_pool() -> None:
    """Every test starts without an idle thread pool (and leaves none, see conftest)."""
    threadpool.SHELF.close()


def thread_of(_: object) -> int:
    return threading.get_ident()


@contextlib.contextmanager
def hanging_on(index: int) -> Iterator[Callable[[int], int]]:
    """A function that returns its item, except item `index`, which hangs until the block ends."""
    stuck = threading.Event()

    def job(x: int) -> int:
        if x == index:
            stuck.wait(30)  # the hung item, released on leaving the block; not a sync
        return x

    try:
        yield job
    finally:
        stuck.set()


class Concurrency:
    """Counts the items running at once, and the most seen; items wait on `release`."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.now = 0
        self.most = 0
        self.release = threading.Event()

    def __call__(self, _: object) -> int:
        with self.lock:
            self.now += 1
            self.most = max(self.most, self.now)
        try:
            self.release.wait(0.02)  # a short wait, so that items overlap; not a sync
        finally:
            with self.lock:
                self.now -= 1
        return threading.get_ident()


def test_a_second_call_runs_on_the_same_threads() -> None:
    """Consecutive calls with threads reuse the threads: none is started for the second."""
    assert parmap(thread_of, range(200), workers=4, batch_size=1).ok
    idle = threadpool.SHELF.idle()
    assert idle is not None
    pool_threads = {t.ident for t in threading.enumerate() if t.name.startswith("parmap_")}
    assert 0 < len(pool_threads) <= 4
    second = parmap(thread_of, range(200), workers=4, batch_size=1)
    assert second.ok
    assert set(second.results) <= pool_threads
    assert threadpool.SHELF.idle() is idle


def test_a_smaller_call_on_a_bigger_idle_pool_runs_no_more_items_at_once() -> None:
    """After a call on 16 threads, one asking for 3 never runs more than 3 items at once."""
    assert parmap(Concurrency(), range(64), workers=16, batch_size=1).ok
    narrow = Concurrency()
    summary = parmap(narrow, range(60), workers=3, batch_size=1)
    assert summary.ok
    assert narrow.most <= 3
    pool = threadpool.SHELF.idle()
    assert pool is not None
    assert pool.workers == 3


def test_every_worker_thread_starts() -> None:
    """Threads started in a tree still come to the full count: 40 items meet at a barrier."""
    barrier = threading.Barrier(40, timeout=20)
    summary = parmap(lambda _: barrier.wait(), range(40), workers=40, batch_size=1)
    assert summary.ok, summary.errors


def test_a_bigger_call_after_a_smaller_one_gets_its_threads() -> None:
    """A call for 30 threads after one for 2 has 30 items running at once."""
    assert parmap(thread_of, range(10), workers=2).ok
    barrier = threading.Barrier(30, timeout=20)
    assert parmap(lambda _: barrier.wait(), range(30), workers=30, batch_size=1).ok


def test_a_run_given_up_on_for_a_timeout_does_not_leave_its_pool() -> None:
    """A pool whose thread is stuck in an item that overran is not kept for the next run."""
    with hanging_on(0) as slow:
        summary = parmap(slow, range(4), workers=2, batch_size=1, timeout=0.3)
        assert summary.failed == 1
        assert threadpool.SHELF.idle() is None


def test_an_interrupted_run_does_not_leave_its_pool() -> None:
    """After Ctrl-C in an item, the pool is shut down, not kept."""

    def interrupt(x: int) -> int:
        if x == 5:
            raise KeyboardInterrupt
        return x

    with pytest.raises(KeyboardInterrupt):
        parmap(interrupt, range(20), workers=2, batch_size=1)
    assert threadpool.SHELF.idle() is None


def test_idle_threads_exit_after_the_idle_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    """Threads left idle exit once the idle timeout passed."""
    monkeypatch.setattr(threadpool, "IDLE_TIMEOUT", 0.1)
    before = threading.active_count()
    assert parmap(thread_of, range(50), workers=6, batch_size=1).ok
    deadline = time.monotonic() + 20
    while threadpool.SHELF.idle() is not None or threading.active_count() > before:
        assert time.monotonic() < deadline, "idle threads did not exit"
        threading.Event().wait(0.02)  # polling for an exit, bounded by the deadline


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_does_not_use_the_parents_idle_threads() -> None:
    """A child forked while a pool is idle starts its own threads (the parent's did not come)."""
    code = textwrap.dedent(
        """
        import os, sys
        from parmap import parmap
        from parmap._backends import threadpool
        assert parmap(abs, range(20), workers=3).ok
        assert threadpool.SHELF.idle() is not None
        pid = os.fork()
        if pid == 0:
            ok = threadpool.SHELF.idle() is None and parmap(abs, range(20), workers=3).ok
            os._exit(0 if ok else 1)
        _, status = os.waitpid(pid, 0)
        sys.exit(os.waitstatus_to_exitcode(status))
        """
    )
    done = subprocess.run([sys.executable, "-c", code], timeout=60, check=False)
    assert done.returncode == 0


def test_a_pool_grown_after_a_busy_run_starts_the_threads_it_needs() -> None:
    """After a run whose tasks often waited for a busy thread, a bigger run still gets all its.

    Each task queued while every thread was busy once left an idle count behind
    for good, so the next, bigger run took those for idle threads and started
    none: 15 items meeting at a barrier never met.
    """
    assert len(list(imap(thread_of, range(100), workers=10, batch_size=1))) == 100
    barrier = threading.Barrier(15, timeout=20)
    assert parmap(lambda _: barrier.wait(), range(15), workers=15, batch_size=1).ok


def test_a_timeout_on_one_thread_after_a_bigger_run_does_not_hang() -> None:
    """One thread, an item given up for its timeout: the rest of its batch still runs.

    The thread lent for the stuck item used to be taken back twice, leaving
    the pool with no thread at all and the run waiting for ever.
    """
    assert parmap(thread_of, range(200), workers=8, batch_size=1).ok
    with hanging_on(5) as job:
        summary = parmap(job, range(20), workers=1, batch_size=1, timeout=0.2)
        assert summary.failed == 1
        assert summary.succeeded == 19
