"""kind="auto": run the first items here, measure them, and pick threads, processes, or none.

::

    items ─▶ run 1, 2, 4, ... items here (each sample through run_batch), until the
             samples hold PROBE_SECONDS of work (and more than the first item,
             unless it took FIRST_ITEM_SECONDS)
          ─▶ per item less than what sending it to a worker costs, or (known length)
             all the work left is under SERIAL_SECONDS: the rest runs here too
          ─▶ otherwise: CPU time / (wall time - time waiting for a CPU) ≥ CPU_SHARE:
             processes, else threads

The items measured are not run again: each sample is a finished batch.
"""

from __future__ import annotations

import os
import pickle
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Generic, TypeVar

from parmap._report.batches import Completed
from parmap._worker.batch import Policy, run_batch
from parmap._worker.records import BatchResult, describe

from .batching import MAX_SIZE
from .dispatch import Source, run_in_place

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

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
PROBE_SECONDS = 0.002
#: A first item quicker than this is followed by more before deciding: a first call
#: often pays for warming up (imports, caches), and should not decide alone.
FIRST_ITEM_SECONDS = 0.005
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
    with _CpuQueue() as waited:  # read in this thread: the samples run here (untimed)
        return _probe(fn, source, policy, notes, found, total, timeout, restore, waited)


def _probe(  # noqa: PLR0917 - probe's arguments, its result and its clock
    fn: Callable[[T], object],
    source: Source[T],
    policy: Policy | None,
    notes: list[str],
    found: Probe[T],
    total: int | None,
    timeout: float | None,
    restore: Callable[[int, list[T]], Restored] | None,
    waited: Callable[[], float],
) -> Probe[T]:
    wall = cpu = queued = 0.0
    count, size = 0, 1
    later = [0.0, 0]  # seconds (not waiting for a CPU) and items after the first
    while wall < PROBE_SECONDS or (count == 1 and wall < FIRST_ITEM_SECONDS):
        start = source.read
        items = source.take(size if timeout is None else 1)
        if not items:
            break
        if timeout is None:
            done, times = _measure(fn, start, items, policy, restore, waited)
        else:
            timed = _measure_timed(fn, start, items, policy, restore, timeout)
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
        size = min(2 * size, MAX_SIZE)
    if count == 0:
        skipped = any(done.skipped for done in found.done)
        why = "every item was done in an earlier run" if skipped else "the input was empty"
        notes.append(f"kind='auto' chose threads: {why}")
        found.kind = "io"
        return found
    # The first call often pays for warming up (imports, caches): judge by the later ones.
    per_item = later[0] / later[1] if later[1] else max(wall - queued, 0.0) / count
    left = None if total is None else total - source.read
    if timeout is None and _not_worth_it(per_item, left, found.done):
        notes.append(
            f"kind='auto' ran the items here, one after another: each took "
            f"{per_item * 1e6:.2f} µs, less than handing it to a worker would cost"
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


def _not_worth_it(per_item: float, left: int | None, done: list[Completed[T]]) -> bool:
    """Whether running the rest in workers would cost more than it saves."""
    if left is not None and left * per_item < SERIAL_SECONDS:
        return True
    return per_item < _transport_seconds(done[-1]) + OVERHEAD_PER_ITEM


def _transport_seconds(sample: Completed[T]) -> float:
    """Seconds per item to pickle the last sample's items and results (the cost of one way)."""
    assert sample.result is not None  # noqa: S101 - a probe's sample always ran
    start = time.perf_counter()
    try:
        pickle.dumps(sample.items)
        pickle.dumps(sample.result.values)
    except Exception:  # noqa: BLE001 - not plain data: no estimate, only the fixed overhead
        return 0.0
    return (time.perf_counter() - start) / max(len(sample.items), 1)


def _measure(  # noqa: PLR0917 - a sample, and the clock of time spent waiting for a CPU
    fn: Callable[[T], object],
    start: int,
    items: list[T],
    policy: Policy | None,
    restore: Callable[[int, list[T]], Restored] | None,
    waited: Callable[[], float] | None = None,
) -> tuple[Completed[T], tuple[float, float, float]]:
    """Run `items` here; their wall, CPU and waiting-for-a-CPU seconds (`waited` clocks those)."""
    if waited is None:
        waited = _cpu_queue_seconds
    wall, cpu, queued = time.perf_counter(), time.thread_time(), waited()
    done = run_in_place(_runner(fn, policy), start, items, restore)
    return done, (
        time.perf_counter() - wall,
        time.thread_time() - cpu,
        waited() - queued,
    )


def _measure_timed(  # noqa: PLR0917 - _measure's, and the time it may take
    fn: Callable[[T], object],
    start: int,
    items: list[T],
    policy: Policy | None,
    restore: Callable[[int, list[T]], Restored] | None,
    timeout: float,
) -> tuple[Completed[T], tuple[float, float, float]] | None:
    """`_measure` on a helper thread; ``None`` when it did not finish within `timeout` seconds.

    A thread cannot be stopped: one that overran finishes in the background,
    as a timed-out item on a worker thread does (a daemon: it never keeps
    the program from exiting).
    """
    box: list[tuple[Completed[T], tuple[float, float, float]]] = []
    helper = threading.Thread(
        target=lambda: box.append(_measure(fn, start, items, policy, restore)),
        name="parmap-probe",
        daemon=True,
    )
    helper.start()
    helper.join(timeout)
    return box[0] if box else None


def _timed_out(start: int, items: list[T], timeout: float) -> Completed[T]:
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
) -> Iterator[Completed[T]]:
    """Run the rest of `source` in the calling thread, in big batches, as finished batches."""
    run = _runner(fn, policy)
    while True:
        start = source.read
        items = source.take(MAX_SIZE)
        if not items:
            break
        done = run_in_place(run, start, items, restore)
        yield done
        if done.result is not None and done.result.fatal is not None:
            break
    if source.error is not None:
        raise source.error


def _runner(fn: Callable[[T], object], policy: Policy | None) -> Callable[[list[T]], BatchResult]:
    def run(items: list[T]) -> BatchResult:
        return run_batch(fn, items, policy=policy)  # type: ignore[arg-type]  # T -> object

    return run


class _CpuQueue:
    """`_cpu_queue_seconds` from a file kept open: ~1 µs a reading instead of ~30 µs.

    The file is the calling thread's own, so it is read in the thread that opened it.
    """

    def __init__(self) -> None:
        self._fd = -1

    def __enter__(self) -> Callable[[], float]:
        try:
            self._fd = os.open("/proc/thread-self/schedstat", os.O_RDONLY)
        except OSError:
            return _cpu_queue_seconds
        return self._read

    def __exit__(self, *_: object) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def _read(self) -> float:
        try:
            return int(os.pread(self._fd, 128, 0).split()[1]) / 1e9
        except (OSError, IndexError, ValueError):
            return 0.0


def _cpu_queue_seconds() -> float:
    """Seconds this thread has spent waiting for a CPU (Linux schedstat), or 0 where unknown."""
    try:
        with open("/proc/thread-self/schedstat", encoding="ascii") as f:  # noqa: PTH123
            return int(f.read().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return 0.0
