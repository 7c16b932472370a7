"""`parmap()` and `imap()`: turn the arguments into a validated plan, run it, report every item."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Literal, TypeVar, overload

from ._backends.base import is_dask_client
from ._batching import AutoBatchSize, FixedBatchSize, remember, remembered
from ._collect import Collector, RunLog, outcomes
from ._coroutines import check_async_target, is_async_callable
from ._dispatch import Sizer, Source, dispatch
from ._errors import ArgumentError
from ._options import (
    Kind,
    Limits,
    Options,
    Tracking,
    default_workers,
    make_limits,
    make_options,
    make_tracking,
)
from ._probe import SERIAL_BACKEND, probe, run_here
from ._public import public
from ._run.backend import executor_workers, open_backend
from ._worker.batch import Policy
from ._worker.process import in_worker_process

if TYPE_CHECKING:
    import os
    from collections.abc import Awaitable, Callable, Generator, Iterator
    from concurrent.futures import Executor
    from pathlib import Path

    from distributed import Client

    from ._journal.journal import Journal
    from ._report.batches import Completed
    from ._report.items import Outcome
    from ._report.summary import Summary
    from ._worker.rate import Pacer

__all__ = ["check_options", "imap", "parmap"]

T = TypeVar("T")
R = TypeVar("R")

NO_TRACKING = Tracking()

#: Batches in flight per worker: one running, one queued, so no worker waits for the dispatcher.
WINDOW_PER_WORKER = 2


@overload
def parmap(
    fn: Callable[[T], Awaitable[R]],
    items: Iterable[T],
    *,
    kind: Kind = "io",
    workers: int | None = None,
    batch_size: int | Literal["auto"] = "auto",
    executor: Executor | Client | None = None,
    keep_results: bool = True,
    retries: int = 0,
    retry_on: type[Exception] | tuple[type[Exception], ...] = (Exception,),
    backoff: float = 0.0,
    timeout: float | None = None,
    max_failures: int | None = None,
    rate: float | None = None,
    progress: bool = False,
    checkpoint: str | os.PathLike[str] | None = None,
    key: Callable[[T], object] | None = None,
) -> Summary[T, R]: ...


@overload
def parmap(
    fn: Callable[[T], R],
    items: Iterable[T],
    *,
    kind: Kind = "io",
    workers: int | None = None,
    batch_size: int | Literal["auto"] = "auto",
    executor: Executor | Client | None = None,
    keep_results: bool = True,
    retries: int = 0,
    retry_on: type[Exception] | tuple[type[Exception], ...] = (Exception,),
    backoff: float = 0.0,
    timeout: float | None = None,
    max_failures: int | None = None,
    rate: float | None = None,
    progress: bool = False,
    checkpoint: str | os.PathLike[str] | None = None,
    key: Callable[[T], object] | None = None,
) -> Summary[T, R]: ...


def parmap(
    fn: Callable[[T], Any],
    items: Iterable[T],
    *,
    kind: Kind = "io",
    workers: int | None = None,
    batch_size: int | Literal["auto"] = "auto",
    executor: Executor | Client | None = None,
    keep_results: bool = True,
    retries: int = 0,
    retry_on: type[Exception] | tuple[type[Exception], ...] = (Exception,),
    backoff: float = 0.0,
    timeout: float | None = None,
    max_failures: int | None = None,
    rate: float | None = None,
    progress: bool = False,
    checkpoint: str | os.PathLike[str] | None = None,
    key: Callable[[T], object] | None = None,
) -> Summary[T, Any]:
    """Call `fn` on every item, concurrently, and report what happened to each.

    An item whose call raises an `Exception` is recorded in the summary and
    the run goes on; ``KeyboardInterrupt`` and ``SystemExit`` stop the run
    (pending work is cancelled, worker processes are stopped) and propagate,
    carrying the partial summary as their attribute ``summary``.

    Args:
        fn: Called once per item. Any callable: with ``kind="cpu"`` lambdas,
            closures and functions defined in ``__main__`` or a notebook
            cell work too (they travel by value with cloudpickle). A
            coroutine function (``async def``) runs on an asyncio event loop
            of parmap's own, on a helper thread (so this works in a running
            loop too); ``kind="cpu"`` refuses it. A plain function that
            returns a coroutine fails its items with a `TypeError` saying so.
        items: Any iterable, read lazily: only a bounded window of items is
            in flight at once, so generators and huge streams are fine.
        kind: ``"io"`` for work that waits (network, disk): threads.
            ``"cpu"`` for work that computes in Python: processes, each
            started from a clean interpreter. ``"auto"``: run the first items
            here, measure their CPU time against their wall time, and pick;
            items too quick to be worth sending to a worker all run here,
            one after another. The choice and its reason are in ``summary.notes``.
        workers: How many items run at once. Default: for ``"io"``
            ``max(32, cpus + 4)``; for ``"cpu"`` the CPUs this process may
            use (affinity and cgroup quota respected); for a coroutine
            function 100 awaiting at once.
        batch_size: Items sent to a worker per task. ``"auto"`` starts at one
            and grows batches of fast items until each holds a few
            milliseconds (threads) or ~50 ms (processes) of work, shrinking
            again near the end of an input of known length.
        executor: Run on this executor instead of starting workers; it is
            left open. A `ThreadPoolExecutor` calls `fn` directly; any other
            executor (e.g. a `ProcessPoolExecutor`) gets `fn` and the items
            pickled. A Dask ``distributed.Client`` runs batches as tasks on
            its cluster's workers (``pip install "parmap[dask]"``; ``"auto"``
            batches then hold ~100 ms of work each). `kind` is then ignored:
            the executor decides where work runs.
        keep_results: ``False`` keeps counts and errors only (``results`` is
            then empty), so an endless run of side effects uses constant memory.
        retries: Extra attempts for an item whose call raised, after the
            first (so ``retries=2`` means up to 3 calls). Retried in the same
            worker: nothing is sent again. ``ItemError.attempts`` says how many
            calls were made.
        retry_on: The exception types worth retrying; any other fails the
            item at once. Default: every `Exception`.
        backoff: Base seconds to wait between attempts: before attempt n+1 a
            random time between 0 and ``backoff × 2**(n-1)`` ("full jitter", so
            retries of many items spread out). ``0`` retries at once.
        timeout: Seconds one attempt of one item may take (never a batch, never
            the run). With ``kind="cpu"`` the worker running a hung item is
            killed and replaced; on threads, which cannot be killed, the item
            is recorded and no longer waited for, and its thread is left to
            finish on its own (it never keeps the program from exiting). The
            item fails with `TimeoutError`, unless retries are left and
            `retry_on` includes `TimeoutError`.
        max_failures: Stop the run once this many items have failed: pending
            work is cancelled, workers are stopped, and the Summary (of the
            items accounted for) says in its notes that the run stopped early.
        rate: At most this many calls of `fn` start per second, across all
            workers (threads or processes): starts are spaced ``1/rate``
            seconds apart, so any one-second window holds at most ``rate``
            of them (one more at its edges). Fractions work: ``rate=0.5`` is
            one call every 2 s. Retries count as calls. Independent of
            `workers`, which bounds how many calls run at once.
        progress: Show a progress bar (tqdm: a widget in Jupyter, a text bar
            on stderr elsewhere) counting finished items and failures, with
            the total when `items` has a length.
        checkpoint: Path of a journal (a SQLite file, created if missing)
            recording each finished item and its result. Run again with the
            same path, and the items that succeeded before are not run: their
            results are restored, and they count as ``skipped``; items that
            failed run again. Commits happen at least every 0.5 s, so a run
            killed at any moment (even ``kill -9``) loses at most that much
            work. Treat a journal like code: results are pickled, so parmap
            only loads a journal that you own, that nobody else can write,
            and that your parmap wrote (it is marked with a key kept in
            ``~/.config/parmap/journal.key``).
        key: With `checkpoint`: a function giving each item its identity in
            the journal (a str, int, bytes, or tuple of them), e.g.
            ``key=lambda row: row["id"]``. By default an item is its own
            identity, which works for plain data (strings, numbers, tuples,
            lists and dicts of them); other items need `key`.

    Returns:
        A `Summary`: results in input order (``None`` where an item failed),
        the errors, counts, time and backend.

    Raises:
        ArgumentError: An argument is invalid (raised before any work starts).
        UnpicklableFunctionError: ``kind="cpu"`` and `fn` cannot be pickled.
        KeyboardInterrupt: Ctrl-C, or raised by `fn`; with ``.summary``.
        SystemExit: Raised by `fn`; with ``.summary``.
        Exception: Whatever iterating `items` raised, after every item read
            before it was processed; with ``.summary``.

    Examples:
        >>> from parmap import parmap
        >>> summary = parmap(lambda x: 100 // x, [1, 2, 0, 4], workers=4)
        >>> summary.results
        [100, 50, None, 25]
        >>> print(summary.errors[0].type_name, summary.errors[0].index)
        ZeroDivisionError 2
    """
    options, limits, tracking = check_options(
        kind=kind,
        workers=workers,
        batch_size=batch_size,
        executor=executor,
        keep_results=keep_results,
        retries=retries,
        retry_on=retry_on,
        backoff=backoff,
        timeout=timeout,
        max_failures=max_failures,
        rate=rate,
        progress=progress,
        checkpoint=checkpoint,
        key=key,
    )
    _check_callable(fn, options)
    _check_iterable(items)
    if tracking.checkpoint is not None:
        _check_journal(tracking.checkpoint)
    collector: Collector[T, Any] = Collector(keep_results=keep_results)
    runs = _execute(
        fn,
        items,
        options,
        limits,
        collector.log,
        ordered=False,
        tracking=tracking,
        keep_results=keep_results,
    )
    try:
        for done in runs:
            collector.add(done)
            if limits.max_failures is not None and collector.failed >= limits.max_failures:
                collector.log.notes.append(_stopped_early(collector.failed, limits.max_failures))
                break
        return collector.summary()
    except BaseException as exc:
        _attach(exc, collector)
        raise
    finally:
        runs.close()


@overload
def imap(
    fn: Callable[[T], Awaitable[R]],
    items: Iterable[T],
    *,
    kind: Kind = "io",
    ordered: bool = True,
    workers: int | None = None,
    batch_size: int | Literal["auto"] = "auto",
    executor: Executor | Client | None = None,
    retries: int = 0,
    retry_on: type[Exception] | tuple[type[Exception], ...] = (Exception,),
    backoff: float = 0.0,
    timeout: float | None = None,
    max_failures: int | None = None,
    rate: float | None = None,
    progress: bool = False,
    checkpoint: str | os.PathLike[str] | None = None,
    key: Callable[[T], object] | None = None,
) -> Iterator[Outcome[T, R]]: ...


@overload
def imap(
    fn: Callable[[T], R],
    items: Iterable[T],
    *,
    kind: Kind = "io",
    ordered: bool = True,
    workers: int | None = None,
    batch_size: int | Literal["auto"] = "auto",
    executor: Executor | Client | None = None,
    retries: int = 0,
    retry_on: type[Exception] | tuple[type[Exception], ...] = (Exception,),
    backoff: float = 0.0,
    timeout: float | None = None,
    max_failures: int | None = None,
    rate: float | None = None,
    progress: bool = False,
    checkpoint: str | os.PathLike[str] | None = None,
    key: Callable[[T], object] | None = None,
) -> Iterator[Outcome[T, R]]: ...


def imap(
    fn: Callable[[T], Any],
    items: Iterable[T],
    *,
    kind: Kind = "io",
    ordered: bool = True,
    workers: int | None = None,
    batch_size: int | Literal["auto"] = "auto",
    executor: Executor | Client | None = None,
    retries: int = 0,
    retry_on: type[Exception] | tuple[type[Exception], ...] = (Exception,),
    backoff: float = 0.0,
    timeout: float | None = None,
    max_failures: int | None = None,
    rate: float | None = None,
    progress: bool = False,
    checkpoint: str | os.PathLike[str] | None = None,
    key: Callable[[T], object] | None = None,
) -> Iterator[Outcome[T, Any]]:
    """Like `parmap`, but yield an `Outcome` per item as results arrive.

    The input is read lazily through a bounded window, so the first outcomes
    arrive before a slow or endless input is exhausted, and memory stays
    flat. Stopping early (``break``, or closing the iterator) stops reading
    the input, cancels pending work and stops the workers.

    Arguments are checked when `imap` is called, before any work starts;
    the work starts with the first ``next()``.

    Args:
        fn: Called once per item; see `parmap`.
        items: Any iterable, read lazily.
        kind: ``"io"``, ``"cpu"`` or ``"auto"``; see `parmap`.
        ordered: ``True`` yields outcomes in input order (finished items wait
            in a bounded reorder buffer); ``False`` yields them as they
            finish, which keeps every worker busy when item times vary.
        workers: How many items run at once; see `parmap`.
        batch_size: Items sent to a worker per task; see `parmap`.
        executor: Run on the caller's executor; see `parmap`.
        retries: Extra attempts for a failing item; see `parmap`.
        retry_on: The exception types worth retrying; see `parmap`.
        backoff: Base seconds between attempts; see `parmap`.
        timeout: Seconds one attempt of one item may take; see `parmap`.
        max_failures: Stop once this many items have failed: the outcome of
            the last of them is the last one yielded.
        rate: At most this many calls start per second; see `parmap`.
        progress: Show a progress bar; see `parmap`.
        checkpoint: Path of a journal of finished items; see `parmap`. Items
            done in an earlier run are yielded with their restored value.
        key: Each item's identity in the checkpoint journal; see `parmap`.

    Yields:
        One `Outcome` per item: ``index``, ``item``, ``ok``, ``value``, ``error``.

    Raises:
        ArgumentError: An argument is invalid (raised by the call itself).
        KeyboardInterrupt: Ctrl-C, or raised by `fn`.
        SystemExit: Raised by `fn`.
        Exception: Whatever iterating `items` raised, after the outcomes of
            every item read before it.

    Examples:
        >>> from parmap import imap
        >>> for outcome in imap(lambda x: 10 // x, [1, 0, 5]):
        ...     print(outcome.index, outcome.ok, outcome.value)
        0 True 10
        1 False None
        2 True 2
    """
    options, limits, tracking = check_options(
        kind=kind,
        workers=workers,
        batch_size=batch_size,
        executor=executor,
        ordered=ordered,
        retries=retries,
        retry_on=retry_on,
        backoff=backoff,
        timeout=timeout,
        max_failures=max_failures,
        rate=rate,
        progress=progress,
        checkpoint=checkpoint,
        key=key,
    )
    _check_callable(fn, options)
    _check_iterable(items)
    if tracking.checkpoint is not None:
        _check_journal(tracking.checkpoint)
    runs = _execute(fn, items, options, limits, RunLog(), ordered=ordered, tracking=tracking)
    return _stream(runs, limits.max_failures)


def _stream(
    runs: Generator[Completed[T], None, None], max_failures: int | None
) -> Iterator[Outcome[T, R]]:
    failed = 0
    try:
        for done in runs:
            batch: Iterator[Outcome[T, R]] = outcomes(done)
            if max_failures is None:
                yield from batch
            else:
                for outcome in batch:
                    yield outcome
                    failed += outcome.error is not None
                    if failed >= max_failures:
                        return
            if done.result is not None and done.result.fatal is not None:
                raise done.result.fatal
    finally:
        runs.close()


def _stopped_early(failed: int, max_failures: int) -> str:
    return (
        f"stopped early: {failed} items failed, which reached max_failures={max_failures}; "
        "the items not yet run were not started"
    )


def _execute(
    fn: Callable[[T], R],
    items: Iterable[T],
    options: Options,
    limits: Limits,
    log: RunLog,
    *,
    ordered: bool,
    tracking: Tracking = NO_TRACKING,
    keep_results: bool = True,
) -> Generator[Completed[T], None, None]:
    """Run a validated plan: pick the backend, dispatch every batch, yield them as they finish.

    Where the work runs, and any decision made on the way, go into `log`.
    Each finished batch moves the progress bar and is written to the
    checkpoint journal before it is yielded. Whatever way this generator is
    left, the workers are released (waited for when every batch finished,
    stopped at once otherwise), and the bar and the journal are closed.
    """
    # imported here: runs without these options never load sqlite3, tqdm and friends
    with contextlib.ExitStack() as stack:
        pacer = None
        if limits.rate is not None:
            from ._worker.rate import Pacer  # noqa: PLC0415

            pacer = Pacer(limits.rate)
            stack.callback(pacer.close)
        journal = None
        if tracking.checkpoint is not None:
            from ._journal.journal import Journal  # noqa: PLC0415

            journal = Journal(tracking.checkpoint, key=tracking.key, keep_results=keep_results)
            stack.callback(journal.close)
        bar = None
        if tracking.progress:
            from ._report.progress import ProgressBar  # noqa: PLC0415

            bar = ProgressBar(_length(items))
            stack.callback(bar.close)
        runs = _run(fn, items, options, limits, log, ordered=ordered, pacer=pacer, journal=journal)
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


def _run(
    fn: Callable[[T], R],
    items: Iterable[T],
    options: Options,
    limits: Limits,
    log: RunLog,
    *,
    ordered: bool,
    pacer: Pacer | None,
    journal: Journal | None,
) -> Generator[Completed[T], None, None]:
    """Pick the backend and dispatch every batch (see `_execute`)."""
    source: Source[T] = Source(items)
    total = _length(items)
    policy = (
        Policy(
            retries=limits.retries,
            retry_on=limits.retry_on,
            backoff=limits.backoff,
            timed=limits.timeout is not None,
            pace=pacer,
        )
        if limits.retries or limits.timeout is not None or pacer is not None
        else None
    )
    chosen: Kind | Literal["async"] = options.kind
    restore = journal.restore if journal is not None else None
    if is_async_callable(fn):  # a coroutine function runs on an event loop (_asyncio)
        chosen = "async"
        if options.kind == "auto":
            log.notes.append("kind='auto' chose the asyncio loop: fn is a coroutine function")
    elif options.executor is None and chosen == "auto":
        found = probe(
            fn,
            source,
            policy,
            log.notes,
            total=total,
            timeout=limits.timeout,
            restore=restore,
        )
        yield from found.done
        if found.kind is None:
            log.backend = SERIAL_BACKEND
            yield from run_here(fn, source, policy, restore=restore)
            return
        chosen = found.kind
    if options.executor is None and chosen == "cpu" and in_worker_process():
        chosen = "io"
        log.notes.append(
            "ran on threads: this call was made inside a parmap worker process, "
            "which does not start processes of its own"
        )
    executor = options.executor
    count = options.workers or executor_workers(executor) or default_workers(chosen)
    backend = open_backend(
        fn,  # type: ignore[arg-type]  # T -> R, run as object -> object
        chosen,
        count,
        executor,
        policy=policy,
        timeout=limits.timeout,
    )
    log.backend = backend.description
    sizer: Sizer
    measured: str | None = None
    if isinstance(options.batch_size, int):
        sizer = FixedBatchSize(options.batch_size)
    else:
        # a process backend names its function: a later run of it starts where this one ended
        measured = getattr(backend, "job_key", None)
        sizer = AutoBatchSize(
            workers=count, target=backend.batch_target, total=total, prior=remembered(measured)
        )
    window = WINDOW_PER_WORKER * count * (2 if ordered else 1)
    finished = False
    try:
        yield from dispatch(
            backend,
            source,
            sizer,
            window,
            ordered=ordered,
            rules=limits,
            restore=restore,
        )
        finished = True
        if measured is not None and isinstance(sizer, AutoBatchSize):
            remember(measured, sizer.per_item)
    finally:
        backend.close(cancel=not finished)


def _attach(exc: BaseException, collector: Collector[T, R]) -> None:
    """Give a propagating exception the partial summary, as ``exc.summary``."""
    with contextlib.suppress(AttributeError):  # an exception type without __dict__
        exc.summary = collector.summary()  # type: ignore[attr-defined]


def check_options(**options: Any) -> tuple[Options, Limits, Tracking]:  # noqa: ANN401
    """Check the options of `parmap`, `imap` or a decorator, before anything runs.

    Raises:
        ArgumentError: On the first bad option, with what to pass instead.
    """
    checked = make_options(
        kind=options.get("kind", "io"),
        workers=options.get("workers"),
        batch_size=options.get("batch_size", "auto"),
        executor=options.get("executor"),
    )
    limits = make_limits(
        retries=options.get("retries", 0),
        retry_on=options.get("retry_on", (Exception,)),
        backoff=options.get("backoff", 0.0),
        timeout=options.get("timeout"),
        max_failures=options.get("max_failures"),
        rate=options.get("rate"),
    )
    tracking = make_tracking(
        progress=options.get("progress", False),
        checkpoint=options.get("checkpoint"),
        key=options.get("key"),
    )
    for flag in ("keep_results", "ordered"):
        if flag in options:
            _check_flag(flag, options[flag])
    _check_timeout_target(limits, checked)
    return checked, limits, tracking


def _check_journal(path: Path) -> None:
    from ._journal.journal import check_journal  # noqa: PLC0415 - see _execute

    check_journal(path)


def _check_timeout_target(limits: Limits, options: Options) -> None:
    if limits.timeout is not None and options.executor is not None:
        msg = (
            f"timeout={limits.timeout:g} cannot be enforced on an executor you own "
            f"({type(options.executor).__name__}): parmap would have to kill its workers; "
            "leave out executor= to let parmap run its own, or leave out timeout="
        )
        raise ArgumentError(msg)
    if limits.rate is not None and is_dask_client(options.executor):
        msg = (
            f"rate={limits.rate:g} cannot be shared by the workers of a Dask cluster, which "
            "may run on other machines: leave out rate=, or pace the calls inside fn"
        )
        raise ArgumentError(msg)


def _check_flag(name: str, value: object) -> None:
    if not isinstance(value, bool):
        msg = f"{name} must be True or False, got {type(value).__qualname__} {value!r}"
        raise ArgumentError(msg)


def _check_callable(fn: object, options: Options) -> None:
    if not callable(fn):
        msg = (
            f"fn must be callable, got {type(fn).__qualname__} {fn!r}; pass the function "
            "itself, e.g. parmap(process, items), not parmap(process(item), items)"
        )
        raise ArgumentError(msg)
    check_async_target(fn, options)


def _check_iterable(items: object) -> None:
    if not isinstance(items, Iterable):
        try:
            iter(items)  # type: ignore[call-overload]  # old-style __getitem__ iterables
        except TypeError:
            msg = (
                f"items must be iterable, got {type(items).__qualname__} {items!r}; pass a "
                "list, a generator, a range, or any other iterable of the items to process"
            )
            raise ArgumentError(msg) from None


def _length(items: object) -> int | None:
    try:
        return len(items)  # type: ignore[arg-type]
    except Exception:  # noqa: BLE001 - len() is only a hint for batch sizes and progress
        return None


public(parmap, imap)
