"""The window of in-flight batches: reading the input lazily, submitting, collecting, cancelling.

The dispatcher keeps at most `window` batches in flight, reads the input only
to refill that window, and yields each batch as it completes. Whatever way
it is left (input exhausted, an exception, the consumer stopping early, a
``KeyboardInterrupt`` while waiting), batches still pending are cancelled.
"""

from __future__ import annotations

import contextlib
from concurrent.futures import BrokenExecutor, CancelledError, Future, InvalidStateError
from itertools import islice
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from parmap._errors import TransportError
from parmap._worker.records import BatchResult, LostItem

from .doorbell import Doorbell
from .flight import Flight
from .options import NO_LIMITS, Limits
from .window import ListWindow

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Sequence

    from parmap._backends.base import Backend
    from parmap._journal.journal import Restored
    from parmap._report.batches import Completed

__all__ = ["Sizer", "Source", "dispatch", "run_in_place"]

T = TypeVar("T")

#: Seconds between checks while waiting for a batch; waits never block for ever.
_POLL = 1.0
#: The dispatcher is woken once 1/WAKE_SHARE of the batches in flight have finished, and at
#: most WAKE_MOST of them (see `Doorbell`): the batches queued behind the running ones keep
#: every worker busy meanwhile. More per wake-up saves CPU but makes the dispatcher hold the
#: GIL longer at a time, which workers waking from their waits then wait for (on 2000 waits
#: of 10 ms on 100 threads: 4 a wake-up took 0.216 s, 16 0.221 s, unbounded 0.224 s).
WAKE_SHARE = 4
WAKE_MOST = 4


class Sizer(Protocol):
    """Chooses batch sizes: `AutoBatchSize` or `FixedBatchSize`."""

    def next_size(self, dispatched: int) -> int:
        """The size of the next batch."""
        ...

    def record(self, items: int, seconds: float) -> None:
        """Learn from a finished batch."""
        ...

    def record_bytes(self, items: int, nbytes: int) -> None:
        """Learn how many bytes a batch took to send."""
        ...


class Source(Generic[T]):
    """The caller's input, read in batches; an exception from it ends the input, not the run.

    The exception is kept in `error`; the dispatcher finishes what was read
    before it (the partial batch included), then raises it.
    """

    def __init__(self, items: Iterable[T]) -> None:
        """Read `items` (already checked to be iterable)."""
        self._iterator = iter(items)
        # a list is read by slices: half the cost of an iterator, for big batches of tiny items
        self._list = items if type(items) is list else None
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
            >>> source = Source(list("abc"))
            >>> source.take(2), source.take(2), source.take(2), source.read
            (['a', 'b'], ['c'], [], 3)
        """
        if self._list is not None:
            batch = self._list[self.read : self.read + size]
            self.read += len(batch)
            return batch
        batch = []
        if self.error is None:
            try:
                batch.extend(islice(self._iterator, size))
            except Exception as exc:  # noqa: BLE001 - the input's fault, re-raised by dispatch
                self.error = exc
        self.read += len(batch)
        return batch

    def take_window(self, size: int) -> Sequence[T]:
        """Like `take`, but a list input's items as a window on it (`ListWindow`), not a copy.

        For batches run in the calling thread: a window holds the list, so it
        must not travel to a worker.
        """
        if self._list is None:
            return self.take(size)
        window = ListWindow(self._list, self.read, size)
        self.read += len(window)
        return window


def dispatch(
    backend: Backend,
    source: Source[T],
    sizer: Sizer,
    window: int,
    *,
    ordered: bool = False,
    rules: Limits = NO_LIMITS,
    restore: Callable[[int, list[T]], Restored] | None = None,
) -> Iterator[Completed[T]]:
    """Run every batch of `source` on `backend`, yielding each as it completes.

    With `ordered`, batches are yielded in input order instead: finished
    batches wait in a reorder buffer, and the window counts them too, so
    memory stays bounded however long the first batch takes.

    When a worker dies (or is killed for a timeout) while running an item,
    that item fails (or, for a timeout, is retried if `rules` allow) and the
    rest of its batch is sent again, so every other item still runs. When
    the pool breaks without saying which item did it, each batch in flight
    is sent once more to a fresh pool; one that breaks a pool twice fails.

    With `restore` (a checkpoint journal's lookup), items an earlier run
    finished are not sent: their results are filled in from the journal.

    Raises:
        Exception: The input's own exception (held by `source`), after every
            batch read before it has been yielded.
    """
    state = _Window(backend, source, sizer, window, restore)
    try:
        while True:
            state.refill()
            if not state.inflight:
                break
            for future in _next_done(state.done, backend, state.inflight):
                flight = state.inflight.pop(future)
                completed = _finish(backend, future, flight, rules)
                if completed is None:  # sent again
                    state.resend(flight)
                    continue
                result = completed.result
                if result is not None and len(result.values) > completed.skipped:
                    sizer.record(len(result.values) - completed.skipped, result.seconds)
                if ordered:
                    yield from state.in_order(flight.sequence, completed)
                else:
                    state.inflight_items -= len(flight.items)
                    yield completed
        if source.error is not None:
            raise source.error
    finally:
        for future in state.inflight:
            future.cancel()


def run_in_place(
    run: Callable[[list[T]], BatchResult],
    start: int,
    items: list[T],
    restore: Callable[[int, list[T]], Restored] | None = None,
) -> Completed[T]:
    """Run a batch right here with `run`, leaving out what `restore` says was done before."""
    flight = Flight(0, start, items)
    if restore is not None:
        flight.skip(restore(start, items))
    if flight.positions == []:
        return flight.completed(flight.merge(BatchResult([])), None)
    return flight.completed(flight.merge(run(flight.sendable())), None)


class _Window(Generic[T]):
    """The batches in flight, and (ordered mode) those finished but not yet yielded."""

    def __init__(
        self,
        backend: Backend,
        source: Source[T],
        sizer: Sizer,
        size: int,
        restore: Callable[[int, list[T]], Restored] | None = None,
    ) -> None:
        self.backend = backend
        self.restore = restore
        self.source = source
        self.sizer = sizer
        self.size = size
        self.done = Doorbell()
        self.inflight: dict[Future[object], Flight[T]] = {}
        self.waiting: dict[int, Completed[T]] = {}
        self.submitted = 0  # batches
        self.yielded = 0  # batches yielded in order
        self.dispatched = 0  # items
        self.inflight_items = 0  # items read and not yet yielded
        self.exhausted = False

    def refill(self) -> None:
        """Read and submit batches until the window is full or something has finished.

        It stops early when a batch finished, after submitting at least one,
        so that results are delivered before a slow input is read further.
        """
        fresh = 0
        while (
            not self.exhausted
            and len(self.inflight) + len(self.waiting) < self.size
            and self.inflight_items < self.backend.window_items
        ):
            if fresh and self.done.pending():
                return
            start = self.source.read
            batch = self.source.take(self.sizer.next_size(self.dispatched))
            if not batch:
                self.exhausted = True
                return
            flight = Flight(self.submitted, start, batch)
            if self.restore is not None:
                flight.skip(self.restore(start, batch))
            if flight.positions == []:  # nothing left to run: done already
                future: Future[object] = Future()
                future.set_result(None)
                self.inflight[future] = flight
                self.done.put(future)
            else:
                self._send(flight)
            if self.backend.sent_bytes:
                self.sizer.record_bytes(len(batch), self.backend.sent_bytes)
            self.submitted += 1
            self.dispatched += len(batch)
            self.inflight_items += len(batch)
            fresh += 1

    def _send(self, flight: Flight[T]) -> None:
        future = _submit(self.backend, flight.sendable(), flight.sendable_prior())
        self.inflight[future] = flight
        future.add_done_callback(self.done.put)

    def resend(self, flight: Flight[T]) -> None:
        """Send what is left of a batch again (after its worker died)."""
        self._send(flight)

    def in_order(self, sequence: int, completed: Completed[T]) -> Iterator[Completed[T]]:
        """Hold `completed` until every batch before it was yielded; yield what is now in order."""
        self.waiting[sequence] = completed
        while self.yielded in self.waiting:
            ready = self.waiting.pop(self.yielded)
            # a finished batch holds its items (and results) until it is yielded: it counts
            # against the backend's window_items until then, or a consumer slower than the
            # workers would let the reorder buffer grow to `size` batches of the biggest size
            self.inflight_items -= len(ready.items)
            self.yielded += 1
            yield ready


def _finish(
    backend: Backend,
    future: Future[object],
    flight: Flight[T],
    rules: Limits,
) -> Completed[T] | None:
    """What a finished future means for its batch; ``None`` when the batch must be sent again."""
    if flight.positions == []:  # nothing was sent: every item was restored or failed already
        return flight.completed(flight.merge(BatchResult([])), None)
    try:
        raw = future.result()
    except Exception as exc:  # noqa: BLE001 - the batch could not run, or not to the end
        return _failed(flight, exc, rules)
    try:
        result = flight.merge(backend.unpack(raw))
    except Exception as exc:  # noqa: BLE001 - see _unreadable
        return flight.completed(None, _unreadable(exc))
    return flight.completed(result, None)


def _failed(flight: Flight[T], exc: Exception, rules: Limits) -> Completed[T] | None:
    """A batch's future failed: send (the rest of) it again, or fail it whole."""
    if isinstance(exc, LostItem):
        if flight.lose(exc, rules):
            return None
        return flight.completed(flight.merge(BatchResult([])), None)
    if isinstance(exc, BrokenExecutor | CancelledError):  # the pool broke or was replaced
        flight.breaks += 1
        if flight.breaks <= 1:
            return None
    if flight.restored or flight.failures:  # keep what is accounted for already
        return flight.completed(flight.merge_failed(exc), None)
    return flight.completed(None, exc)


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


def _submit(backend: Backend, batch: list[T], prior: dict[int, int] | None) -> Future[object]:
    try:
        return backend.submit(batch, prior)
    except BrokenExecutor:
        if not backend.replace():
            raise
        return backend.submit(batch, prior)


def _next_done(
    done: Doorbell,
    backend: Backend,
    inflight: dict[Future[object], Any],
) -> list[Future[object]]:
    """The next finished futures: at least one, a share of those in flight; never waits for ever.

    A pool that stopped answering (its manager thread died) is replaced, and
    its batches fail over to the new one.
    """
    while True:
        finished = done.take(min(len(inflight) // WAKE_SHARE, WAKE_MOST), timeout=_POLL)
        if finished:
            return finished
        if backend.stalled():
            backend.replace()
            stalled = BrokenExecutor("the worker pool stopped answering; it was replaced")
            for future in list(inflight):
                with contextlib.suppress(InvalidStateError):
                    future.set_exception(stalled)
