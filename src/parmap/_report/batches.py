"""`Completed`: a finished batch, as the dispatcher hands it to the collector, bar and journal."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, TypeVar

if TYPE_CHECKING:
    from collections.abc import Sequence

    from parmap._worker.records import BatchResult

__all__ = ["Completed"]

T = TypeVar("T")


@dataclass(slots=True)
class Completed(Generic[T]):
    """A finished batch: its items, the input index of the first, and what it produced.

    Exactly one of `result` (the batch ran) and `error` (the batch as a whole
    failed: its worker died, or it could not be run) is set.
    """

    start: int
    items: Sequence[T]
    result: BatchResult | None
    error: Exception | None
    #: Positions whose results an earlier run left in the checkpoint journal.
    restored: frozenset[int] = frozenset()

    @property
    def skipped(self) -> int:
        """How many of the items were done in an earlier run (and not run again)."""
        return len(self.restored)
