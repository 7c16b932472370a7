"""`Stream`, what `imap` returns: outcomes (or values alone) batch after batch, chained in C."""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast, final

from parmap._public import public
from parmap._report.items import Outcome

from .collect import batch_values, item_errors, outcomes

if TYPE_CHECKING:
    from collections.abc import Generator, Iterator

    from parmap._report.batches import Completed
    from parmap._report.items import ItemError

__all__ = ["Stream"]

T = TypeVar("T")
R = TypeVar("R")


@final
class Stream(itertools.chain[Outcome[T, R]], Generic[T, R]):
    """What `imap` returns: an iterator of one `Outcome` per item, and the run behind it.

    Iterate it for the outcomes, or call `values` before the first one for
    the values alone. Either way Python code runs once per batch, not per
    item: each batch's outcomes (or values) are chained in C.

    Attributes:
        errors: The `ItemError` of every item that failed so far, in the order
            their batches came in; complete once the stream is exhausted.

    Examples:
        >>> from parmap import imap
        >>> stream = imap(lambda x: 10 // x, [5, 0, 2])
        >>> list(stream.values())
        [2, None, 5]
        >>> [(error.index, error.type_name) for error in stream.errors]
        [(1, 'ZeroDivisionError')]
    """

    __slots__ = ("_batches", "_state", "errors")

    _batches: Generator[Iterator[Any], None, None]
    _state: _State[T]
    errors: list[ItemError[T]]

    @classmethod
    def of(
        cls, runs: Generator[Completed[T], None, None], max_failures: int | None
    ) -> Stream[T, R]:
        """The stream of the finished batches that `runs` yields (stopping at `max_failures`)."""
        state: _State[T] = _State()
        batches = _batches(runs, max_failures, state)
        stream = cast("Stream[T, R]", cls.from_iterable(batches))
        stream._batches, stream._state = batches, state  # noqa: SLF001 - set once, here
        stream.errors = state.errors
        return stream

    def values(self) -> Iterator[R | None]:
        """The items' values alone, in the stream's order, without an `Outcome` per item.

        A failed item yields ``None`` in its place, as in `Summary.results`,
        and its `ItemError` goes to `errors`. On tiny items this is several
        times faster than taking outcomes: there is no object to make per item.

        Raises:
            RuntimeError: Outcomes were taken from the stream already.

        Examples:
            >>> from parmap import imap
            >>> sum(value for value in imap(abs, range(-3, 3)).values())
            9
        """
        if self._state.started:
            msg = (
                "values() must be called before the first outcome is taken from the stream: "
                "call imap() again and ask it for values() first"
            )
            raise RuntimeError(msg)
        self._state.wanted = _VALUES
        return itertools.chain.from_iterable(self._batches)

    def close(self) -> None:
        """Stop: read no more input, cancel pending work, stop the workers.

        Dropping the stream does the same.
        """
        self._batches.close()


#: What a stream's batches hand out: outcomes, or values alone.
_OUTCOMES = 0
_VALUES = 1


class _State(Generic[T]):
    """What a stream and its batches generator share.

    Never the generator itself: dropping the stream then drops the generator
    at once (no reference cycle waits for the garbage collector), and its run stops.
    """

    __slots__ = ("errors", "started", "wanted")

    def __init__(self) -> None:
        self.errors: list[ItemError[T]] = []
        self.started = False
        self.wanted = _OUTCOMES


def _batches(
    runs: Generator[Completed[T], None, None], max_failures: int | None, state: _State[T]
) -> Generator[Iterator[Any], None, None]:
    """Each finished batch's outcomes (or values); the last one cut at `max_failures`."""
    failed = 0
    try:
        for done in runs:
            state.started = True
            errors = item_errors(done)
            state.errors.extend(errors)
            batch: Iterator[Any] = (
                iter(batch_values(done)) if state.wanted == _VALUES else outcomes(done, errors)
            )
            if max_failures is not None and errors:
                if failed + len(errors) >= max_failures:
                    kept = max_failures - failed  # this batch's errors up to the limit
                    del state.errors[len(state.errors) - len(errors) + kept :]
                    yield itertools.islice(batch, errors[kept - 1].index - done.start + 1)
                    return
                failed += len(errors)
            yield batch
            if done.result is not None and done.result.fatal is not None:
                raise done.result.fatal
    finally:
        runs.close()


public(Stream)
