"""Running a checked `Plan`: pick the backend, size batches, dispatch them, and track the run.

::

    run_plan(fn, items, plan, log)
        │ rate= ─▶ Pacer     checkpoint= ─▶ Journal     progress= ─▶ ProgressBar
        │ kind="auto" ─▶ probe: run the first items here, pick threads, processes or none
        ▼
    open_backend ─▶ dispatch(window of batches) ─▶ each finished batch: journal, bar, yield

Whatever way the generator is left, the workers are released (waited for when
every batch finished, stopped at once otherwise), and the bar and journal closed.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Literal, TypeVar

from parmap._worker.batch import Policy
from parmap._worker.role import in_worker_process

from .backend import executor_workers, open_backend
from .batching import MAX_SIZE, AutoBatchSize, FixedBatchSize, remember, remembered
from .cpus import default_workers
from .dispatch import Sizer, Source, dispatch
from .probe import SERIAL_BACKEND, probe, run_here

if TYPE_CHECKING:
    from collections.abc import Callable, Generator, Iterable

    from parmap._journal.journal import Journal
    from parmap._report.batches import Completed
    from parmap._worker.rate import Pacer

    from .collect import RunLog
    from .options import Limits
    from .plan import Plan

__all__ = ["WINDOW_PER_WORKER", "length", "run_plan"]

T = TypeVar("T")
R = TypeVar("R")

#: Batches in flight per worker: one running, one queued, so no worker waits for the dispatcher.
WINDOW_PER_WORKER = 2


def run_plan(
    fn: Callable[[T], R], items: Iterable[T], plan: Plan, log: RunLog
) -> Generator[Completed[T], None, None]:
    """Run `plan`: dispatch every batch, yield each as it finishes.

    Where the work runs, and any decision made on the way, go into `log`.
    Each finished batch moves the progress bar and is written to the
    checkpoint journal before it is yielded.
    """
    tracking = plan.tracking
    # imported here: runs without these options never load sqlite3, tqdm and friends
    with contextlib.ExitStack() as stack:
        pacer = None
        if plan.limits.rate is not None:
            from parmap._worker.rate import Pacer  # noqa: PLC0415

            pacer = Pacer(plan.limits.rate)
            stack.callback(pacer.close)
        journal = None
        if tracking.checkpoint is not None:
            from parmap._journal.journal import Journal  # noqa: PLC0415

            journal = Journal(tracking.checkpoint, key=tracking.key, keep_results=plan.keep_results)
            stack.callback(journal.close)
        bar = None
        if tracking.progress:
            from parmap._report.progress import ProgressBar  # noqa: PLC0415

            bar = ProgressBar(length(items))
            stack.callback(bar.close)
        runs = _run(fn, items, plan, log, pacer=pacer, journal=journal)
        stack.callback(runs.close)
        for done in runs:
            unrecorded = None
            if journal is not None:
                try:
                    journal.record(done)
                except OSError as exc:  # raised once the batch is accounted for
                    unrecorded = exc
            if bar is not None:
                bar.update(done)
            yield done
            if unrecorded is not None:
                raise unrecorded


def _policy(limits: Limits, pacer: Pacer | None) -> Policy | None:
    """What workers do about failing items; ``None`` for the plain hot path."""
    if not limits.retries and limits.timeout is None and pacer is None:
        return None
    return Policy(
        retries=limits.retries,
        retry_on=limits.retry_on,
        backoff=limits.backoff,
        timed=limits.timeout is not None,
        pace=pacer,
    )


def _run(
    fn: Callable[[T], R],
    items: Iterable[T],
    plan: Plan,
    log: RunLog,
    *,
    pacer: Pacer | None,
    journal: Journal | None,
) -> Generator[Completed[T], None, None]:
    """Pick the backend and dispatch every batch (see `run_plan`)."""
    options, limits = plan.options, plan.limits
    source: Source[T] = Source(items)
    total = length(items)
    policy = _policy(limits, pacer)
    chosen: Literal["io", "cpu", "auto", "async"] = options.kind
    restore = journal.restore if journal is not None else None
    if plan.is_async:  # a coroutine function runs on an event loop
        chosen = "async"
        if options.kind == "auto":
            log.notes.append("kind='auto' chose the asyncio loop: fn is a coroutine function")
    elif options.executor is None and chosen == "auto":
        found = probe(
            fn, source, policy, log.notes, total=total, timeout=limits.timeout, restore=restore
        )
        yield from found.done
        if found.kind is None:
            log.backend = SERIAL_BACKEND
            log.workers = 1
            yield from run_here(fn, source, policy, restore=restore, size=found.size)
            return
        chosen = found.kind
    if options.executor is None and chosen == "cpu" and in_worker_process():
        chosen = "io"
        log.notes.append(
            "ran on threads: this call was made inside a parmap worker process, "
            "which does not start processes of its own"
        )
    count = options.workers or executor_workers(options) or default_workers(chosen)
    backend = open_backend(
        fn,  # type: ignore[arg-type]  # T -> R, run as object -> object
        chosen,
        count,
        options,
        policy=policy,
        timeout=limits.timeout,
    )
    log.backend = backend.description
    log.workers = count
    sizer: Sizer
    measured: str | None = None
    window = WINDOW_PER_WORKER * count * (2 if plan.ordered else 1)
    if isinstance(options.batch_size, int):
        sizer = FixedBatchSize(options.batch_size)
        # batches of the size asked for: the window holds a few for every worker, whatever
        # their items (500 each on 64 threads: 64,000 items, not the thread window's 10,000)
        backend.window_items = max(
            backend.window_items, WINDOW_PER_WORKER * count * options.batch_size
        )
    else:
        # a process backend names its function: a later run of it starts where this one ended
        measured = getattr(backend, "job_key", None)
        sizer = AutoBatchSize(
            workers=count,
            target=backend.batch_target,
            total=total,
            prior=remembered(measured),
            # two batches at least fit in the window: one can be sent while the other runs
            most=min(MAX_SIZE, backend.window_items // 2),
        )
    finished = False
    try:
        yield from dispatch(
            backend, source, sizer, window, ordered=plan.ordered, rules=limits, restore=restore
        )
        finished = True
        if measured is not None and isinstance(sizer, AutoBatchSize):
            remember(measured, sizer.per_item)
    finally:
        backend.close(cancel=not finished)


def length(items: object) -> int | None:
    """``len(items)`` when it has one: a hint for batch sizes and progress, never required."""
    try:
        return len(items)  # type: ignore[arg-type]
    except Exception:  # noqa: BLE001 - len() is only a hint for batch sizes and progress
        return None
