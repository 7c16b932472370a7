"""What runs inside a worker: run one batch, capture each item's outcome.

Everything here is a top-level function, so process workers find it by name.
A failing item never costs its neighbours: each call is caught on its own,
and in a process worker each exception and result is made transportable on
its own, so one unpicklable value fails only its item.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import random
import signal
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from types import CoroutineType
from typing import TYPE_CHECKING, NamedTuple

import cloudpickle

from ._coroutines import refuse_coroutines
from ._errors import RemoteError, TransportError

if TYPE_CHECKING:
    import ctypes
    from collections.abc import Callable, Iterator, MutableSequence, Sequence
    from multiprocessing.synchronize import Lock

    from ._rate import Pacer

    #: Where a worker reports its progress: a slot of shared memory, or a list.
    Progress = MutableSequence[int] | memoryview

__all__ = [
    "BatchResult",
    "Failure",
    "Job",
    "LostItem",
    "NotSent",
    "Policy",
    "Shipment",
    "StopFlag",
    "in_worker_process",
    "install",
    "run_batch",
    "run_shipped_batch",
    "unpack",
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
_in_worker_process = False


@dataclass(slots=True)
class Failure:
    """One item's exception, in a form that can travel between processes."""

    position: int
    type_name: str
    message: str
    traceback: str
    exception: Exception | None
    pickled: bytes | None = None
    attempts: int = 1


@dataclass(slots=True)
class BatchResult:
    """What one batch produced.

    ``values`` has one entry per item that was run (``None`` where it failed);
    it is shorter than the batch when the batch stopped early: `fatal` holds
    the ``KeyboardInterrupt``/``SystemExit`` that stopped it, or the run was
    being cancelled.
    """

    values: list[object]
    failures: list[Failure] = field(default_factory=list)
    seconds: float = 0.0
    fatal: BaseException | None = None


class LostItem(Exception):  # noqa: N818 - an internal signal between the pool and the dispatcher
    """A batch's worker died (or was killed for a timeout) while running one of its items."""

    def __init__(
        self,
        position: int,
        attempt: int,
        exitcode: int | None,
        *,
        timed_out: bool,
        innocent: bool = False,
    ) -> None:
        """Record which item of the batch, which attempt, and how the worker ended.

        `innocent`: the worker was killed for a timeout just after the item
        that overran had finished, so no item is to blame.
        """
        super().__init__(position, attempt, exitcode, timed_out)
        self.position = position
        self.attempt = attempt
        self.exitcode = exitcode
        self.timed_out = timed_out
        self.innocent = innocent


def qualified_name(cls: type) -> str:
    """``module.Qual.Name`` of a class; builtins stay bare (``ValueError``)."""
    module = cls.__module__
    if module == "builtins":
        return cls.__qualname__
    return f"{module}.{cls.__qualname__}"


#: Modules whose frames start an item's traceback: they called `fn`, the user's code did not.
_OWN_MODULES = frozenset({__name__, "parmap._asyncio"})


def describe(position: int, exc: Exception, attempts: int = 1) -> Failure:
    """Record an exception raised by an item's call, traceback formatted without our frames.

    The exception keeps no traceback objects afterwards (its chained causes
    neither): the text is in ``Failure.traceback``. A traceback object keeps
    every frame of the call alive, and through them the whole batch the
    call was part of; over a long run that would add up.
    """
    tb = exc.__traceback__
    frames = tb
    while frames is not None and frames.tb_frame.f_globals.get("__name__") in _OWN_MODULES:
        frames = frames.tb_next
    if frames is None:  # raised by parmap itself: show where
        frames = tb
    try:
        message = str(exc)
    except Exception:  # noqa: BLE001 - a broken __str__ must not cost the batch
        message = f"<{type(exc).__qualname__} whose str() raised>"
    try:
        text = "".join(traceback.TracebackException(type(exc), exc, frames).format())
    except Exception:  # noqa: BLE001 - likewise for a broken __str__ met while formatting
        text = f"{qualified_name(type(exc))}: {message}\n"
    del tb, frames
    _drop_tracebacks(exc)
    return Failure(
        position=position,
        type_name=qualified_name(type(exc)),
        message=message,
        traceback=text,
        exception=exc,
        attempts=attempts,
    )


def _drop_tracebacks(exc: BaseException) -> None:
    """Detach the traceback objects of `exc` and of every exception chained to it."""
    seen: set[int] = set()
    pending: list[BaseException | None] = [exc]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        current.__traceback__ = None
        pending.extend((current.__cause__, current.__context__))


class StopFlag:
    """Tells the batches running on threads to stop before their next item.

    A plain attribute, not a `threading.Event`: it is read once per item, and
    an attribute read costs a fraction of a method call.
    """

    __slots__ = ("stopped",)

    def __init__(self) -> None:
        """A flag that is not set."""
        self.stopped = False

    def set(self) -> None:
        """Ask running batches to stop."""
        self.stopped = True


@dataclass(frozen=True, slots=True)
class Policy:
    """What a worker does about a failing item: how often and when to try it again."""

    retries: int = 0
    retry_on: tuple[type[Exception], ...] = (Exception,)
    backoff: float = 0.0
    timed: bool = False  # whether each attempt's start time is reported (a timeout is set)
    pace: Pacer | None = None  # rate=: each attempt waits for its turn

    def delay(self, attempt: int) -> float:
        """Seconds to wait before attempt number `attempt` + 1: full jitter, exponential base.

        Examples:
            >>> Policy(backoff=0).delay(3)
            0.0
            >>> 0 <= Policy(backoff=0.5).delay(3) <= 2.0
            True
        """
        if self.backoff <= 0:
            return 0.0
        return random.uniform(0, self.backoff * 2 ** (attempt - 1))  # noqa: S311 - jitter


#: Fields of a worker's progress record (a slot of shared memory, or a list on threads).
POSITION = 0  # position in the batch of the item being run, -1 when between batches
STARTED = 1  # time.monotonic_ns() when its current attempt started
ATTEMPT = 2  # which attempt of it is running (1 = the first)
PROGRESS_FIELDS = 3


def run_batch(
    fn: Callable[[object], object],
    items: Sequence[object],
    stop: StopFlag | None = None,
    *,
    policy: Policy | None = None,
    progress: Progress | None = None,
    prior: dict[int, int] | None = None,
) -> BatchResult:
    """Call `fn` on each item in turn, catching each item's `Exception` on its own.

    A ``KeyboardInterrupt``, ``SystemExit`` or other `BaseException` stops
    the batch and is returned as ``fatal``, with the values so far. When
    `stop` is set, the batch stops before its next item.

    Args:
        fn: The function.
        items: The batch.
        stop: Set from outside to stop before the next item (threads).
        policy: Retries and backoff; ``None`` for one attempt per item.
        progress: Where to report which item runs, and since when (`POSITION`,
            `STARTED`, `ATTEMPT`), so that the caller's process can tell which item
            a dead or hung worker was running.
        prior: Attempts already made (and lost to a timeout) by position.

    Returns:
        The values (``None`` where an item failed), failures, and timing.
    """
    start = time.perf_counter()
    if (
        policy is None or (not policy.retries and not policy.timed and policy.pace is None)
    ) and not prior:
        result = _run_plain(fn, items, stop, progress)
    else:
        result = _run_tracked(
            fn, items, stop, policy=policy or Policy(), progress=progress, prior=prior or {}
        )
    result.seconds = time.perf_counter() - start
    values = result.values
    if values and (
        type(values[0]) is CoroutineType
        or (len(values) <= _SCAN_ALL and CoroutineType in map(type, values))
    ):
        refuse_coroutines(result, describe)
    return result


#: Batches up to this size are searched whole for coroutines returned by a plain `fn`;
#: bigger ones (of tiny items, where a search would cost ~30% of the run) by their first
#: value, which finds a function that always returns one.
_SCAN_ALL = 256


def _run_plain(
    fn: Callable[[object], object],
    items: Sequence[object],
    stop: StopFlag | None,
    progress: Progress | None = None,
) -> BatchResult:
    """The hot path: one attempt per item, at most the item's position reported.

    The loop runs inside one ``try`` that is re-entered after each failure:
    on Python 3.11+ a ``try`` costs nothing until something raises, so a
    batch of tiny items pays no per-item price for the safety net.
    """
    values: list[object] = []
    append = values.append
    failures: list[Failure] = []
    remaining = iter(items)
    if progress is not None:
        progress[ATTEMPT] = 1
    try:
        while True:
            try:
                _loop(fn, remaining, values, stop, progress)
            except Exception as exc:  # noqa: BLE001 - a failing item is data, not a crash
                failures.append(describe(len(values), exc))
                append(None)
                continue
            except BaseException as exc:  # noqa: BLE001 - handed to the caller's process
                return BatchResult(values, failures, fatal=exc)
            return BatchResult(values, failures)
    finally:
        if progress is not None:
            progress[POSITION] = -1


def _loop(
    fn: Callable[[object], object],
    remaining: Iterator[object],
    values: list[object],
    stop: StopFlag | None,
    progress: Progress | None,
) -> None:
    """Append ``fn(item)`` for each remaining item; whatever `fn` raises propagates."""
    append = values.append
    if progress is not None:
        for item in remaining:
            progress[POSITION] = len(values)
            append(fn(item))
    elif stop is None:  # a loop in C; extend keeps what came before a call that raised
        values.extend(map(fn, remaining))
    else:
        for item in remaining:
            if stop.stopped:
                break
            append(fn(item))


def _run_tracked(
    fn: Callable[[object], object],
    items: Sequence[object],
    stop: StopFlag | None,
    *,
    policy: Policy,
    progress: Progress | None,
    prior: dict[int, int],
) -> BatchResult:
    """One item at a time, with retries, reporting each attempt to `progress`."""
    values: list[object] = []
    failures: list[Failure] = []
    try:
        for position, item in enumerate(items):
            if stop is not None and stop.stopped:
                break
            value, failure = _attempts(fn, item, position, policy, progress, prior)
            values.append(value)
            if failure is not None:
                failures.append(failure)
    except BaseException as exc:  # noqa: BLE001 - handed to the caller's process to re-raise
        return BatchResult(values, failures, fatal=exc)
    finally:
        if progress is not None:
            progress[POSITION] = -1
    return BatchResult(values, failures)


def _attempts(  # noqa: PLR0917 - one item and how to run it
    fn: Callable[[object], object],
    item: object,
    position: int,
    policy: Policy,
    progress: Progress | None,
    prior: dict[int, int],
) -> tuple[object, Failure | None]:
    """Call ``fn(item)`` until it returns or the policy gives up.

    Returns ``(value, None)``, or ``(None, failure)``.
    """
    attempt = prior.get(position, 0) + 1
    if attempt > 1:  # earlier attempts were lost to a timeout: wait as a retry would
        _pause(policy.delay(attempt - 1), progress)
    while True:
        if policy.pace is not None:  # waiting for its turn is not part of the attempt
            _pause(0.0, progress)
            try:
                policy.pace.wait()
            except OSError as exc:  # the schedule is gone: this item fails, not the run
                return None, describe(position, _pace_failed(exc), attempts=attempt)
        if progress is not None:  # the position last: a reader never sees it with stale times
            progress[STARTED] = time.monotonic_ns()
            progress[ATTEMPT] = attempt
            progress[POSITION] = position
        try:
            return fn(item), None
        except Exception as exc:  # noqa: BLE001 - a failing item is data, not a crash
            if attempt <= policy.retries and isinstance(exc, policy.retry_on):
                _pause(policy.delay(attempt), progress)
                attempt += 1
                continue
            return None, describe(position, exc, attempts=attempt)


def _pace_failed(exc: OSError) -> Exception:
    error = RuntimeError(
        f"rate=: this worker could not read the run's shared schedule of starts "
        f"({type(exc).__name__}: {exc}), so the item was not started; something removed "
        "parmap's file in /dev/shm while the run went on: run the items again"
    )
    error.__cause__ = exc
    return error


def _pause(seconds: float, progress: Progress | None) -> None:
    """Wait between attempts, reported as between items: backoff is not an attempt's time."""
    if progress is not None:
        progress[POSITION] = -1
    if seconds > 0:
        time.sleep(seconds)


# --- process workers ---------------------------------------------------------------------


def in_worker_process() -> bool:
    """Whether this process is a worker of a parmap process pool."""
    return _in_worker_process


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
    global _in_worker_process, _slot  # noqa: PLW0603 - per-process state is the point
    _in_worker_process = True
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


class NotSent:
    """Sent in place of an item that could not be pickled; its call fails with the reason."""

    __slots__ = ("message",)

    def __init__(self, message: str) -> None:
        self.message = message

    def __reduce__(self) -> tuple[type[NotSent], tuple[str]]:
        return (NotSent, (self.message,))


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
    return pack(run_batch(fn, items, policy=job.policy, progress=progress, prior=prior))


def _pickle_exception(exc: Exception) -> bytes | None:
    """The exception pickled, if it survives a round trip; ``None`` if it cannot travel."""
    try:
        data: bytes = cloudpickle.dumps(exc)
        pickle.loads(data)  # noqa: S301 - checks our own bytes unpickle
    except Exception:  # noqa: BLE001 - then a stand-in travels instead
        return None
    return data


#: Results of these exact types always unpickle: no round trip needed to check them.
_SIMPLE_TYPES = frozenset({int, float, complex, str, bytes, bool, type(None)})


def pack(result: BatchResult) -> bytes:
    """Turn a batch result into bytes; a value that cannot travel fails only its item.

    Values are pickled together. Unless they are all simple (numbers,
    strings, bytes, None), the bytes are also unpickled here once, to make
    sure the caller's process can read them: a value that pickles but does
    not unpickle (an exception whose ``__init__`` needs arguments, say) is
    then found and failed on its own. A ``KeyboardInterrupt`` or
    ``SystemExit`` that stopped the batch travels as the plain builtin.
    """
    for failure in result.failures:
        if failure.exception is not None:
            failure.pickled = _pickle_exception(failure.exception)
            failure.exception = None
    if result.fatal is not None:
        result.fatal = _plain_fatal(result.fatal)
    try:
        data: bytes = cloudpickle.dumps(result)
        if not all(type(value) in _SIMPLE_TYPES for value in result.values):
            pickle.loads(data)  # noqa: S301 - checks our own bytes unpickle
    except Exception:  # noqa: BLE001 - find the culprits below
        _fail_untransportable(result)
        data = cloudpickle.dumps(result)
    return data


def _plain_fatal(exc: BaseException) -> BaseException:
    """The builtin form of what stopped a batch, which always pickles and unpickles."""
    if isinstance(exc, SystemExit):
        code = exc.code if isinstance(exc.code, int | str | None) else str(exc.code)
        return SystemExit(code)
    if isinstance(exc, KeyboardInterrupt):
        return KeyboardInterrupt(*(str(arg) for arg in exc.args[:1]))
    try:  # another BaseException: itself if it travels, else a plain one naming it
        pickle.loads(cloudpickle.dumps(exc))  # noqa: S301 - our own bytes
    except Exception:  # noqa: BLE001 - see above
        return BaseException(f"{qualified_name(type(exc))}: {exc}")
    return exc


def _fail_untransportable(result: BatchResult) -> None:
    """Replace each value that cannot make the round trip with its item's `TransportError`."""
    for position, value in enumerate(result.values):
        try:
            pickle.loads(cloudpickle.dumps(value))  # noqa: S301 - our own bytes
        except Exception as exc:  # noqa: BLE001 - that item's failure, with the reason
            result.values[position] = None
            error = TransportError(
                f"the result of this item could not be sent back from the worker process: "
                f"{type(exc).__name__}: {exc}; return plain data (numbers, strings, lists, "
                "dicts, dataclasses of those) rather than objects such as locks, open files "
                "or exception instances, or use kind='io', where nothing is pickled"
            )
            failure = describe(position, error)
            failure.pickled = _pickle_exception(error)
            failure.exception = None
            result.failures.append(failure)
    result.failures.sort(key=lambda f: f.position)


class _RemoteTraceback(Exception):  # noqa: N818 - shown as the cause, like CPython's own
    """Carries a worker's formatted traceback as the ``__cause__`` of a transported exception."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text

    def __str__(self) -> str:
        return f'\n"""\n{self.text}"""'


def unpack(data: bytes) -> BatchResult:
    """Turn a worker's bytes back into a batch result with real exception objects."""
    result: BatchResult = pickle.loads(data)  # noqa: S301 - bytes from our own worker
    for failure in result.failures:
        exc: Exception | None = None
        if failure.pickled is not None:
            try:
                exc = pickle.loads(failure.pickled)  # noqa: S301 - bytes from our own worker
            except Exception:  # noqa: BLE001 - fall back to the stand-in
                exc = None
        if exc is None:
            exc = RemoteError(failure.type_name, failure.message)
        exc.__cause__ = _RemoteTraceback(failure.traceback)
        failure.exception = exc
        failure.pickled = None
    if result.fatal is not None:
        result.fatal = _rebuilt_fatal(result.fatal)
    return result


def _rebuilt_fatal(exc: BaseException) -> BaseException:
    """The builtin that stopped a batch, made again from its arguments.

    A library may change how exceptions pickle for the whole process: Dask
    installs tblib's picklers, after which a ``SystemExit`` arrives with its
    arguments but without its ``code``. Building it again restores the code.
    """
    if isinstance(exc, SystemExit):
        return SystemExit(*exc.args)
    return KeyboardInterrupt(*exc.args)
