"""The collector: turns finished batches into results, errors and counts, then a Summary."""

from __future__ import annotations

import time
from concurrent.futures import BrokenExecutor
from typing import TYPE_CHECKING, Generic, TypeVar, cast

from ._errors import WorkerDiedError
from ._summary import ItemError, Summary
from ._worker import describe

if TYPE_CHECKING:
    from ._dispatch import Completed

__all__ = ["Collector"]

T = TypeVar("T")
R = TypeVar("R")


class Collector(Generic[T, R]):
    """Accumulates a run's outcomes as batches finish, in any order."""

    def __init__(self, backend: str = "") -> None:
        """Start the clock."""
        self._start = time.perf_counter()
        self.results: list[R | None] = []
        self.errors: list[ItemError[T]] = []
        self.succeeded = 0
        self.failed = 0
        self.backend = backend
        self.notes: list[str] = []
        self._end = 0  # one past the highest index accounted for

    def add(self, done: Completed[T]) -> None:
        """Record one finished batch.

        Raises:
            BaseException: The ``KeyboardInterrupt`` or ``SystemExit`` that
                `fn` raised, after the items run before it were recorded.
        """
        pairs = done.pairs
        start = pairs[0][0]
        end = pairs[-1][0] + 1
        if len(self.results) < end:
            self.results.extend([None] * (end - len(self.results)))
        result = done.result
        self._end = max(self._end, start + (len(result.values) if result else len(pairs)))
        if result is None:
            self._fail_batch(done)
            return
        values = cast("list[R | None]", result.values)
        self.results[start : start + len(values)] = values
        for failure in result.failures:
            index, item = pairs[failure.position]
            assert failure.exception is not None  # noqa: S101 - unpacked before it gets here
            self.errors.append(
                ItemError(
                    index=index,
                    item=item,
                    exception=failure.exception,
                    type_name=failure.type_name,
                    message=failure.message,
                    traceback=failure.traceback,
                    attempts=failure.attempts,
                )
            )
        self.failed += len(result.failures)
        self.succeeded += len(values) - len(result.failures)
        if result.fatal is not None:
            raise result.fatal

    def _fail_batch(self, done: Completed[T]) -> None:
        """Every item of a batch that could not run (or whose worker died) failed."""
        error = done.error
        assert error is not None  # noqa: S101 - Completed holds a result or an error
        if isinstance(error, BrokenExecutor) and not isinstance(error, WorkerDiedError):
            died = WorkerDiedError(
                "the worker process running this item's batch died (it crashed, was killed, "
                f"or called os._exit) [{type(error).__name__}: {error}]; the run went on "
                "with fresh workers"
            )
            died.__cause__ = error
            error = died
        failure = describe(0, error)
        for index, item in done.pairs:
            self.errors.append(
                ItemError(
                    index=index,
                    item=item,
                    exception=error,
                    type_name=failure.type_name,
                    message=failure.message,
                    traceback=failure.traceback,
                )
            )
        self.failed += len(done.pairs)

    def summary(self) -> Summary[T, R]:
        """The Summary of everything recorded so far.

        After a run that stopped early, `results` ends at the last item
        accounted for; slots of items that never finished before it hold ``None``.
        """
        self.errors.sort(key=lambda error: error.index)
        return Summary(
            results=self.results[: self._end],
            errors=self.errors,
            total=self.succeeded + self.failed,
            succeeded=self.succeeded,
            failed=self.failed,
            skipped=0,
            elapsed=time.perf_counter() - self._start,
            backend=self.backend,
            notes=tuple(self.notes),
        )
