"""`amap`: `parmap` for async callers, awaited instead of blocking the caller's event loop."""

from __future__ import annotations

import contextlib
import threading
from typing import TYPE_CHECKING, Any, Generic, TypeVar, Unpack, overload

from ._api import parmap
from ._public import public
from ._run.plan import check_options

if TYPE_CHECKING:
    import asyncio
    from collections.abc import Awaitable, Callable, Iterable, Iterator

    from ._backends.eventloop import LoanedLoop
    from ._options import ParmapOptions
    from ._report.summary import Summary

__all__ = ["amap"]

T = TypeVar("T")
R = TypeVar("R")


@overload
async def amap(
    fn: Callable[[T], Awaitable[R]], items: Iterable[T], **options: Unpack[ParmapOptions[T]]
) -> Summary[T, R]: ...
@overload
async def amap(
    fn: Callable[[T], R], items: Iterable[T], **options: Unpack[ParmapOptions[T]]
) -> Summary[T, R]: ...
async def amap(
    fn: Callable[[T], Any], items: Iterable[T], **options: Unpack[ParmapOptions[T]]
) -> Summary[T, Any]:
    """Like `parmap`, awaited: for code that runs in an event loop (``async def``, a notebook).

    The caller's loop keeps running while the items run. A coroutine
    function runs its items on the caller's own loop, so it may use what is
    bound to that loop (a client session, a connection pool); a plain
    function runs on threads or processes as with `parmap`. Either way the
    bookkeeping (batches, order, retries, the summary) runs on a helper
    thread, never blocking the loop.

    Cancelling the awaiting task stops the run: coroutines still running
    are cancelled at once, and nothing more is started; on threads and
    processes, the run stops as soon as a running batch finishes. The
    `asyncio.CancelledError` then propagates as usual.

    Added in version 0.1.

    Args:
        fn: Called once per item; a coroutine function or a plain one.
        items: Any iterable, read lazily.
        **options: Any option of `parmap` (``kind``, ``workers``, ``retries``,
            ``timeout``, ...), with the same meaning.

    Returns:
        The `Summary` of the run, as `parmap` returns it.

    Raises:
        ArgumentError: An option is invalid (raised before any work starts).
        UnpicklableFunctionError: ``kind="cpu"`` and `fn` cannot be pickled.
        asyncio.CancelledError: The awaiting task was cancelled.

    Examples:
        >>> import asyncio
        >>> from parmap import amap
        >>> async def double(x: int) -> int:
        ...     await asyncio.sleep(0)
        ...     return 2 * x
        >>> async def main() -> list[int | None]:
        ...     summary = await amap(double, range(4), workers=2)
        ...     return summary.results
        >>> asyncio.run(main())
        [0, 2, 4, 6]
    """
    import asyncio  # noqa: PLC0415 - `import parmap` does not import asyncio

    from ._backends.eventloop import LoanedLoop, lend_loop  # noqa: PLC0415 - likewise

    check_options(options, entry="amap")
    loop = asyncio.get_running_loop()
    loan = LoanedLoop(loop)
    done: asyncio.Future[Summary[T, Any]] = loop.create_future()
    context = lend_loop(loan)
    stoppable = _Stoppable(items, loan)

    def run() -> None:
        try:
            summary: Summary[T, Any] = context.run(lambda: parmap(fn, stoppable, **options))
        except BaseException as exc:  # noqa: BLE001 - handed to the awaiting task
            _settle(loop, done, None, exc)
        else:
            _settle(loop, done, summary, None)

    threading.Thread(target=run, name="parmap-amap", daemon=True).start()
    try:
        return await asyncio.shield(done)
    except asyncio.CancelledError:
        loan.cancel()
        # Wait for the run to wind down (it is quick: nothing new starts), unless
        # cancelled again; whatever it ended with, this call was cancelled.
        with contextlib.suppress(BaseException):
            await done
        raise


def _settle(
    loop: asyncio.AbstractEventLoop,
    done: asyncio.Future[Summary[T, Any]],
    summary: Summary[T, Any] | None,
    exc: BaseException | None,
) -> None:
    """From the helper thread: hand the run's summary or exception to the awaiting task."""
    import asyncio  # noqa: PLC0415 - imported already by amap; cheap

    def settle() -> None:
        if done.done():
            return
        if exc is None:
            done.set_result(summary)  # type: ignore[arg-type]  # set when exc is None
        elif isinstance(exc, asyncio.CancelledError):
            done.cancel()
        else:
            done.set_exception(exc)

    with contextlib.suppress(RuntimeError):  # the loop was closed meanwhile: nobody waits
        loop.call_soon_threadsafe(settle)


class _Stoppable(Generic[T]):
    """The caller's items, read until the `amap` call is cancelled; keeps ``len()`` if any."""

    def __init__(self, items: Iterable[T], loan: LoanedLoop) -> None:
        self._items = items
        self._loan = loan

    def __iter__(self) -> Iterator[T]:
        import asyncio  # noqa: PLC0415 - imported already by amap; cheap

        for item in self._items:
            if self._loan.cancelled:
                msg = "the amap() call reading these items was cancelled"
                raise asyncio.CancelledError(msg)
            yield item

    def __len__(self) -> int:
        return len(self._items)  # type: ignore[arg-type]  # TypeError when it has none


public(amap)
