"""A process worker: its setup (`install`), the run's shipped job, and its entry point.

The parent sends each batch as bytes to `run_shipped_batch`, which unpickles
the run's job once per worker (cached by token), runs the batch with
`batch.run_batch`, and packs the result (`transport.pack_result`). Each worker
reports which batch and item it runs in its slot of shared memory, so the
parent can blame a dead or hung worker's item.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import signal
import sys
import threading
import time
from typing import TYPE_CHECKING, NamedTuple

import cloudpickle

from parmap._errors import TransportError

from .batch import ATTEMPT, POSITION, PROGRESS_FIELDS, STARTED, Policy, run_batch
from .role import mark_worker_process
from .transport import NotSent, pack_result

if TYPE_CHECKING:
    import ctypes
    from collections.abc import Callable
    from multiprocessing.synchronize import Lock

__all__ = [
    "SLOT_BATCH",
    "SLOT_FIELDS",
    "SLOT_PID",
    "SLOT_PROGRESS",
    "SLOT_STAMP",
    "Job",
    "Shipment",
    "install",
    "run_shipped_batch",
]


class Job(NamedTuple):
    """What a process worker needs to run a run's batches: the function and its policy."""

    fn: Callable[[object], object]
    policy: Policy | None


#: Jobs shipped to this process, by token (a digest of their pickled bytes), so that a
#: function shipped again (a later call with the same function) is not unpickled again.
_JOBS: dict[str, Job] = {}
#: How many shipped functions a worker keeps.
_CACHE_SIZE = 8


def install(
    shipment: Shipment,
    slots: ctypes.Array[ctypes.c_longlong] | None = None,
    slots_lock: Lock | None = None,
) -> None:
    """Initializer of parmap's own process pools: set the worker up, and take the run's job.

    Workers do not act on SIGINT: Ctrl-C in a terminal reaches the whole
    process group, and it is the parent's job to stop the run and its
    workers. A do-nothing handler rather than ``SIG_IGN``, so that programs
    that `fn` starts get the default back and still stop on Ctrl-C.

    With `slots` (shared memory, `SLOT_FIELDS` integers per worker), the
    worker claims a free slot and reports there which item of which batch
    it is running: a worker that dies or hangs is then blamed on its item.
    It also stamps there which shipment it took, so that the caller stops
    sending it once every worker has it.
    """
    global _slot  # noqa: PLW0603 - per-process state is the point
    mark_worker_process()
    _exit_with_parent()
    if slots is not None and slots_lock is not None:
        _slot = _claim_slot(slots, slots_lock)
    signal.signal(signal.SIGINT, _ignore_signal)
    _take(shipment)


class Shipment(NamedTuple):
    """What a run sends its process workers once each: the job, and the caller's environment.

    `token` names the job (a digest of `job_bytes`); `stamp` names the whole
    shipment, and a worker writes it in its slot once taken. `job_bytes` and
    `environ` are ``None`` in the batches sent once every worker has them.
    A worker takes the caller's environment variables, working directory and
    ``sys.path`` (`place`) as they are at the start of the run (its fork
    server, or its previous run, may be older).
    """

    token: str
    job_bytes: bytes | None
    environ: dict[str, str] | None
    stamp: int
    place: tuple[str, list[str]] | None = None


def _take(shipment: Shipment) -> Job:
    """Install a run's shipment in this worker (the job unpickled once per token)."""
    job = _JOBS.get(shipment.token)
    if job is None:
        if shipment.job_bytes is None:
            msg = (
                "this worker process was sent a batch without the function to run it with "
                "(a parmap bug, please report it); the run can be repeated"
            )
            raise TransportError(msg)
        job = _load(shipment.token, shipment.job_bytes)
    if shipment.environ is not None and os.environ != shipment.environ:
        os.environ.clear()
        os.environ.update(shipment.environ)
    if shipment.place is not None:
        directory, path = shipment.place
        if os.getcwd() != directory:  # noqa: PTH109 - compared as a str
            with contextlib.suppress(OSError):  # gone meanwhile: stay where the worker is
                os.chdir(directory)
        if sys.path != path:
            sys.path[:] = path
    if _slot is not None and shipment.stamp:
        _slot[SLOT_STAMP] = shipment.stamp
    return job


#: Fields of a worker's slot: its pid, the batch it runs, the stamp of the shipment it
#: took, then its progress (`POSITION`, ... from `SLOT_PROGRESS` on).
SLOT_PID = 0
SLOT_BATCH = 1
SLOT_STAMP = 2
SLOT_PROGRESS = 3
SLOT_FIELDS = SLOT_PROGRESS + PROGRESS_FIELDS
_slot: memoryview | None = None


def _claim_slot(slots: ctypes.Array[ctypes.c_longlong], lock: Lock) -> memoryview | None:
    """Take the first free slot (pid 0) for this process; ``None`` if none is free."""
    view = memoryview(slots).cast("B").cast("q")
    with lock:
        for first in range(0, len(view), SLOT_FIELDS):
            if view[first + SLOT_PID] == 0:
                slot = view[first : first + SLOT_FIELDS]
                slot[SLOT_BATCH] = -1
                slot[SLOT_STAMP] = 0
                slot[SLOT_PROGRESS + POSITION] = -1
                slot[SLOT_PROGRESS + ATTEMPT] = 1
                slot[SLOT_PROGRESS + STARTED] = time.monotonic_ns()
                slot[SLOT_PID] = os.getpid()
                return slot
    return None


def _exit_with_parent() -> None:
    """End this worker as soon as the process that started it is gone (even by ``kill -9``).

    A worker waits for work on a queue that it also holds open, so it would
    otherwise wait for ever once its parent died without stopping it.
    """
    import multiprocessing  # noqa: PLC0415 - `import parmap` must not import it

    parent = multiprocessing.parent_process()
    if parent is None:  # pragma: no cover - always set in a pool worker
        return

    def watch() -> None:
        parent.join()
        os._exit(1)

    threading.Thread(target=watch, name="parmap-parent-watch", daemon=True).start()


def _ignore_signal(signum: int, frame: object) -> None:
    """SIGINT in a worker: nothing to do, the parent stops the run."""


class _Unloadable:
    """Stands in for a function that could not be unpickled in the worker."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def __call__(self, item: object) -> object:  # noqa: ARG002 - fails whatever the item
        msg = (
            f"fn could not be loaded in the worker process: {type(self.error).__name__}: "
            f"{self.error}; make sure everything fn uses can be imported in a fresh "
            "interpreter, or use kind='io'"
        )
        raise RuntimeError(msg) from self.error


#: A Dask worker runs batches on several threads at once: they share `_JOBS`.
_JOBS_LOCK = threading.Lock()


def _load(token: str, job_bytes: bytes) -> Job:
    try:
        job: Job = cloudpickle.loads(job_bytes)
    except Exception as exc:  # noqa: BLE001 - reported per item, with the reason
        job = Job(_Unloadable(exc), None)
    with _JOBS_LOCK:
        while len(_JOBS) >= _CACHE_SIZE:
            del _JOBS[next(iter(_JOBS))]
        _JOBS[token] = job
    return job


def _fail_unsent(fn: Callable[[object], object]) -> Callable[[object], object]:
    def call(item: object) -> object:
        if isinstance(item, NotSent):
            raise TransportError(item.message)
        return fn(item)

    return call


def run_shipped_batch(payload: bytes, batch: int = -1) -> bytes:
    """Run one batch in a worker process: payload and result both travel as bytes.

    The payload is ``(shipment, items, has_unsent, batch, prior)``: the
    `Shipment` names the run's job (`fn` and its `Policy`), and carries it
    (with the caller's environment) until every worker of parmap's own pool
    has it; a caller's executor gets the job with every batch. A worker
    unpickles each job once. ``has_unsent`` says that some items are
    `NotSent` placeholders; `batch` numbers the batch for the progress slot;
    `prior` counts attempts already lost to a timeout, by position. The
    batch number also travels as a second argument, where the parent's pool
    can read it.
    """
    try:
        shipment, items, has_unsent, batch, prior = pickle.loads(payload)  # noqa: S301
    except Exception as exc:
        msg = (
            f"the items of this batch could not be unpickled in the worker process: "
            f"{type(exc).__name__}: {exc}; make sure the items' classes can be imported in a "
            "fresh interpreter (define them in a module, not in a function), or use kind='io'"
        )
        raise TransportError(msg) from exc
    job = _JOBS.get(shipment.token) if shipment.job_bytes is None else None
    if job is None:
        job = _take(shipment)
    fn = _fail_unsent(job.fn) if has_unsent else job.fn
    progress = None
    if _slot is not None:
        _slot[SLOT_BATCH] = batch
        progress = _slot[SLOT_PROGRESS:]
    return pack_result(run_batch(fn, items, policy=job.policy, progress=progress, prior=prior))
