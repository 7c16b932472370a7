"""Warm process pools: workers started by one call serve the next calls of the program.

::

    call ──lease(workers)──▶ the idle pool, if it is healthy and of that size; else a new one
      │                      (an idle pool of another size is shut down: one idle pool at most)
      │ (the run uses the pool alone)       ▲
      │                                     │ give_back: healthy ─▶ idle, for IDLE_TIMEOUT s,
      ▼                                     │   replacing any pool idle before; else shut down
    call ends ──────────────────────────────┘

    reaper thread: shuts down pools idle for IDLE_TIMEOUT s, then exits when none is left
    interpreter exit: concurrent.futures stops every pool's workers (its own exit hook)

A pool is lent to one run at a time, never shared by two runs at once: a
run's Ctrl-C, early stop or timeout kills its pool's workers, which must not
cost another run its items, and the pool's crash attribution and watchdog
follow one run's batches. A second run while the first is going starts a
pool of its own.

At most one pool is kept idle (`MAX_IDLE`): idle workers hold memory and
processes, and a program that asks for different worker counts in turn
must not collect a pool of each. A run that asks for another count than
the idle pool's has that pool shut down and starts its own (a pool of more
workers would run more items at once than the run asked for); the pool
given back last is the one kept.

A pool is kept only when nothing went wrong in its run: a worker that died,
a worker killed for a timeout, a run stopped early or by Ctrl-C, a broken
or stalled pool: each discards the pool (its workers are stopped) and the
next run starts a fresh one.
"""

from __future__ import annotations

import os
import threading
import time

from parmap._worker.process import install

from .pool import ProcessPool

__all__ = ["close_all", "give_back", "lease", "start"]

#: Seconds an idle pool keeps its workers before they exit. Long enough to bridge the
#: loops of a script (a cold start costs ~0.1 s of every call otherwise), short enough
#: that idle workers, and the memory they hold, do not linger for minutes.
IDLE_TIMEOUT = 60.0
#: Idle pools kept at most: the one the last run gave back.
MAX_IDLE = 1

_lock = threading.Lock()
_wake = threading.Condition(_lock)
#: Idle pools, oldest first, each with the time.monotonic() after which it is shut down.
_idle: list[tuple[float, ProcessPool]] = []
_reaper: threading.Thread | None = None


def start(workers: int) -> ProcessPool:
    """A fresh pool of `workers` workers (started lazily), never an idle one."""
    return ProcessPool(workers, initializer=install)


def lease(workers: int) -> ProcessPool:
    """A pool of `workers` workers for one run: the idle one if it fits and is healthy, else new.

    An idle pool of another size, or found unhealthy (a worker killed while
    idle, say), is shut down before the new pool starts, so that idle pools
    never pile up.
    """
    found: ProcessPool | None = None
    stale: list[ProcessPool] = []
    with _lock:
        while _idle:
            pool = _idle.pop()[1]
            if found is None and pool.workers == workers and pool.reusable():
                found = pool
            else:
                stale.append(pool)
    _shut_down(stale)
    return found if found is not None else start(workers)


def give_back(pool: ProcessPool) -> None:
    """Keep `pool` idle for the next run if it is healthy; otherwise shut it down."""
    global _reaper  # noqa: PLW0603 - the one reaper thread of the process
    if not pool.reusable():
        _shut_down([pool])
        return
    with _lock:
        _idle.append((time.monotonic() + IDLE_TIMEOUT, pool))
        evicted = [entry[1] for entry in _idle[:-MAX_IDLE]]
        del _idle[:-MAX_IDLE]
        if _reaper is None:
            _reaper = threading.Thread(target=_reap, name="parmap-pool-reaper", daemon=True)
            _reaper.start()
        _wake.notify()
    _shut_down(evicted)


def close_all() -> None:
    """Shut every idle pool down and wait for its workers to exit (and the reaper to end)."""
    with _lock:
        pools = [entry[1] for entry in _idle]
        _idle.clear()
        reaper = _reaper
        _wake.notify()
    _shut_down(pools)
    if reaper is not None and reaper is not threading.current_thread():
        reaper.join()


def _reap() -> None:
    """Shut down pools idle past their deadline; end once no pool is idle."""
    global _reaper  # noqa: PLW0603 - the one reaper thread of the process
    while True:
        with _lock:
            if not _idle:
                _reaper = None
                return
            now = time.monotonic()
            expired = [entry[1] for entry in _idle if entry[0] <= now]
            if not expired:
                _wake.wait(min(entry[0] for entry in _idle) - now)
                continue
            _idle[:] = [entry for entry in _idle if entry[0] > now]
        _shut_down(expired)


def _shut_down(pools: list[ProcessPool]) -> None:
    for pool in pools:
        pool.shutdown(wait=True, cancel_futures=True)


#: Pools of the parent, seen from a forked child: kept referenced, never used or stopped.
_inherited: list[ProcessPool] = []


def _forget() -> None:
    """In a forked child: the parent's pools are not ours to use or stop."""
    global _lock, _wake, _reaper  # noqa: PLW0603 - reset after fork
    _lock = threading.Lock()
    _wake = threading.Condition(_lock)
    _inherited.extend(entry[1] for entry in _idle)
    _idle.clear()
    _reaper = None


os.register_at_fork(after_in_child=_forget)
