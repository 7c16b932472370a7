"""The asyncio backend: coroutine functions on an event loop, at most `workers` awaiting at once.

::

    dispatcher thread: LoopBackend.submit(items)
        │ asyncio.run_coroutine_threadsafe             (a concurrent.futures.Future back)
        ▼
    event loop thread: _run_batch(items)      per item: a slot of the Semaphore(workers),
        │                                     await fn(item) under asyncio.timeout, retry
        │                                     with backoff, catch: `describe`
    dispatcher ◀── BatchResult ◀──────────────┘

The loop is parmap's own, on a helper thread started for the run and closed
with it, so a blocking `parmap` call works the same whether or not the
calling thread runs an event loop (a Jupyter cell, a coroutine under
``asyncio.run``): the caller's loop is never run, stopped or blocked by it.
`amap` instead lends the caller's own loop (`lend_loop`), so that coroutines
can use what is bound to it (client sessions, connection pools), while the
dispatcher waits on a helper thread.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from parmap._worker.batch import Policy
from parmap._worker.records import BatchResult, Failure, describe
from parmap._worker.timing import Measured, Timings

from .base import WINDOW_ITEMS, InProcess

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from concurrent.futures import Future

__all__ = ["LoanedLoop", "LoopBackend", "lend_loop"]

#: Seconds of work a batch on the loop should hold: as on threads, nothing is pickled.
LOOP_TARGET = 0.002

#: Seconds the loop gives cancelled coroutines to finish when a run is closed.
_GRACE = 5.0


@dataclass(slots=True, eq=False)
class LoanedLoop:
    """The caller's running loop, lent to the runs made by one `amap` call."""

    loop: asyncio.AbstractEventLoop
    cancelled: bool = False
    backends: list[LoopBackend] = field(default_factory=list)

    def cancel(self) -> None:
        """Stop the runs on this loan: cancel their coroutines; their next batch is refused."""
        self.cancelled = True
        for backend in self.backends:
            backend.cancel_all()


_LOANED: contextvars.ContextVar[LoanedLoop | None] = contextvars.ContextVar(
    "parmap_loaned_loop", default=None
)


def lend_loop(loan: LoanedLoop) -> contextvars.Context:
    """A copy of the current context in which runs use `loan`'s loop instead of their own."""
    context = contextvars.copy_context()
    context.run(_LOANED.set, loan)
    return context


def _lendable() -> LoanedLoop | None:
    """The loop lent by `amap`, unless this thread runs it (a blocking call would deadlock)."""
    loan = _LOANED.get()
    if loan is None:
        return None
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        return loan
    return None if running is loan.loop else loan


class LoopBackend(InProcess):
    """Batches run as coroutines on an event loop; each item awaits `fn(item)`.

    Items of one batch run one after the other, like on a thread; batches
    run side by side, and a semaphore of `workers` slots bounds how many
    items are awaiting at once, whatever the batch sizes. `fn` may be a
    coroutine function or any function: a value that is awaitable is
    awaited, any other value is the result.
    """

    def __init__(
        self,
        fn: Callable[[object], object],
        workers: int,
        policy: Policy | None = None,
        timeout: float | None = None,
    ) -> None:
        """Start an event loop on a helper thread, or use the loop lent by `amap`."""
        self._fn = fn
        self._policy = policy or Policy()
        self._timeout = timeout
        self._slots = asyncio.Semaphore(workers)
        self._pending: set[Future[object]] = set()
        self._stopped = False
        self._lock = threading.Lock()
        self.batch_target = LOOP_TARGET
        self.window_items = WINDOW_ITEMS
        self.description = f"asyncio ×{workers}"
        self._loan = _lendable()
        self._thread: threading.Thread | None = None
        if self._loan is not None:
            self._loop = self._loan.loop
            self._loan.backends.append(self)
            self.description += " (the caller's loop)"
            return
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._serve, name="parmap-asyncio", daemon=True)
        try:
            self._thread.start()
        except BaseException:
            self._loop.close()
            raise

    def _serve(self) -> None:
        """The helper thread: run the loop until stopped, end what is left on it, close it."""
        loop = self._loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_forever()
        finally:
            try:
                tasks = asyncio.all_tasks(loop)
                for task in tasks:
                    task.cancel()
                if tasks:
                    loop.run_until_complete(asyncio.wait(tasks, timeout=_GRACE))
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.run_until_complete(_shutdown_default_executor(loop))
            finally:
                asyncio.set_event_loop(None)
                loop.close()

    def submit(
        self, items: Sequence[object], prior: dict[int, int] | None = None
    ) -> Future[object]:
        """Schedule one batch on the loop; thread-safe, never blocks the loop's thread."""
        if self._loan is not None and self._loan.cancelled:
            msg = "the amap() call running this batch was cancelled"
            raise asyncio.CancelledError(msg)
        future: Future[object] = asyncio.run_coroutine_threadsafe(
            self._run_batch(items, prior or {}), self._loop
        )
        with self._lock:
            self._pending.add(future)
        future.add_done_callback(self._forget)
        return future

    def _forget(self, future: Future[object]) -> None:
        with self._lock:
            self._pending.discard(future)

    async def _run_batch(self, items: Sequence[object], prior: dict[int, int]) -> object:
        """Run the items of one batch in turn; a `KeyboardInterrupt`/`SystemExit` stops it."""
        start = time.perf_counter()
        values: list[object] = []
        failures: list[Failure] = []
        timings = Timings()
        try:
            for position, item in enumerate(items):
                value, failure = await self._attempts(
                    item, position, prior.get(position, 0) + 1, timings
                )
                values.append(value)
                if failure is not None:
                    failures.append(failure)
        except asyncio.CancelledError:
            raise  # the run is being stopped: this batch's future is cancelled
        except BaseException as exc:  # noqa: BLE001 - KeyboardInterrupt, SystemExit: handed back
            return BatchResult(
                values, failures, time.perf_counter() - start, exc, _measured(timings)
            )
        return BatchResult(values, failures, time.perf_counter() - start, None, _measured(timings))

    async def _attempts(
        self, item: object, position: int, attempt: int, timings: Timings
    ) -> tuple[object, Failure | None]:
        """Await ``fn(item)`` until it returns or the policy gives up: ``(value, failure)``.

        The item's duration, counted in `timings`, runs from the start of
        each attempt's call to its end (time spent awaiting included, that
        is what an awaiting item costs), summed over its attempts.
        """
        policy = self._policy
        if attempt > 1:  # earlier attempts were lost: wait as a retry would
            await asyncio.sleep(policy.delay(attempt - 1))
        clock = _ItemClock(timings, position)
        while True:
            try:
                async with self._slots:
                    if self._stopped:  # cancelled while waiting for a slot, or before it started
                        raise asyncio.CancelledError  # noqa: TRY301 - ends this batch's task
                    if policy.pace is not None:  # rate=: the start waits for its turn, in
                        # its slot (as a thread or process worker does), without blocking
                        # the loop
                        await asyncio.sleep(policy.pace.reserve() - time.monotonic())
                        if self._stopped:
                            raise asyncio.CancelledError  # noqa: TRY301 - as above
                    clock.start()
                    value = await self._call(item, attempt)
                    clock.stop(done=True)
                    return value, None
            except Exception as exc:  # noqa: BLE001 - a failing item is data, not a crash
                retry = attempt <= policy.retries and isinstance(exc, policy.retry_on)
                clock.stop(done=not retry)
                if retry:
                    await asyncio.sleep(policy.delay(attempt))  # backoff holds no slot
                    attempt += 1
                    continue
                return None, describe(position, exc, attempts=attempt)

    async def _call(self, item: object, attempt: int) -> object:
        """One attempt: call `fn`, await what it returned if awaitable, within the timeout."""
        result = self._fn(item)
        if not inspect.isawaitable(result):
            return result
        try:
            if self._timeout is None:
                return await result
            timer = asyncio.timeout(self._timeout)
            try:
                async with timer:
                    return await result
            except TimeoutError:
                if not timer.expired():
                    raise  # a TimeoutError of the item's own
                msg = (
                    f"this item ran longer than timeout={self._timeout:g} s (attempt {attempt}); "
                    "its coroutine was cancelled and the run went on"
                )
                raise TimeoutError(msg) from None
        except asyncio.CancelledError as exc:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise  # the run is being stopped
            msg = (
                "the item's coroutine raised CancelledError although parmap did not cancel "
                "it: something it awaited was cancelled"
            )
            raise RuntimeError(msg) from exc

    def stalled(self) -> bool:
        """Whether the loop's thread is gone (it never should be) while batches wait on it."""
        return self._thread is not None and not self._thread.is_alive()

    def cancel_all(self) -> None:
        """Cancel every batch still running; their coroutines are cancelled on the loop.

        A batch submitted meanwhile, whose task the loop has not created yet,
        cannot be cancelled through its future: the flag stops it before its
        first item.
        """
        self._stopped = True
        with self._lock:
            pending = list(self._pending)
        for future in pending:
            future.cancel()

    def close(self, *, cancel: bool) -> None:
        """Stop the loop and its thread (cancelling what still runs); a lent loop stays open."""
        if cancel:
            self.cancel_all()
        if self._loan is not None:
            self._loan.backends.remove(self)
            return
        assert self._thread is not None  # noqa: S101 - an own loop has its thread
        try:
            self._loop.call_soon_threadsafe(self._loop.stop)
        except RuntimeError:  # pragma: no cover - the loop is closed already
            return
        # Stopping, the loop gives cancelled coroutines a grace period; a coroutine that
        # blocks the loop's thread is not waited for (the thread is a daemon).
        self._thread.join(_GRACE * 3 if cancel else None)


async def _shutdown_default_executor(loop: asyncio.AbstractEventLoop) -> None:
    """Join the threads of the loop's default executor (``run_in_executor(None, ...)``), bounded."""
    try:
        await asyncio.wait_for(loop.shutdown_default_executor(), _GRACE)
    except TimeoutError:  # pragma: no cover - a call in the executor that never ends
        return


def _measured(timings: Timings) -> Measured | None:
    return timings.packed() if timings.counts else None


class _ItemClock:
    """Sums the durations of one item's attempts, and counts the item once it is done."""

    __slots__ = ("position", "seconds", "started", "timings")

    def __init__(self, timings: Timings, position: int) -> None:
        self.timings = timings
        self.position = position
        self.seconds = 0.0
        self.started: float | None = None

    def start(self) -> None:
        self.started = time.monotonic()

    def stop(self, *, done: bool) -> None:
        """End the attempt running (if one started); with `done`, count the item."""
        if self.started is None:
            return
        ended = time.monotonic()
        self.seconds += ended - self.started
        self.timings.span(self.started, ended)
        self.started = None
        if done:
            self.timings.one(self.position, self.seconds)
