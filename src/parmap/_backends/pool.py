"""ProcessPoolExecutor, extended to survive a worker's death and to stop a hung item.

::

    worker ──writes──▶ its slot of shared memory: pid, batch, position, attempt start
                                   │
    watchdog thread ──reads────────┤ an attempt older than `timeout`: kill that worker
                                   │
    manager thread ──on a death────┘ blame the item in the dead worker's slot: fail its
                                     future with ``LostItem``, start one new worker, go on

A stock ProcessPoolExecutor treats any dead worker as a broken pool: every
pending future fails and every other worker is terminated. Here, when the
worker died while running an item (its slot says which), only that batch's
future fails, with `LostItem` naming the item, and one replacement worker
starts; the other workers never notice. A worker that died anywhere else
(between items, where it may have held a queue's lock) still breaks the pool
the stock way, and the dispatcher starts a fresh one.

The manager thread is CPython's own (``_ExecutorManagerThread``), with one
method extended; its code is the same in Python 3.11, 3.12 and 3.13.

A pool outlives a run (`warm` lends it to one run at a time): `begin`
gives it the run's shipment (what workers started during the run take in
their initializer) and its timeout (a watchdog for the run), `end` stops
that watchdog. A pool where a worker died or was killed is marked
`damaged`, and is never lent again.
"""

from __future__ import annotations

import contextlib
import gc
import itertools
import os
import signal
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures import process as _cf_process
from typing import TYPE_CHECKING, Any

from parmap._worker.batch import ATTEMPT, POSITION, STARTED
from parmap._worker.process import (
    SLOT_BATCH,
    SLOT_FIELDS,
    SLOT_PID,
    SLOT_PROGRESS,
    SLOT_STAMP,
    Shipment,
)
from parmap._worker.records import LostItem

from .context import clean_context, start_server

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["ProcessPool"]

#: Seconds to wait for killed worker processes to be reaped.
_REAP_TIMEOUT = 5.0
#: Slots beyond the worker count, for replacements started before a dead worker's slot is freed.
_SPARE_SLOTS = 2


class _Manager(_cf_process._ExecutorManagerThread):  # noqa: SLF001
    """CPython's manager thread, which asks the pool to recover before calling it broken."""

    def wait_result_broken_or_wakeup(self) -> tuple[Any, bool, Any]:
        outcome: tuple[Any, bool, Any] = super().wait_result_broken_or_wakeup()
        result_item, is_broken, cause = outcome
        if is_broken and cause is None and not self.is_shutting_down():
            pool = self.executor_reference()
            if isinstance(pool, ProcessPool) and pool.recover(self.pending_work_items):
                return None, False, None
        return result_item, is_broken, cause

    def terminate_broken(self, cause: Any) -> None:  # noqa: ANN401 - CPython's own signature
        """Drop cancelled work first: Python 3.11 would fail setting an exception on it.

        (3.12 fixed this, gh-94777; without it, the manager thread dies halfway
        through and leaves worker processes behind.)
        """
        for work_id, work_item in list(self.pending_work_items.items()):
            if work_item.future.cancelled():
                self.pending_work_items.pop(work_id, None)
        super().terminate_broken(cause)


class _Wakeup(_cf_process._ThreadWakeup):  # noqa: SLF001
    """The manager thread's wake-up pipe, written once per wake-up rather than once per batch.

    Each write lets go of the GIL, and getting it back from a busy thread
    costs up to a switch interval (5 ms): over a stream of small batches that
    was a third of the run. The manager thread reads the pipe empty and then
    looks at every batch submitted so far, so a second write before it did
    adds nothing.
    """

    def __init__(self) -> None:
        super().__init__()
        self._pending = False

    def wakeup(self) -> None:
        if not self._pending:
            self._pending = True
            super().wakeup()

    def clear(self) -> None:
        self._pending = False  # first: a batch submitted from now on writes again
        super().clear()


#: Whether a pool was shut down since the last `_collect_retired`.
_retired = False


def _collect_retired() -> None:
    """Free the pools shut down before, now, rather than whenever the collector runs.

    A pool's queues hold multiprocessing semaphores in reference cycles. When
    the cyclic collector happens to free them while this process is inside a
    call to the resource tracker (as a new pool registers its own), their
    finalizers call back into it: Python 3.13.0 then reports a
    ``ReentrantCallError`` as an exception ignored in a finalizer (CPython
    gh-109629). Collecting before a new pool is made keeps the two apart.
    """
    global _retired  # noqa: PLW0603 - see above
    if _retired:
        _retired = False
        gc.collect()


class ProcessPool(ProcessPoolExecutor):
    """A ProcessPoolExecutor of clean-start workers that blames a death on its item."""

    def __init__(self, workers: int, initializer: Callable[..., object]) -> None:
        """Start (lazily) `workers` workers; each runs ``initializer(shipment, slots, lock)``.

        The fork server is started first, so that it boots while the pool's
        queues and shared memory are made here.
        """
        _collect_retired()
        context = clean_context()
        start_server()
        self.workers = workers
        self.slots = context.RawArray("q", (workers + _SPARE_SLOTS) * SLOT_FIELDS)
        self._slots_lock = context.Lock()
        self._view = memoryview(self.slots).cast("B").cast("q")
        self.timed_out: dict[int, tuple[int, int, int]] = {}  # pid -> what it ran when killed
        self.damaged = False  # a worker died or was killed: never lend this pool again
        self.batch_numbers = itertools.count()  # unique in the pool, across runs
        super().__init__(
            workers,
            mp_context=context,
            initializer=initializer,
            initargs=(None, self.slots, self._slots_lock),
        )
        wakeup = _Wakeup()
        self._executor_manager_thread_wakeup.close()
        self._executor_manager_thread_wakeup = wakeup
        self._call_queue.thread_wakeup = wakeup  # type: ignore[attr-defined]  # CPython's own
        self._watchdog: threading.Thread | None = None
        self._watch_stop = threading.Event()
        self._stopping = threading.Event()

    def begin(self, shipment: Shipment, timeout: float | None) -> None:
        """Start a run: workers started from now on take `shipment`; watch for `timeout`."""
        self._initargs = (shipment, self.slots, self._slots_lock)
        self.timed_out.clear()
        self._watch_stop = threading.Event()
        self._watchdog = None
        if timeout is not None:
            self._watchdog = threading.Thread(
                target=self._watch,
                args=(timeout, self._watch_stop),
                name="parmap-watchdog",
                daemon=True,
            )
            self._watchdog.start()

    def end(self) -> None:
        """End a run: stop its watchdog."""
        self._watch_stop.set()
        if self._watchdog is not None:
            self._watchdog.join(_REAP_TIMEOUT)
            self._watchdog = None

    def stamped(self, stamp: int) -> bool:
        """Whether every worker of the pool has taken the shipment stamped `stamp`.

        A worker still starting (no slot claimed yet) has not: a batch sent
        before it has claimed one still carries the shipment.
        """
        processes = self._processes
        if not processes:
            return False
        for pid in list(processes):
            slot = self._slot_of(pid)
            if slot is None or slot[SLOT_STAMP] != stamp:
                return False
        return True

    def reusable(self) -> bool:
        """Whether this pool can serve another run as it is: no death, kill, breakage or work."""
        thread = getattr(self, "_executor_manager_thread", None)
        processes = self._processes
        return (
            not self.damaged
            and not self._broken
            and not self._shutdown_thread
            and not self._stopping.is_set()
            and not self._pending_work_items
            and (thread is None or thread.is_alive())
            and processes is not None
            and all(p.exitcode is None for p in list(processes.values()))
        )

    def _start_executor_manager_thread(self) -> None:
        # CPython's own method, with our manager thread class.
        if getattr(self, "_executor_manager_thread", None) is None:
            manager = _Manager(self)
            manager.start()
            self._executor_manager_thread = manager  # type: ignore[assignment]  # typeshed's slip
            _cf_process._threads_wakeups[manager] = self._executor_manager_thread_wakeup  # noqa: SLF001

    def _slot_of(self, pid: int) -> memoryview | None:
        view = self._view
        for first in range(0, len(view), SLOT_FIELDS):
            if view[first + SLOT_PID] == pid:
                return view[first : first + SLOT_FIELDS]
        return None

    def recover(self, pending: dict[int, Any]) -> bool:
        """Called by the manager thread when a worker died: blame its item, replace it.

        Returns ``False`` (the pool is then broken the stock way) when the
        death cannot be pinned on an item, when it happened between items, or
        when the pool is shutting down. Never raises: a surprise here must
        not kill the manager thread, which would leave futures pending.
        """
        try:
            with self._shutdown_lock:
                return self._recover_locked(pending)
        except Exception:  # noqa: BLE001 - fall back to the stock behaviour
            return False

    def _recover_locked(self, pending: dict[int, Any]) -> bool:
        processes = self._processes
        if processes is None or self._stopping.is_set() or self._shutdown_thread:
            return False
        dead = [p for p in list(processes.values()) if p.exitcode is not None]
        blamed: list[tuple[Any, int, LostItem]] = []
        for process in dead:
            slot = self._slot_of(process.pid) if process.pid is not None else None
            if slot is None or slot[SLOT_PROGRESS + POSITION] < 0:
                return False
            batch = slot[SLOT_BATCH]
            work_id = next((k for k, w in list(pending.items()) if w.args[1:] == (batch,)), None)
            if work_id is None:
                return False
            state = (
                batch,
                slot[SLOT_PROGRESS + POSITION],
                slot[SLOT_PROGRESS + ATTEMPT],
            )
            killed_for = self.timed_out.get(process.pid or 0)
            lost = LostItem(
                state[1],
                state[2],
                process.exitcode,
                timed_out=killed_for is not None,
                innocent=killed_for is not None and killed_for != state,
            )
            blamed.append((process, work_id, lost))
        if not blamed:
            return False
        self.damaged = True
        for process, work_id, lost in blamed:
            slot = self._slot_of(process.pid) if process.pid is not None else None
            if slot is not None:
                slot[SLOT_PID] = 0
            del processes[process.pid]
            process.join(_REAP_TIMEOUT)
            self.timed_out.pop(process.pid, None)
            pending.pop(work_id).future.set_exception(lost)
            self._spawn_process()  # type: ignore[attr-defined]
        return True

    def stalled(self) -> bool:
        """Whether the pool stopped processing results without saying so (a dead manager)."""
        thread = getattr(self, "_executor_manager_thread", None)
        return (
            isinstance(thread, threading.Thread)
            and not thread.is_alive()
            and not self._stopping.is_set()
        )

    def _watch(self, timeout: float, stop: threading.Event) -> None:
        """Kill the worker of any attempt that has run longer than `timeout` seconds.

        What the worker was running when it was killed is remembered, so that
        a kill that lands just after the item finished blames nobody.
        """
        limit = int(timeout * 1e9)
        interval = min(max(timeout / 10, 0.01), 0.25)
        view = self._view
        fields = SLOT_FIELDS
        while not stop.wait(interval) and not self._stopping.is_set():
            now = time.monotonic_ns()
            for first in range(0, len(view), fields):
                slot = view[first : first + fields]
                pid, started = slot[SLOT_PID], slot[SLOT_PROGRESS + STARTED]
                state = (
                    slot[SLOT_BATCH],
                    slot[SLOT_PROGRESS + POSITION],
                    slot[SLOT_PROGRESS + ATTEMPT],
                )
                if pid == 0 or state[1] < 0 or now - started <= limit or pid in self.timed_out:
                    continue
                self.timed_out[pid] = state
                self.damaged = True
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    self.timed_out.pop(pid, None)

    def kill_workers(self) -> None:
        """Cancel pending work and kill every worker process, then reap them.

        The processes dict itself is kept (not a copy), and swept twice, so
        that a replacement worker started while stopping is killed too.
        """
        self._stopping.set()
        self.damaged = True
        self.end()
        with self._shutdown_lock:
            live: Any = self._processes if self._processes is not None else {}
        thread = getattr(self, "_executor_manager_thread", None)  # shutdown() forgets it
        self.shutdown(wait=False, cancel_futures=True)
        killed: dict[int, Any] = {}
        for _ in range(2):
            for pid, proc in list(live.items()):
                if pid in killed:
                    continue
                killed[pid] = proc
                with contextlib.suppress(ProcessLookupError, ValueError):  # gone, or closed
                    proc.kill()
            for proc in killed.values():
                with contextlib.suppress(AssertionError, ValueError):  # a closed process object
                    proc.join(_REAP_TIMEOUT)
        if isinstance(thread, threading.Thread):
            thread.join(_REAP_TIMEOUT)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:  # noqa: FBT001, FBT002 - Executor's signature
        """Stop the watchdog, then shut down as ProcessPoolExecutor does."""
        global _retired  # noqa: PLW0603 - one flag per process, see _collect_retired
        _retired = True
        self._stopping.set()
        self.end()
        super().shutdown(wait=wait, cancel_futures=cancel_futures)
