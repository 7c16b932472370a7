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
from itertools import islice
from typing import TYPE_CHECKING, Generic, Protocol, TypeVar

from ._errors import TransportError

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator
    from concurrent.futures import Future

    from ._backends import Backend
    from ._worker import BatchResult

__all__ = ["Completed", "Sizer", "Source", "dispatch"]

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
    """A finished batch: its items, the input index of the first, and what it produced.

    Exactly one of `result` (the batch ran) and `error` (the batch as a whole
    failed: its worker died, or it could not be run) is set.
    """

    start: int
    items: list[T]
    result: BatchResult | None
    error: Exception | None


class Source(Generic[T]):
    """The caller's input, read in batches; an exception from it ends the input, not the run.

    The exception is kept in `error`; the dispatcher finishes what was read
    before it (the partial batch included), then raises it.
    """

    def __init__(self, items: Iterable[T]) -> None:
        """Read `items` (already checked to be iterable)."""
        self._iterator = iter(items)
        self.read = 0  # items read so far: the input index of the next one
        self.error: Exception | None = None

    def take(self, size: int) -> list[T]:
        """The next `size` items, fewer at the end; an empty list when the input is done.

        ``list.extend`` keeps what it appended before the input raised, so no
        item read is ever lost, and items are read without a Python-level
        step of ours per item.

        Examples:
            >>> source = Source(iter("abcde"))
            >>> source.take(2), source.take(2), source.take(2), source.take(2), source.read
            (['a', 'b'], ['c', 'd'], ['e'], [], 5)
        """
        batch: list[T] = []
        if self.error is None:
            try:
                batch.extend(islice(self._iterator, size))
            except Exception as exc:  # noqa: BLE001 - the input's fault, re-raised by dispatch
                self.error = exc
        self.read += len(batch)
        return batch


def dispatch(
    backend: Backend,
    source: Source[T],
    sizer: Sizer,
    window: int,
    *,
    ordered: bool = False,
) -> Iterator[Completed[T]]:
    """Run every batch of `source` on `backend`, yielding each as it completes.

    With `ordered`, batches are yielded in input order instead: finished
    batches wait in a reorder buffer, and the window counts them too, so
    memory stays bounded however long the first batch takes.

    Raises:
        Exception: The input's own exception (held by `source`), after every
            batch read before it has been yielded.
    """
    state = _Window(backend, source, sizer, window)
    try:
        while True:
            state.refill()
            if not state.inflight:
                break
            future = _next_done(state.done)
            sequence, start, batch = state.inflight.pop(future)
            completed = _finish(backend, future, start, batch)
            if completed.result is not None:
                sizer.record(len(completed.result.values), completed.result.seconds)
            if ordered:
                yield from state.in_order(sequence, completed)
            else:
                yield completed
        if source.error is not None:
            raise source.error
    finally:
        for future in state.inflight:
            future.cancel()


class _Window(Generic[T]):
    """The batches in flight, and (ordered mode) those finished but not yet yielded."""

    def __init__(
        self,
        backend: Backend,
        source: Source[T],
        sizer: Sizer,
        size: int,
    ) -> None:
        self.backend = backend
        self.source = source
        self.sizer = sizer
        self.size = size
        self.done: queue.SimpleQueue[Future[object]] = queue.SimpleQueue()
        self.inflight: dict[Future[object], tuple[int, int, list[T]]] = {}
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
            start = self.source.read
            batch = self.source.take(self.sizer.next_size(self.dispatched))
            if not batch:
                self.exhausted = True
                return
            future = _submit(self.backend, batch)
            self.inflight[future] = (self.submitted, start, batch)
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
    start: int,
    batch: list[T],
) -> Completed[T]:
    """What a finished future means for its batch."""
    try:
        raw = future.result()
    except Exception as exc:  # noqa: BLE001 - the batch could not run (e.g. its worker died)
        return Completed(start, batch, None, exc)
    try:
        return Completed(start, batch, backend.unpack(raw), None)
    except Exception as exc:  # noqa: BLE001 - see _unreadable
        return Completed(start, batch, None, _unreadable(exc))


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


def _submit(backend: Backend, batch: list[T]) -> Future[object]:
    try:
        return backend.submit(batch)
    except BrokenExecutor:
        if not backend.replace():
            raise
        return backend.submit(batch)


def _next_done(done: queue.SimpleQueue[Future[object]]) -> Future[object]:
    while True:
        try:
            return done.get(timeout=_POLL)
        except queue.Empty:
            continue
