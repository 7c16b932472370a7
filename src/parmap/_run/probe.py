"""kind="auto": run the first items here, measure them, and pick threads, processes, or none.

::

    items ─▶ run 1, 2, then more items here (each sample through run_batch, each
             aimed at what is left of PROBE_SECONDS, at most GROWTH times the last),
             until the samples hold PROBE_SECONDS of work (and more than the first
             item, unless it took FIRST_ITEM_SECONDS); time the garbage collector
             ran is not counted (a pause of ~1 ms, set off by anything, would
             make a sample of trivial items look slow)
             (or EARLY_ITEMS after the first, when they are clearly too quick for a worker)
          ─▶ per item less than what sending it to a worker costs, or (known length)
             all the work left is under SERIAL_SECONDS: the rest runs here too
          ─▶ otherwise: CPU time / (wall time - time waiting for a CPU) ≥ CPU_SHARE:
             processes, else threads

The items measured are not run again: each sample is a finished batch.
"""

from __future__ import annotations

import math
import pickle
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Generic, TypeVar

from parmap._report.batches import Completed
from parmap._worker.batch import Policy, run_batch
from parmap._worker.records import BatchResult, describe

from .batching import MAX_SIZE
from .clocks import Collections, CpuQueue, cpu_queue_seconds
from .dispatch import Source, run_in_place
from .window import ListWindow

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

    from parmap._journal.journal import Restored
    from parmap._options import Kind

__all__ = ["CPU_SHARE", "SERIAL_BACKEND", "Probe", "probe", "run_here"]

T = TypeVar("T")

#: The backend a Summary reports for items run in the calling thread.
SERIAL_BACKEND = "calling thread"
#: A sample that kept a CPU busy at least this share of the time it was not waiting
#: for one is computing work.
CPU_SHARE = 0.5
#: Seconds of work the measured sample aims at: enough for a clock to measure
#: items of well under a microsecond, a small delay next to any parallel run.
PROBE_SECONDS = 0.001
#: Seconds a probe takes at most, waiting included (for a CPU, or the collector: a full
#: collection of a big heap takes a few hundred ms, and must not end the probe).
PROBE_WALL_MOST = 1.0
#: Items after the first enough to decide before PROBE_SECONDS, when they are clearly
#: too quick for a worker (`_clearly_too_quick`).
EARLY_ITEMS = 1024
#: A first item quicker than this is followed by more before deciding: a first call
#: often pays for warming up (imports, caches), and should not decide alone.
FIRST_ITEM_SECONDS = 0.005
#: The most a sample grows over the last one, aiming at what is left of PROBE_SECONDS:
#: few samples (each costs a batch's overhead), none far beyond what was measured (a
#: sample 8× one that looked trivial ran 40 ms of 1-in-1000 10 ms waits here).
GROWTH = 4
#: The most items one sample holds (items of ~35 ns fill PROBE_SECONDS in ~57,000).
MAX_SAMPLE = 1 << 16
#: Seconds of work in a batch of the rest run here: few batches (each costs its
#: overhead, and its results a copy), the progress bar and journal still moved often.
HERE_SECONDS = 0.02
#: The most items in a batch run here: what a run with keep_results=False holds at once.
MAX_HERE = 1 << 18
#: How many of a sample's items (and results) are pickled to estimate sending one.
TRANSPORT_SAMPLE = 256
#: With a known length: all the work left, estimated, under this many seconds runs
#: here (two workers would save at most half of it, less than starting them costs).
SERIAL_SECONDS = 0.01
#: What running an item in a worker costs beyond sending it: the item's share of a
#: batch's overhead and of collecting its result, in seconds (measured ~0.3 µs).
OVERHEAD_PER_ITEM = 0.5e-6


@dataclass(slots=True)
class Probe(Generic[T]):
    """What the first items showed: the kind to use (``None``: run here), and the batches run."""

    kind: Kind | None
    done: list[Completed[T]] = field(default_factory=list)
    #: Items per batch for the rest, when it runs here (``kind`` is ``None``).
    size: int = MAX_SIZE


def probe(
    fn: Callable[[T], object],
    source: Source[T],
    policy: Policy | None,
    notes: list[str],
    *,
    total: int | None,
    timeout: float | None = None,
    restore: Callable[[int, list[T]], Restored] | None = None,
) -> Probe[T]:
    """Measure the first items of `source` here, and decide where the rest runs; say why in `notes`.

    With a `timeout`, the items measured run one at a time on a helper
    thread, each given up on after `timeout` seconds (recorded as a
    `TimeoutError`, and the run goes to threads), and the rest never runs
    here: only a worker can be stopped. With `restore` (a checkpoint
    journal's lookup), items done in an earlier run are not run again, and
    not measured.
    """
    found: Probe[T] = Probe(None)
    with CpuQueue() as waited, Collections() as collected:
        # the CPU queue is read in this thread: the samples run here (untimed)
        clock = _Clock(waited, collected)
        return _probe(fn, source, policy, notes, found, total, timeout, restore, clock)


def _probe(  # noqa: PLR0917 - probe's arguments, its result and its clock
    fn: Callable[[T], object],
    source: Source[T],
    policy: Policy | None,
    notes: list[str],
    found: Probe[T],
    total: int | None,
    timeout: float | None,
    restore: Callable[[int, list[T]], Restored] | None,
    clock: _Clock,
) -> Probe[T]:
    wall = cpu = queued = 0.0
    count, size = 0, 1
    later = [0.0, 0]  # seconds (not waiting for a CPU) and items after the first
    # samples are judged by the time they were not waiting for a CPU or the collector: a
    # collection of 30 ms (a big heap) must not end the probe a few hundred items in; but
    # a probe never takes more than PROBE_WALL_MOST, however much of it was waiting
    while wall < PROBE_WALL_MOST and (
        (busy := wall - queued) < PROBE_SECONDS or (count == 1 and busy < FIRST_ITEM_SECONDS)
    ):
        start = source.read
        in_place = timeout is None and restore is None
        items = _sample(source, size if timeout is None else 1, in_place=in_place)
        if not items:
            break
        if timeout is None:
            done, times = _measure(fn, start, items, policy, restore, clock)
        else:
            timed = _measure_timed(fn, start, items, policy, restore, timeout, clock.collected)
            if timed is None:
                found.done.append(_timed_out(start, items, timeout))
                found.kind = "io"
                notes.append(
                    f"kind='auto' chose threads: the first item ran longer than "
                    f"timeout={timeout:g} s while it was measured"
                )
                return found
            done, times = timed
        found.done.append(done)
        result = done.result
        assert result is not None  # noqa: S101 - run here: never lost to a worker
        ran = len(result.values) - done.skipped
        if count:
            later[0] += max(times[0] - times[2], 0.0)
            later[1] += ran
        count += ran
        wall, cpu, queued = wall + times[0], cpu + times[1], queued + times[2]
        if result.fatal is not None or len(items) < size:
            break
        if timeout is None and _clearly_too_quick(later, done):
            break
        size = _next_size(size, ran, times, PROBE_SECONDS - (wall - queued))
    if count == 0:
        skipped = any(done.skipped for done in found.done)
        why = "every item was done in an earlier run" if skipped else "the input was empty"
        notes.append(f"kind='auto' chose threads: {why}")
        found.kind = "io"
        return found
    # The first call often pays for warming up (imports, caches): judge by the later ones.
    per_item = later[0] / later[1] if later[1] else max(wall - queued, 0.0) / count
    left = None if total is None else total - source.read
    worth = _not_worth_it(per_item, left, found.done) if timeout is None else None
    if worth is not None:
        found.size = int(min(MAX_HERE, max(MAX_SIZE, HERE_SECONDS / max(per_item, 1e-9))))
        notes.append(
            f"kind='auto' ran the items here, one after another: the first {count} took "
            f"{per_item * 1e6:.2f} µs each, {worth}"
        )
        return found
    share = cpu / max(wall - queued, 1e-9)
    found.kind = "cpu" if share >= CPU_SHARE else "io"
    backend = "processes" if found.kind == "cpu" else "threads"
    what = "the first item" if count == 1 else f"the first {count} items"
    notes.append(
        f"kind='auto' chose {backend}: {what} kept a CPU busy {min(share, 1.0):.0%} "
        f"of the {wall * 1000:.1f} ms they took"
        + (f" ({queued * 1000:.1f} ms waiting for a CPU not counted)" if queued > 0 else "")
    )
    return found


def _sample(source: Source[T], size: int, *, in_place: bool) -> Sequence[T]:
    """The next sample's `size` items.

    Run here without a journal to ask (`in_place`), a list's items are a
    window on it (no copy), which runs what it holds and no more.
    """
    if not in_place:
        return source.take(size)
    items = source.take_window(size)
    if isinstance(items, ListWindow):
        items.open_ended = False
    return items


def _next_size(size: int, ran: int, times: tuple[float, float, float], left: float) -> int:
    """The next sample's size: what fills `left` seconds at the last sample's pace, within bounds.

    At least twice the last one, at most `GROWTH` times (and `MAX_SAMPLE`).

    Examples:
        >>> _next_size(1, 1, (1e-6, 1e-6, 0.0), 0.002)  # 1 µs items: grow 4×
        4
        >>> _next_size(8, 8, (0.001, 0.001, 0.0), 0.001)  # 125 µs items: what is left
        16
    """
    busy = max(times[0] - times[2], 1e-9)
    aimed = math.ceil(left * ran / busy) if ran else 2 * size
    return max(2 * size, min(GROWTH * size, aimed, MAX_SAMPLE))


def _clearly_too_quick(later: list[float], sample: Completed[T]) -> bool:
    """Whether the items after the first already show they run here, whatever more would show.

    Noise (a preemption, a collection) only ever makes items look slower, so
    `EARLY_ITEMS` of them taking under a quarter of what sending one costs
    need no more measuring.
    """
    seconds, items = later
    return items >= EARLY_ITEMS and 4 * seconds / items < (
        _transport_seconds(sample) + OVERHEAD_PER_ITEM
    )


def _not_worth_it(per_item: float, left: int | None, done: list[Completed[T]]) -> str | None:
    """Why running the rest in workers would cost more than it saves; ``None`` if it would not."""
    handing = _transport_seconds(done[-1]) + OVERHEAD_PER_ITEM
    if per_item < handing:
        return f"less than handing one to a worker costs (~{handing * 1e6:.2f} µs)"
    if left is not None and left * per_item < SERIAL_SECONDS:
        if not left:
            return "and none were left"
        return (
            f"and the {left} left, about {left * per_item * 1000:.1f} ms of work, take less "
            "than starting workers would"
        )
    return None


def _transport_seconds(sample: Completed[T]) -> float:
    """Seconds per item to pickle the last sample's items and results (the cost of one way).

    Its first `TRANSPORT_SAMPLE` items tell: pickling all 65,536 would cost a millisecond.
    """
    assert sample.result is not None  # noqa: S101 - a probe's sample always ran
    items = sample.items[:TRANSPORT_SAMPLE]
    start = time.perf_counter()
    try:
        pickle.dumps(items)
        pickle.dumps(sample.result.values[:TRANSPORT_SAMPLE])
    except Exception:  # noqa: BLE001 - not plain data: no estimate, only the fixed overhead
        return 0.0
    return (time.perf_counter() - start) / max(len(items), 1)


@dataclass(slots=True)
class _Clock:
    """What a sample's time is measured with, beside the wall and CPU clocks."""

    #: Seconds this thread has waited for a CPU.
    waited: Callable[[], float]
    #: Seconds the garbage collector ran.
    collected: Collections


def _measure(  # noqa: PLR0917 - a sample, and the clock of time spent waiting
    fn: Callable[[T], object],
    start: int,
    items: Sequence[T],
    policy: Policy | None,
    restore: Callable[[int, list[T]], Restored] | None,
    clock: _Clock,
) -> tuple[Completed[T], tuple[float, float, float]]:
    """Run `items` here; their wall, CPU and waiting seconds.

    Waiting is for a CPU, or for the garbage collector (not the sample's
    own work: its CPU time on this thread is left out of the CPU seconds too).
    """
    here = threading.get_ident()
    collected = clock.collected
    # The readings nest: CPU time outside, then the wait for a CPU, then the wall clock. A
    # busy machine often takes the CPU away inside a reading; one taken between the wall
    # clock's start and the wait's made a trivial item look like milliseconds of waiting.
    cpu = time.thread_time()
    paused, paused_here = collected.seconds, collected.on(here)
    queued = clock.waited()
    wall = time.perf_counter()
    if restore is None:
        done: Completed[T] = Completed(start, items, _runner(fn, policy)(items), None)
    else:
        assert isinstance(items, list)  # noqa: S101 - read by take, for the journal's lookup
        done = run_in_place(_runner(fn, policy), start, items, restore)
    seconds = time.perf_counter() - wall
    # a collection while this thread also waited for a CPU counts in both: never more than all
    waited = min(clock.waited() - queued + collected.seconds - paused, seconds)
    cpu = time.thread_time() - cpu - (collected.on(here) - paused_here)
    return done, (seconds, max(cpu, 0.0), waited)


def _measure_timed(  # noqa: PLR0917 - _measure's, and the time it may take
    fn: Callable[[T], object],
    start: int,
    items: Sequence[T],
    policy: Policy | None,
    restore: Callable[[int, list[T]], Restored] | None,
    timeout: float,
    collected: Collections,
) -> tuple[Completed[T], tuple[float, float, float]] | None:
    """`_measure` on a helper thread; ``None`` when it did not finish within `timeout` seconds.

    A thread cannot be stopped: one that overran finishes in the background,
    as a timed-out item on a worker thread does (a daemon: it never keeps
    the program from exiting).
    """
    box: list[tuple[Completed[T], tuple[float, float, float]]] = []
    helper = threading.Thread(
        target=lambda: box.append(
            _measure(fn, start, items, policy, restore, _Clock(cpu_queue_seconds, collected))
        ),
        name="parmap-probe",
        daemon=True,
    )
    helper.start()
    helper.join(timeout)
    return box[0] if box else None


def _timed_out(start: int, items: Sequence[T], timeout: float) -> Completed[T]:
    error = TimeoutError(
        f"this item ran longer than timeout={timeout:g} s while kind='auto' measured it; "
        "a thread cannot be stopped, so parmap stopped waiting for it and went on (the "
        "call finishes in the background, and never keeps the program from exiting)"
    )
    return Completed(start, items, BatchResult([None], [describe(0, error)]), None)


def run_here(
    fn: Callable[[T], object],
    source: Source[T],
    policy: Policy | None,
    restore: Callable[[int, list[T]], Restored] | None = None,
    size: int = MAX_SIZE,
) -> Iterator[Completed[T]]:
    """Run the rest of `source` in the calling thread, in batches of `size`, as finished batches.

    Batches of a list are windows on it (nothing copied), unless a journal
    must be asked which of their items were done before.
    """
    run = _runner(fn, policy, whole=True)
    while True:
        start = source.read
        if restore is None:
            window = source.take_window(size)
            if not window:
                break
            result = run(window)
            if len(result.values) > len(window) and isinstance(window, ListWindow):
                window = window.resized(len(result.values))  # fn appended to the list
                source.read = start + len(window)
            done: Completed[T] = Completed(start, window, result, None)
        else:
            items = source.take(size)
            if not items:
                break
            done = run_in_place(run, start, items, restore)
        yield done
        if done.result is not None and done.result.fatal is not None:
            break
    if source.error is not None:
        raise source.error


def _runner(
    fn: Callable[[T], object], policy: Policy | None, *, whole: bool = False
) -> Callable[[Sequence[T]], BatchResult]:
    def run(items: Sequence[T]) -> BatchResult:
        return run_batch(fn, items, policy=policy, whole=whole)  # type: ignore[arg-type]

    return run
