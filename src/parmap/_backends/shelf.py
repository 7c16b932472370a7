"""A shelf for one idle pool: what a run gives back waits there for the next run, for a while.

::

    run ──lease(fits)──▶ the idle pool, if it fits and is healthy; else None (start a new one)
     │                   (an idle pool that does not fit is shut down: one idle pool at most)
     │                                     ▲
     ▼                                     │ give_back: healthy ─▶ idle for `idle_timeout` s,
    run ends ──────────────────────────────┘   replacing the pool idle before; else shut down

    reaper thread: shuts down a pool idle past its deadline, then exits when none is left
    fork: a child forgets the parent's idle pool (its threads did not come along)

A pool is lent to one run at a time, never shared by two runs at once. The
process pools (`parmap._backends.warm`) and the thread pools
(`parmap._backends.threadpool`) each have a shelf of their own.
"""

from __future__ import annotations

import os
import threading
import time
from typing import TYPE_CHECKING, Generic, Protocol, TypeVar

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["Pooled", "Shelf"]


class Pooled(Protocol):
    """What a shelf keeps: a pool that can say whether it is fit for reuse, and be shut down."""

    def reusable(self) -> bool:
        """Whether the pool can serve another run."""
        ...

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:  # noqa: FBT001, FBT002 - Executor's signature
        """Stop the pool's workers."""
        ...


P = TypeVar("P", bound=Pooled)


class Shelf(Generic[P]):
    """At most one idle pool, shut down once idle for longer than ``idle_timeout()`` seconds.

    Examples:
        >>> from parmap._backends.threadpool import DaemonThreadPool
        >>> shelf = Shelf("example", lambda: 60.0)
        >>> pool = DaemonThreadPool(2)
        >>> shelf.give_back(pool)
        >>> shelf.lease(lambda idle: True) is pool
        True
        >>> shelf.lease(lambda idle: True) is None
        True
        >>> pool.shutdown()
    """

    def __init__(self, name: str, idle_timeout: Callable[[], float]) -> None:
        """An empty shelf; `name` names its reaper; `idle_timeout` is read at each give-back."""
        self._name = name
        self._idle_timeout = idle_timeout
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        #: The idle pool, with the time.monotonic() after which it is shut down.
        self._idle: tuple[float, P] | None = None
        self._reaper: threading.Thread | None = None
        #: The deadline the reaper waits for, while it waits (under `_lock`).
        self._reaper_waits_until: float | None = None
        self._inherited: list[P] = []  # a forked child's copy of the parent's idle pool
        os.register_at_fork(after_in_child=self._forget)

    def idle(self) -> P | None:
        """The idle pool, if any (for tests and diagnostics)."""
        entry = self._idle
        return None if entry is None else entry[1]

    def lease(self, fits: Callable[[P], bool]) -> P | None:
        """Take the idle pool if `fits` says it does and it is healthy; else shut it down."""
        with self._lock:
            entry, self._idle = self._idle, None
        if entry is None:
            return None
        pool = entry[1]
        if fits(pool) and pool.reusable():
            return pool
        pool.shutdown(wait=True, cancel_futures=True)
        return None

    def give_back(self, pool: P) -> None:
        """Keep `pool` idle for the next run if it is healthy; otherwise shut it down.

        A pool idle before is shut down: the one given back last is the one kept.
        """
        if not pool.reusable():
            pool.shutdown(wait=True, cancel_futures=True)
            return
        with self._lock:
            deadline = time.monotonic() + self._idle_timeout()
            evicted, self._idle = self._idle, (deadline, pool)
            if self._reaper is None:
                self._reaper = threading.Thread(target=self._reap, name=self._name, daemon=True)
                self._reaper.start()
            elif self._reaper_waits_until is None or deadline < self._reaper_waits_until:
                # A reaper waiting for an earlier deadline finds the new one when it wakes:
                # waking it at every give-back cost a thread switch per call.
                self._wake.notify()
        if evicted is not None:
            evicted[1].shutdown(wait=True, cancel_futures=True)

    def close(self) -> None:
        """Shut the idle pool down and wait for its workers to exit (and the reaper to end)."""
        with self._lock:
            entry, self._idle = self._idle, None
            reaper = self._reaper
            self._wake.notify()
        if entry is not None:
            entry[1].shutdown(wait=True, cancel_futures=True)
        if reaper is not None and reaper is not threading.current_thread():
            reaper.join()

    def _reap(self) -> None:
        """Shut down the pool idle past its deadline; end once no pool is idle."""
        while True:
            with self._lock:
                entry = self._idle
                if entry is None:
                    self._reaper = None
                    return
                wait = entry[0] - time.monotonic()
                if wait > 0:
                    self._reaper_waits_until = entry[0]
                    self._wake.wait(wait)
                    self._reaper_waits_until = None
                    continue
                self._idle = None
            entry[1].shutdown(wait=True, cancel_futures=True)

    def _forget(self) -> None:
        """In a forked child: the parent's idle pool is not ours to use or stop."""
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        if self._idle is not None:
            self._inherited.append(self._idle[1])
        self._idle = None
        self._reaper = None
        self._reaper_waits_until = None
