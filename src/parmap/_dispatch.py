"""The window of in-flight batches: reading the input lazily, submitting, collecting, cancelling.

The dispatcher keeps at most `window` batches in flight, reads the input only
to refill that window, and yields each batch as it completes. Whatever way
it is left (input exhausted, an exception, the consumer stopping early, a
``KeyboardInterrupt`` while waiting), batches still pending are cancelled.
"""

from __future__ import annotations

import queue
from concurrent.futures import BrokenExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, Protocol, TypeVar

from ._batching import next_batch
from ._errors import TransportError

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator
    from concurrent.futures import Future

    from ._backends import Backend
    from ._worker import BatchResult

__all__ = ["Completed", "InputGuard", "Sizer", "dispatch"]

T = TypeVar("T")

#: Seconds between checks while waiting for a batch; waits never block for ever.
_POLL = 1.0


class Sizer(Protocol):
    """Chooses batch sizes: `AutoBatchSize` or `FixedBatchSize`."""

    def next_size(self, dispatched: int) -> int:
        """The size of the next batch."""
        ...

    def record(self, items: int, seconds: float) -> None:
        """Learn from a finished batch."""
        ...


@dataclass(slots=True)
class Completed(Generic[T]):
    """A finished batch: its (index, item) pairs and what it produced.

    Exactly one of `result` (the batch ran) and `error` (the batch as a whole
    failed: its worker died, or it could not be run) is set.
    """

    pairs: list[tuple[int, T]]
    result: BatchResult | None
    error: Exception | None


class InputGuard(Generic[T]):
    """Wraps the caller's iterable so an exception from it ends the input instead of the run.

    The exception is kept in `error`; the dispatcher finishes what was read
    before it, then raises it.
    """

    def __init__(self, items: Iterable[T]) -> None:
        """Guard `items` (already checked to be iterable)."""
        self._iterator = iter(items)
        self.error: Exception | None = None

    def __iter__(self) -> Iterator[T]:
        """Yield the items until the input ends or raises."""
        try:
            yield from self._iterator
        except Exception as exc:  # noqa: BLE001 - the input's fault, re-raised by the dispatcher
            self.error = exc


def dispatch(
    backend: Backend,
    pairs: Iterator[tuple[int, T]],
    sizer: Sizer,
    window: int,
    guard: InputGuard[T] | None = None,
    *,
    ordered: bool = False,
) -> Iterator[Completed[T]]:
    """Run every batch of `pairs` on `backend`, yielding each as it completes.

    With `ordered`, batches are yielded in input order instead: finished
    batches wait in a reorder buffer, and the window counts them too, so
    memory stays bounded however long the first batch takes.

    Raises:
        Exception: The input's own exception (held by `guard`), after every
            batch read before it has been yielded.
    """
    state = _Window(backend, pairs, sizer, window)
    try:
        while True:
            state.refill()
            if not state.inflight:
                break
            future = _next_done(state.done)
            sequence, batch = state.inflight.pop(future)
            completed = _finish(backend, future, batch)
            if completed.result is not None:
                sizer.record(len(completed.result.values), completed.result.seconds)
            if ordered:
                yield from state.in_order(sequence, completed)
            else:
                yield completed
        if guard is not None and guard.error is not None:
            raise guard.error
    finally:
        for future in state.inflight:
            future.cancel()


class _Window(Generic[T]):
    """The batches in flight, and (ordered mode) those finished but not yet yielded."""

    def __init__(
        self,
        backend: Backend,
        pairs: Iterator[tuple[int, T]],
        sizer: Sizer,
        size: int,
    ) -> None:
        self.backend = backend
        self.pairs = pairs
        self.sizer = sizer
        self.size = size
        self.done: queue.SimpleQueue[Future[object]] = queue.SimpleQueue()
        self.inflight: dict[Future[object], tuple[int, list[tuple[int, T]]]] = {}
        self.waiting: dict[int, Completed[T]] = {}
        self.submitted = 0  # batches
        self.yielded = 0  # batches yielded in order
        self.dispatched = 0  # items
        self.exhausted = False

    def refill(self) -> None:
        """Read and submit batches until the window is full or something has finished.

        It stops early when a batch finished, after submitting at least one,
        so that results are delivered before a slow input is read further.
        """
        fresh = 0
        while not self.exhausted and len(self.inflight) + len(self.waiting) < self.size:
            if fresh and not self.done.empty():
                return
            batch = next_batch(self.pairs, self.sizer.next_size(self.dispatched))
            if not batch:
                self.exhausted = True
                return
            future = _submit(self.backend, batch)
            self.inflight[future] = (self.submitted, batch)
            self.submitted += 1
            self.dispatched += len(batch)
            fresh += 1
            future.add_done_callback(self.done.put)

    def in_order(self, sequence: int, completed: Completed[T]) -> Iterator[Completed[T]]:
        """Hold `completed` until every batch before it was yielded; yield what is now in order."""
        self.waiting[sequence] = completed
        while self.yielded in self.waiting:
            yield self.waiting.pop(self.yielded)
            self.yielded += 1


def _finish(
    backend: Backend,
    future: Future[object],
    batch: list[tuple[int, T]],
) -> Completed[T]:
    """What a finished future means for its batch."""
    try:
        raw = future.result()
    except Exception as exc:  # noqa: BLE001 - the batch could not run (e.g. its worker died)
        return Completed(batch, None, exc)
    try:
        return Completed(batch, backend.unpack(raw), None)
    except Exception as exc:  # noqa: BLE001 - see _unreadable
        return Completed(batch, None, _unreadable(exc))


def _unreadable(exc: Exception) -> TransportError:
    """A batch's results pickled in the worker but cannot be unpickled here: its items fail."""
    error = TransportError(
        "the results of this item's batch could not be unpickled in the calling process: "
        f"{type(exc).__name__}: {exc}; some item of the batch returned an object that "
        "pickles but does not unpickle (e.g. an exception instance whose __init__ needs "
        "arguments): return plain data, or use batch_size=1 to confine the damage"
    )
    error.__cause__ = exc
    return error


def _submit(backend: Backend, batch: list[tuple[int, T]]) -> Future[object]:
    items = [item for _, item in batch]
    try:
        return backend.submit(items)
    except BrokenExecutor:
        if not backend.replace():
            raise
        return backend.submit(items)


def _next_done(done: queue.SimpleQueue[Future[object]]) -> Future[object]:
    while True:
        try:
            return done.get(timeout=_POLL)
        except queue.Empty:
            continue
