"""The interface the dispatcher sees for every place batches run, and facts about executors.

A backend is a thin adapter: ``submit(items) -> Future`` of a raw result,
``unpack(raw) -> BatchResult``, ``replace()`` after the pool broke, and
``close(cancel=...)``. The dispatcher sees this one shape for every kind of
executor, the caller's own included.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from parmap._worker.records import BatchResult

if TYPE_CHECKING:
    from collections.abc import Sequence
    from concurrent.futures import Executor, Future


__all__ = ["WINDOW_ITEMS", "Backend", "InProcess", "describe_executor"]

#: Items in flight at most (read, not yet finished), whatever the batch sizes: tiny
#: items make big batches, and a few of them keep every worker busy.
WINDOW_ITEMS = 50_000


class Backend(Protocol):
    """What the dispatcher needs from a place to run batches."""

    description: str
    #: Size of the last batch sent, when it had to be pickled (else 0).
    sent_bytes: int
    #: Seconds of work a batch should hold when batch sizes are chosen for the user.
    batch_target: float
    #: Items read and not yet finished at most (`WINDOW_ITEMS`, or the backend's own figure).
    window_items: int

    def submit(
        self, items: Sequence[object], prior: dict[int, int] | None = None
    ) -> Future[object]:
        """Start one batch; the future's result goes through `unpack`.

        `prior` counts, by position, attempts already lost to a timeout.
        """
        ...

    def unpack(self, raw: object) -> BatchResult:
        """Turn a finished future's result into a `BatchResult`."""
        ...

    def replace(self) -> bool:
        """Start fresh workers after the pool broke; ``False`` if that is not ours to do."""
        ...

    def stalled(self) -> bool:
        """Whether the workers stopped answering without failing their futures."""
        ...

    def close(self, *, cancel: bool) -> None:
        """Release the workers: wait for them, or (``cancel=True``) stop them now."""
        ...


def describe_executor(executor: Executor | None) -> str:
    """A caller's executor as the report shows it, e.g. ``"ThreadPoolExecutor ×4"``."""
    name = type(executor).__name__
    workers = getattr(executor, "_max_workers", None)
    return f"{name} ×{workers}" if isinstance(workers, int) else name


class InProcess:
    """What backends that run batches in this process share: results need no unpacking.

    Nothing is pickled (`sent_bytes` stays 0), and there is no pool to break.
    """

    sent_bytes = 0

    def unpack(self, raw: object) -> BatchResult:
        """Results from this process need no unpacking."""
        assert isinstance(raw, BatchResult)  # noqa: S101 - our own invariant
        return raw

    def replace(self) -> bool:
        """Threads and an event loop do not break the way a process pool does."""
        return False
