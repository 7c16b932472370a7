"""Running one batch: call `fn` on each item, catch each failure on its own, retry, pace, report.

Everything here is a top-level function, so process workers find it by name.
A failing item never costs its neighbours: each call is caught on its own.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from itertools import islice
from types import CoroutineType
from typing import TYPE_CHECKING

from .records import BatchResult, Failure, describe
from .timing import Segments, Timings

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, MutableSequence, Sequence

    from .rate import Pacer
    from .timing import Measured

    #: Where a worker reports its progress: a slot of shared memory, or a list.
    Progress = MutableSequence[int] | memoryview

__all__ = [
    "ATTEMPT",
    "POSITION",
    "PROGRESS_FIELDS",
    "RETURNED_COROUTINE",
    "STARTED",
    "Policy",
    "StopFlag",
    "run_batch",
]


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
    whole: bool = False,
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
        whole: Once the first segment showed quick items, time the rest as
            one segment (a batch run in the calling thread, which waits for it
            anyway: it keeps its C-level loop without an `islice` step per item).

    Returns:
        The values (``None`` where an item failed), failures, and timing.
    """
    start = time.perf_counter()
    if (
        policy is None or (not policy.retries and not policy.timed and policy.pace is None)
    ) and not prior:
        result = _run_plain(fn, items, stop, progress, whole=whole)
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
        refuse_coroutines(result)
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
    *,
    whole: bool = False,
) -> BatchResult:
    """The hot path: one attempt per item, at most the item's position reported.

    The loop runs inside one ``try`` that is re-entered after each failure:
    on Python 3.11+ a ``try`` costs nothing until something raises, so a
    batch of tiny items pays no per-item price for the safety net. Items are
    timed in segments (`Segments`), so tiny ones still run in a C-level loop.
    """
    values: list[object] = []
    append = values.append
    failures: list[Failure] = []
    remaining = iter(items)
    clock = Segments()
    if progress is not None:
        progress[ATTEMPT] = 1
    try:
        while True:
            try:
                _loop(fn, remaining, values, stop, progress, clock, len(items), whole=whole)
            except Exception as exc:  # noqa: BLE001 - a failing item is data, not a crash
                clock.close(len(values) + 1)  # the call that raised took its time too
                failures.append(describe(len(values), exc))
                append(None)
                continue
            except BaseException as exc:  # noqa: BLE001 - handed to the caller's process
                clock.close(len(values))
                return BatchResult(values, failures, fatal=exc, timings=_measured(clock))
            return BatchResult(values, failures, timings=_measured(clock))
    finally:
        if progress is not None:
            progress[POSITION] = -1


def _measured(clock: Segments) -> Measured | None:
    timings = clock.timings
    return timings.packed() if timings.counts else None


def _loop(  # noqa: PLR0917 - the batch's state, passed on for speed
    fn: Callable[[object], object],
    remaining: Iterator[object],
    values: list[object],
    stop: StopFlag | None,
    progress: Progress | None,
    clock: Segments,
    total: int,
    *,
    whole: bool = False,
) -> None:
    """Append ``fn(item)`` for each remaining item, one segment at a time; errors propagate.

    `total` is the batch's length: a segment that takes in all the rest maps
    over `remaining` itself, without an `islice` step per item; with `whole`
    (see `run_batch`), so does the first segment of quick items (quick as the
    last segment measured showed them).
    """
    append = values.append
    clock.open(len(values))
    while True:
        size = clock.size
        if (
            progress is None
            and stop is None
            and (size >= total - len(values) or (whole and size > 1))
        ):
            values.extend(map(fn, remaining))
            clock.close(len(values))
            return
        if progress is not None:
            for item in islice(remaining, size):
                progress[POSITION] = len(values)
                append(fn(item))
        elif stop is None:  # a loop in C; extend keeps what came before a call that raised
            values.extend(map(fn, islice(remaining, size)))
        else:
            for item in islice(remaining, size):
                if stop.stopped:
                    clock.close(len(values))
                    return
                append(fn(item))
        ran = len(values) - clock.at
        clock.close(len(values))
        if ran < size:
            return


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
    timings = Timings()
    try:
        for position, item in enumerate(items):
            if stop is not None and stop.stopped:
                break
            value, failure = _attempts(fn, item, position, policy, progress, prior, timings)
            values.append(value)
            if failure is not None:
                failures.append(failure)
    except BaseException as exc:  # noqa: BLE001 - handed to the caller's process to re-raise
        return BatchResult(
            values, failures, fatal=exc, timings=timings.packed() if timings.counts else None
        )
    finally:
        if progress is not None:
            progress[POSITION] = -1
    return BatchResult(values, failures, timings=timings.packed() if timings.counts else None)


def _attempts(  # noqa: PLR0917 - one item and how to run it
    fn: Callable[[object], object],
    item: object,
    position: int,
    policy: Policy,
    progress: Progress | None,
    prior: dict[int, int],
    timings: Timings,
) -> tuple[object, Failure | None]:
    """Call ``fn(item)`` until it returns or the policy gives up.

    The item's duration, counted in `timings`, is the sum of its attempts'
    calls: waits between attempts and for a turn (``rate=``) are left out.

    Returns ``(value, None)``, or ``(None, failure)``.
    """
    attempt = prior.get(position, 0) + 1
    if attempt > 1:  # earlier attempts were lost to a timeout: wait as a retry would
        _pause(policy.delay(attempt - 1), progress)
    seconds = 0.0
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
        started = time.monotonic()
        try:
            value = fn(item)
        except Exception as exc:  # noqa: BLE001 - a failing item is data, not a crash
            ended = time.monotonic()
            seconds += ended - started
            if attempt <= policy.retries and isinstance(exc, policy.retry_on):
                timings.span(started, ended)
                _pause(policy.delay(attempt), progress)
                attempt += 1
                continue
            _count(timings, position, seconds, started, ended)
            return None, describe(position, exc, attempts=attempt)
        ended = time.monotonic()
        _count(timings, position, seconds + ended - started, started, ended)
        return value, None


def _count(timings: Timings, position: int, seconds: float, started: float, ended: float) -> None:
    timings.one(position, seconds)
    timings.span(started, ended)


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


#: What a plain function that returns a coroutine is told, per item, on threads or processes.
RETURNED_COROUTINE = (
    "fn returned a coroutine instead of a value: it is not itself `async def` but returns "
    "one (e.g. `lambda x: fetch(x)`), which parmap cannot tell before calling it, and a "
    "coroutine cannot be awaited on a worker thread or process. Pass the coroutine function "
    "itself (parmap(fetch, items), or functools.partial(fetch, ...)), or write the wrapper "
    "as `async def`: parmap then runs it on its event loop"
)


def refuse_coroutines(result: BatchResult) -> None:
    """Fail each item of `result` whose value is a coroutine, closing the coroutine.

    Closing it means it never runs and no "coroutine ... was never awaited"
    warning follows. Its item gets a `TypeError` saying what to do.
    """
    failures = list(result.failures)
    for position, value in enumerate(result.values):
        if type(value) is CoroutineType:
            value.close()
            result.values[position] = None
            failures.append(describe(position, TypeError(RETURNED_COROUTINE)))
    failures.sort(key=lambda failure: failure.position)
    result.failures = failures
