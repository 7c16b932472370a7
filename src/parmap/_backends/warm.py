"""Warm process pools: workers started by one call serve the next calls of the program.

::

    call ──lease(workers)──▶ the idle pool, if it is healthy and of that size; else a new one
      │                      (an idle pool of another size is shut down: one idle pool at most)
      │ (the run uses the pool alone)       ▲
      │                                     │ give_back: healthy ─▶ idle, for IDLE_TIMEOUT s,
      ▼                                     │   replacing any pool idle before; else shut down
    call ends ──────────────────────────────┘

    reaper thread: shuts down a pool idle for IDLE_TIMEOUT s, then exits (see `Shelf`)
    interpreter exit: concurrent.futures stops every pool's workers (its own exit hook)

A pool is lent to one run at a time, never shared by two runs at once: a
run's Ctrl-C, early stop or timeout kills its pool's workers, which must not
cost another run its items, and the pool's crash attribution and watchdog
follow one run's batches. A second run while the first is going starts a
pool of its own.

At most one pool is kept idle (a `Shelf` holds one): idle workers hold memory and
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

from parmap._worker.process import install

from .pool import ProcessPool
from .shelf import Shelf

__all__ = ["SHELF", "close_all", "give_back", "lease", "start"]

#: Seconds an idle pool keeps its workers before they exit. Long enough to bridge the
#: loops of a script (a cold start costs ~0.1 s of every call otherwise), short enough
#: that idle workers, and the memory they hold, do not linger for minutes.
IDLE_TIMEOUT = 60.0

#: Where the idle process pool waits (read `IDLE_TIMEOUT` at each give-back: tests shorten it).
SHELF: Shelf[ProcessPool] = Shelf("parmap-pool-reaper", lambda: IDLE_TIMEOUT)


def start(workers: int) -> ProcessPool:
    """A fresh pool of `workers` workers (started lazily), never an idle one."""
    return ProcessPool(workers, initializer=install)


def lease(workers: int) -> ProcessPool:
    """A pool of `workers` workers for one run: the idle one if it fits and is healthy, else new.

    An idle pool of another size, or found unhealthy (a worker killed while
    idle, say), is shut down before the new pool starts, so that idle pools
    never pile up.
    """
    found = SHELF.lease(lambda pool: pool.workers == workers)
    return found if found is not None else start(workers)


def give_back(pool: ProcessPool) -> None:
    """Keep `pool` idle for the next run if it is healthy; otherwise shut it down."""
    SHELF.give_back(pool)


def close_all() -> None:
    """Shut the idle pools down, process and thread pools both, and wait for their workers."""
    from . import threadpool  # noqa: PLC0415 - a leaf, loaded by every run already

    SHELF.close()
    threadpool.SHELF.close()
