"""`parmap()` and `imap()`: check the call into a plan, run it, report every item."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any, TypeVar, Unpack, overload

from ._public import public
from ._run.collect import Collector, RunLog
from ._run.execute import run_plan
from ._run.plan import make_plan
from ._run.rerun import rerun_failed
from ._run.stream import Stream

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterable

    from ._options import ImapOptions, ParmapOptions
    from ._report.summary import Summary

__all__ = ["imap", "parmap"]

T = TypeVar("T")
R = TypeVar("R")


@overload
def parmap(
    fn: Callable[[T], Awaitable[R]], items: Iterable[T], **options: Unpack[ParmapOptions[T]]
) -> Summary[T, R]: ...
@overload
def parmap(
    fn: Callable[[T], R], items: Iterable[T], **options: Unpack[ParmapOptions[T]]
) -> Summary[T, R]: ...
def parmap(
    fn: Callable[[T], Any], items: Iterable[T], **options: Unpack[ParmapOptions[T]]
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
        **options: The options below, all keyword-only; see `MapOptions`.

    Keyword Args:
        kind (Kind): Default ``"io"``. ``"io"`` for work that waits (network, disk): threads.
            ``"cpu"`` for work that computes in Python: processes, each started from a clean
            interpreter. ``"auto"``: run the first items here, measure their CPU time against their
            wall time, and pick; items too quick to be worth sending to a worker all run here, one
            after another. The choice and its reason are in ``summary.notes``.
        workers (int | None): How many items run at once. Default: for ``"io"``
            ``max(32, cpus + 4)``; for ``"cpu"`` the CPUs this process may use (affinity and cgroup
            quota respected); for a coroutine function 100 awaiting at once.
        batch_size (int | Literal["auto"]): Default ``"auto"``. Items sent to a worker per task.
            ``"auto"`` starts at one and grows batches of fast items until each holds a few
            milliseconds (threads) or ~50 ms (processes) of work, shrinking again near the end of an
            input of known length.
        executor (Executor | Client | None): Default ``None``. Run on this executor instead of
            starting workers; it is left open. A `ThreadPoolExecutor` calls `fn` directly; any other
            executor (e.g. a `ProcessPoolExecutor`) gets `fn` and the items pickled. A Dask
            ``distributed.Client`` runs batches as tasks on its cluster's workers (``pip install
            "parmap[dask]"``; ``"auto"`` batches then hold ~100 ms of work each). `kind` is then
            ignored: the executor decides where work runs.
        keep_results (bool): Default ``True``. ``False`` keeps counts and errors only (``results``
            is then empty), so an endless run of side effects uses constant memory.
        retries (int): Default ``0``. Extra attempts for an item whose call raised, after the first
            (so ``retries=2`` means up to 3 calls). Retried in the same worker: nothing is sent
            again. ``ItemError.attempts`` says how many calls were made.
        retry_on (type[Exception] | tuple[type[Exception], ...]): Default ``(Exception,)``, every
            `Exception`. The exception types worth retrying; any other fails the item at once.
        backoff (float): Default ``0.0``. Base seconds to wait between attempts: before attempt n+1
            a random time between 0 and ``backoff × 2**(n-1)`` ("full jitter", so retries of many
            items spread out). ``0`` retries at once.
        timeout (float | None): Default ``None``. Seconds one attempt of one item may take (never a
            batch, never the run). With ``kind="cpu"`` the worker running a hung item is killed and
            replaced; on threads, which cannot be killed, the item is recorded and no longer waited
            for, and its thread is left to finish on its own (it never keeps the program from
            exiting). The item fails with `TimeoutError`, unless retries are left and `retry_on`
            includes `TimeoutError`.
        max_failures (int | None): Default ``None``. Stop the run once this many items have failed:
            pending work is cancelled, workers are stopped, and the Summary (of the items accounted
            for) says in its notes that the run stopped early.
        rate (float | None): Default ``None``. At most this many calls of `fn` start per second,
            across all workers (threads or processes): starts are spaced ``1/rate`` seconds apart,
            so any one-second window holds at most ``rate`` of them (one more at its edges).
            Fractions work: ``rate=0.5`` is one call every 2 s. Retries count as calls. Independent
            of `workers`, which bounds how many calls run at once.
        progress (bool): Default ``False``. Show a progress bar (tqdm: a widget in Jupyter, a text
            bar on stderr elsewhere) counting finished items and failures, with the total when
            `items` has a length.
        checkpoint (str | os.PathLike[str] | None): Default ``None``. Path of a journal (a SQLite
            file, created if missing) recording each finished item and its result. Run again with
            the same path, and the items that succeeded before are not run: their results are
            restored, and they count as ``skipped``; items that failed run again. Commits happen at
            least every 0.5 s, so a run killed at any moment (even ``kill -9``) loses at most that
            much work. Treat a journal like code: results are pickled, so parmap only loads a
            journal that you own, that nobody else can write, and that your parmap wrote (it is
            marked with a key kept in ``~/.config/parmap/journal.key``).
        key (Callable[[Any], object] | None): Default ``None``. With `checkpoint`: a function giving
            each item its identity in the journal (a str, int, bytes, or tuple of them), e.g.
            ``key=lambda row: row["id"]``. By default an item is its own identity, which works for
            plain data (strings, numbers, tuples, lists and dicts of them); other items need `key`.

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
    plan = make_plan(fn, items, options, entry="parmap")
    collector: Collector[T, Any] = Collector(
        keep_results=plan.keep_results, options=options, rerun=rerun_failed
    )
    runs = run_plan(fn, items, plan, collector.log)
    max_failures = plan.limits.max_failures
    try:
        for done in runs:
            collector.add(done)
            if max_failures is not None and collector.failed >= max_failures:
                collector.log.notes.append(_stopped_early(collector.failed, max_failures))
                break
        return collector.summary()
    except BaseException as exc:
        _attach(exc, collector)
        raise
    finally:
        runs.close()


@overload
def imap(
    fn: Callable[[T], Awaitable[R]], items: Iterable[T], **options: Unpack[ImapOptions[T]]
) -> Stream[T, R]: ...
@overload
def imap(
    fn: Callable[[T], R], items: Iterable[T], **options: Unpack[ImapOptions[T]]
) -> Stream[T, R]: ...
def imap(
    fn: Callable[[T], Any], items: Iterable[T], **options: Unpack[ImapOptions[T]]
) -> Stream[T, Any]:
    """Like `parmap`, but yield an `Outcome` per item as results arrive.

    The input is read lazily through a bounded window, so the first outcomes
    arrive before a slow or endless input is exhausted, and memory stays
    flat. Stopping early (``break``, or closing the iterator) stops reading
    the input, cancels pending work and stops the workers.

    Arguments are checked when `imap` is called, before any work starts;
    the work starts with the first ``next()``.

    It returns a `Stream`. For the values alone, call ``.values()`` on it
    before the first outcome: the same stream without an `Outcome` per item
    (about twice as fast on tiny items), ``None`` where an item failed, and
    the failures in the stream's ``errors``.

    Args:
        fn: Called once per item; see `parmap`.
        items: Any iterable, read lazily.
        **options: The options below, all keyword-only; see `MapOptions`.

    Keyword Args:
        kind (Kind): Default ``"io"``. ``"io"``, ``"cpu"`` or ``"auto"``; see `parmap`.
        ordered (bool): Default ``True``. ``True`` yields outcomes in input order (finished items
            wait in a bounded reorder buffer); ``False`` yields them as they finish, which keeps
            every worker busy when item times vary.
        workers (int | None): Default ``None``. How many items run at once; see `parmap`.
        batch_size (int | Literal["auto"]): Default ``"auto"``. Items sent to a worker per task; see
            `parmap`.
        executor (Executor | Client | None): Default ``None``. Run on the caller's executor; see
            `parmap`.
        retries (int): Default ``0``. Extra attempts for a failing item; see `parmap`.
        retry_on (type[Exception] | tuple[type[Exception], ...]): Default ``(Exception,)``. The
            exception types worth retrying; see `parmap`.
        backoff (float): Default ``0.0``. Base seconds between attempts; see `parmap`.
        timeout (float | None): Default ``None``. Seconds one attempt of one item may take; see
            `parmap`.
        max_failures (int | None): Default ``None``. Stop once this many items have failed: the
            outcome of the last of them is the last one yielded.
        rate (float | None): Default ``None``. At most this many calls start per second; see
            `parmap`.
        progress (bool): Default ``False``. Show a progress bar; see `parmap`.
        checkpoint (str | os.PathLike[str] | None): Default ``None``. Path of a journal of finished
            items; see `parmap`. Items done in an earlier run are yielded with their restored value.
        key (Callable[[Any], object] | None): Default ``None``. Each item's identity in the
            checkpoint journal; see `parmap`.

    Returns:
        A `Stream` of one `Outcome` per item: ``index``, ``item``, ``ok``, ``value``,
        ``error``.

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
    plan = make_plan(fn, items, options, entry="imap")
    return Stream.of(run_plan(fn, items, plan, RunLog()), plan.limits.max_failures)


def _stopped_early(failed: int, max_failures: int) -> str:
    return (
        f"stopped early: {failed} items failed, which reached max_failures={max_failures}; "
        "the items not yet run were not started"
    )


def _attach(exc: BaseException, collector: Collector[T, R]) -> None:
    """Give a propagating exception the partial summary, as ``exc.summary``."""
    with contextlib.suppress(AttributeError):  # an exception type without __dict__
        exc.summary = collector.summary()  # type: ignore[attr-defined]


public(parmap, imap)
