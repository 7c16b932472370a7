"""A batch on its way: what is being run of it, what failed of it so far, and how it merges back.

After a worker died in a batch, the batch is sent again without the item
that killed it; restored items (from a checkpoint) are never sent. `Flight`
keeps the positions of what is sent, and `merge` puts the result of what was
last sent back at the positions of the whole batch.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Generic, TypeVar

from parmap._errors import WorkerDiedError
from parmap._report.batches import Completed
from parmap._worker.records import BatchResult, Failure, LostItem, describe
from parmap._worker.timing import moved

if TYPE_CHECKING:
    from parmap._journal.journal import Restored

    from .options import Limits

__all__ = ["Flight", "lost_error"]

T = TypeVar("T")


@dataclass(slots=True)
class Flight(Generic[T]):
    """A batch on its way: what was read, what is being run of it, what failed of it so far.

    After a worker died in it, a batch is sent again without the item that
    killed it: `positions` lists the positions (in `items`) now being run,
    `failures` holds the failures of the items taken out, and `prior` the
    attempts already lost to timeouts.
    """

    sequence: int
    start: int
    items: list[T]
    positions: list[int] | None = None
    failures: list[Failure] = field(default_factory=list)
    prior: dict[int, int] = field(default_factory=dict)
    breaks: int = 0
    restored: dict[int, object] = field(default_factory=dict)

    def skip(self, restored: Restored) -> None:
        """Leave out the items an earlier run finished, and those that cannot be journaled."""
        self.restored = restored.values
        self.failures.extend(restored.failures)
        if self.restored or self.failures:
            taken = self.restored.keys() | {failure.position for failure in self.failures}
            self.positions = [p for p in range(len(self.items)) if p not in taken]

    def completed(self, result: BatchResult | None, error: Exception | None) -> Completed[T]:
        """The finished batch, as the dispatcher yields it.

        Restored items count as skipped only where the batch is accounted for
        (up to the item that stopped it, if one did).
        """
        if not self.restored:
            return Completed(self.start, self.items, result, error)
        restored = frozenset(self.restored)
        if result is not None and len(result.values) < len(self.items):
            restored = frozenset(p for p in restored if p < len(result.values))
        return Completed(self.start, self.items, result, error, restored)

    def sendable(self) -> list[T]:
        if self.positions is None:
            return self.items
        return [self.items[position] for position in self.positions]

    def sendable_prior(self) -> dict[int, int] | None:
        if not self.prior:
            return None
        running = self.positions or range(len(self.items))
        return {sent: self.prior[p] for sent, p in enumerate(running) if p in self.prior}

    def lose(self, lost: LostItem, rules: Limits) -> bool:
        """Take out (or keep, to retry) the item a worker died on; ``True`` if any is left."""
        running = self.positions if self.positions is not None else list(range(len(self.items)))
        if lost.innocent or not 0 <= lost.position < len(running):
            self.positions = running  # nobody to blame: run what is left again
            return True
        culprit = running[lost.position]
        if lost.timed_out and rules.retries_timeout(lost.attempt):
            self.prior[culprit] = lost.attempt
            self.positions = running
        else:
            self.failures.append(describe(culprit, lost_error(lost, rules), attempts=lost.attempt))
            self.positions = running[: lost.position] + running[lost.position + 1 :]
        return bool(self.positions)

    def merge(self, result: BatchResult) -> BatchResult:
        """The result of the whole batch, from the result of what was last sent of it."""
        if self.positions is None:
            return result
        values: list[object] = [None] * len(self.items)
        for sent, value in enumerate(result.values):
            values[self.positions[sent]] = value
        failures = list(self.failures)
        for position, value in self.restored.items():
            values[position] = value
        for failure in result.failures:
            failure.position = self.positions[failure.position]
            failures.append(failure)
        if result.fatal is not None:  # stopped early: keep what comes before the item that did
            stopped = len(result.values)
            ran = self.positions[stopped] if stopped < len(self.positions) else len(self.items)
            values = values[:ran]
            failures = [f for f in failures if f.position < ran]
        failures.sort(key=lambda failure: failure.position)
        timings = moved(result.timings, self.positions) if result.timings is not None else None
        return BatchResult(values, failures, result.seconds, result.fatal, timings)

    def merge_failed(self, exc: Exception) -> BatchResult:
        """The result of a batch whose unfinished items all failed with `exc`."""
        running = self.positions if self.positions is not None else range(len(self.items))
        values: list[object] = [None] * len(self.items)
        for position, value in self.restored.items():
            values[position] = value
        failures = [*self.failures, *(describe(p, exc) for p in running)]
        failures.sort(key=lambda failure: failure.position)
        return BatchResult(values, failures)


def lost_error(lost: LostItem, rules: Limits) -> Exception:
    """The exception recorded for an item whose worker died or overran its timeout."""
    if lost.timed_out and lost.exitcode is None:  # on a thread
        return TimeoutError(
            f"this item ran longer than timeout={rules.timeout:g} s (attempt {lost.attempt}); "
            "a thread cannot be stopped, so parmap stopped waiting for it and went on (the "
            "call finishes in the background, and never keeps the program from exiting)"
        )
    if lost.timed_out:
        return TimeoutError(
            f"this item ran longer than timeout={rules.timeout:g} s (attempt {lost.attempt}); "
            "its worker process was killed and replaced, and the run went on"
        )
    code = lost.exitcode
    if code is not None and code < 0:
        try:
            how = f"killed by signal {signal.Signals(-code).name}"
        except ValueError:
            how = f"killed by signal {-code}"
    else:
        how = f"exit code {code}"
    return WorkerDiedError(
        f"the worker process died while running this item ({how}); it was replaced and "
        "the run went on. If this item always does it, it crashes the interpreter (an "
        "extension module's fault, running out of memory, os._exit): run it alone to see"
    )
