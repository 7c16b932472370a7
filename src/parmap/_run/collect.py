"""The collector: turns finished batches into results, errors and counts, then a Summary."""

from __future__ import annotations

import copy
import itertools
import time
from concurrent.futures import BrokenExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

from parmap._errors import WorkerDiedError
from parmap._report.items import ItemError, Outcome
from parmap._report.summary import Origin, Summary
from parmap._worker.records import describe

from .timing import TimingLog

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Mapping

    from parmap._report.batches import Completed
    from parmap._worker.records import Failure

__all__ = ["Collector", "RunLog", "batch_values", "item_errors", "outcomes"]

T = TypeVar("T")
R = TypeVar("R")


def item_errors(done: Completed[T]) -> list[ItemError[T]]:
    """The `ItemError` of each failed item of a finished batch, in input order."""
    result = done.result
    if result is None:
        return _batch_failed(done)
    errors: list[ItemError[T]] = []
    for failure in result.failures:
        assert failure.exception is not None  # noqa: S101 - unpacked before it gets here
        errors.append(
            ItemError(
                index=done.start + failure.position,
                item=done.items[failure.position],
                exception=failure.exception,
                type_name=failure.type_name,
                message=failure.message,
                traceback=_text(failure),
                attempts=failure.attempts,
            )
        )
    return errors


def _batch_failed(done: Completed[T]) -> list[ItemError[T]]:
    """Every item of a batch that could not run (or whose worker died) failed.

    Each item gets an exception object of its own, so that notes added to
    one (by `Summary.raise_for_errors`) never show up on the others.
    """
    error = done.error
    assert error is not None  # noqa: S101 - Completed holds a result or an error
    if isinstance(error, BrokenExecutor) and not isinstance(error, WorkerDiedError):
        died = WorkerDiedError(
            "the worker process running this item's batch died (it crashed, was killed, "
            f"or called os._exit) [{type(error).__name__}: {error}]; if it happens again, "
            "an item crashes the interpreter (a crash in an extension module, or running "
            "out of memory): find it with batch_size=1, or use kind='io'"
        )
        died.__cause__ = error
        error = died
    failure = describe(0, error)
    return [
        ItemError(
            index=index,
            item=item,
            exception=_own_copy(error),
            type_name=failure.type_name,
            message=failure.message,
            traceback=_text(failure),
        )
        for index, item in enumerate(done.items, done.start)
    ]


def _text(failure: Failure) -> str | Callable[[], str]:
    """A failure's traceback text, or what makes it when first read."""
    trace = failure.traceback
    return trace if isinstance(trace, str) else trace.text


def _own_copy(error: Exception) -> Exception:
    try:
        twin = copy.copy(error)
    except Exception:  # noqa: BLE001 - an exception that cannot be copied is shared instead
        return error
    twin.__cause__ = error.__cause__
    twin.__traceback__ = error.__traceback__
    return twin


def outcomes(done: Completed[T], errors: list[ItemError[T]]) -> Iterator[Outcome[T, R]]:
    """One `Outcome` per item of a finished batch, in input order; `errors` are its `item_errors`.

    Returns an iterator built in C, so that streaming costs no Python-level
    step per item.
    The caller raises the batch's ``fatal`` exception, if any, afterwards.
    """
    result = done.result
    if result is None:
        return (Outcome(error.index, error.item, None, error) for error in errors)
    values = cast("list[R | None]", result.values)
    aligned: Iterable[ItemError[T] | None] = itertools.repeat(None)
    if errors:
        slots: list[ItemError[T] | None] = [None] * len(values)
        for error in errors:
            slots[error.index - done.start] = error
        aligned = slots
    rows = zip(itertools.count(done.start), done.items, values, aligned)
    return map(_new_tuple, itertools.repeat(Outcome), rows)


def batch_values(done: Completed[T]) -> list[Any]:
    """The values of a finished batch's items, in input order; ``None`` where one failed.

    The list is the batch's own (not a copy): the caller takes it.
    """
    if done.result is None:
        return [None] * len(done.items)
    return done.result.values


@dataclass(slots=True)
class RunLog:
    """Where a run's work went, and what it decided on its own along the way."""

    backend: str = ""
    notes: list[str] = field(default_factory=list)
    #: How many workers ran the items (1 in the calling thread); 0 until known.
    workers: int = 0


#: ``tuple.__new__(Outcome, row)`` makes an Outcome in C, without the Python-level
#: ``Outcome.__new__`` (mapped over ``repeat(Outcome)``: ~30% less than a partial).
_new_tuple: Callable[[type[Outcome[Any, Any]], tuple[int, object, object, Any]], Any] = (
    tuple.__new__
)


#: A batch in order with more values than this (and than collected before) lends its list.
_ADOPT = 4096


class Collector(Generic[T, R]):
    """Accumulates a run's outcomes as batches finish, in any order.

    With ``keep_results=False`` it keeps counts and errors only, so memory
    stays flat however many items pass through; the items' call durations
    go into a `TimingLog`, flat too.

    Given the run's `options` and a `rerun` function, the Summary it makes
    can run its failed items again (`Summary.rerun_failed`). With `track`
    (the number of items of a re-run), it keeps what became of each item:
    `accounted` holds 0 (not reached), 1 (ran) or 2 (restored) per item.
    """

    def __init__(
        self,
        *,
        keep_results: bool = True,
        options: Mapping[str, object] | None = None,
        rerun: Callable[..., Any] | None = None,
        track: int | None = None,
    ) -> None:
        """Start the clock."""
        self._start = time.perf_counter()
        self.clock = TimingLog()
        self._keep = keep_results
        self._origin = (options if options is not None else {}, rerun)
        self.accounted = bytearray(track) if track is not None else None
        self.results: list[R | None] = []
        self.errors: list[ItemError[T]] = []
        self.succeeded = 0
        self.failed = 0
        self.skipped = 0
        self.log = RunLog()
        self._end = 0  # one past the highest index accounted for
        self._shared = False  # `results` is held by a Summary made before

    def add(self, done: Completed[T]) -> None:
        """Record one finished batch, which it takes: `done` is not to be read afterwards.

        A batch in order that brings more values than were collected before it
        lends them its list (the earlier values are put in front of them), so a
        big batch run here costs no copy of its values.

        Raises:
            BaseException: The ``KeyboardInterrupt`` or ``SystemExit`` that
                `fn` raised, after the items run before it were recorded.
        """
        start = done.start
        result = done.result
        ran = len(result.values) if result is not None else len(done.items)
        self._end = max(self._end, start + ran)
        if result is not None and result.timings is not None:
            self.clock.add(start, result.timings)
        if self.accounted is not None:
            self.accounted[start : start + ran] = b"\x01" * ran
            for position in done.restored:
                self.accounted[start + position] = 2
        failed = 0
        if result is None or result.failures:
            errors = item_errors(done)
            self.errors.extend(errors)
            failed = len(errors)
            self.failed += failed
        skipped = done.skipped
        self.succeeded += ran - failed - skipped
        self.skipped += skipped
        if self._keep:
            self._keep_values(done)
        if result is not None and result.fatal is not None:
            raise result.fatal

    def _keep_values(self, done: Completed[T]) -> None:
        """Put a finished batch's values in `results`, at their items' indexes."""
        if self._shared:  # a Summary holds the list: add to a copy
            self.results, self._shared = list(self.results), False
        results, start, result = self.results, done.start, done.result
        end = start + len(done.items)
        values = cast("list[R | None]", result.values if result is not None else [])
        if start == len(results) and len(values) == len(done.items):  # in order: append
            if len(values) > max(len(results), _ADOPT) and not self._shared:
                values[:0] = results  # moves the batch's values, copies the fewer before
                self.results = values
            else:
                results.extend(values)
        else:
            if len(results) < end:
                results.extend([None] * (end - len(results)))
            results[start : start + len(values)] = values

    def _handed_results(self) -> list[R | None]:
        """The results for a Summary: the list itself when it is whole (no copy), else a slice.

        A list handed over is copied before the collector adds to it again.
        """
        if len(self.results) != self._end:
            return self.results[: self._end]
        self._shared = True
        return self.results

    def summary(self) -> Summary[T, R]:
        """The Summary of everything recorded so far.

        After a run that stopped early, `results` ends at the last item
        accounted for; slots of items that never finished before it hold ``None``.
        With ``keep_results=False``, `results` is empty.
        """
        self.errors.sort(key=lambda error: error.index)
        elapsed = time.perf_counter() - self._start
        summary: Summary[T, R] = Summary(
            results=self._handed_results() if self._keep else [],
            errors=self.errors,
            total=self.succeeded + self.failed + self.skipped,
            succeeded=self.succeeded,
            failed=self.failed,
            skipped=self.skipped,
            elapsed=elapsed,
            backend=self.log.backend,
            notes=tuple(self.log.notes),
            timing=self.clock.finish(elapsed, self.log.workers),
        )
        options, rerun = self._origin
        if rerun is not None:
            origin = Origin(options=options, rerun=rerun, clock=self.clock)
            object.__setattr__(summary, "_origin", origin)  # a field no caller sets by hand
        return summary
