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
    the values alone (then read only those). Either way Python code runs once
    per batch, not per item: each batch's outcomes (or values) are chained in C.

    Examples:
        >>> from parmap import imap
        >>> stream = imap(lambda x: 10 // x, [5, 0, 2])
        >>> list(stream.values())
        [2, None, 5]
        >>> [(error.index, error.type_name) for error in stream.errors]
        [(1, 'ZeroDivisionError')]
    """

    __slots__ = ("_batches", "_state")

    _batches: Generator[Iterator[Any], None, None]
    _state: _State[T]

    @classmethod
    def of(
        cls, runs: Generator[Completed[T], None, None], max_failures: int | None
    ) -> Stream[T, R]:
        """The stream of the finished batches that `runs` yields (stopping at `max_failures`)."""
        state: _State[T] = _State()
        batches = _batches(runs, max_failures, state)
        stream = cast("Stream[T, R]", cls.from_iterable(_outcomes_only(batches, state)))
        stream._batches, stream._state = batches, state  # noqa: SLF001 - set once, here
        return stream

    @property
    def errors(self) -> list[ItemError[T]]:
        """With `values`: the `ItemError` of every item that failed so far.

        They come in the order their batches came in, and are complete once
        the values are exhausted. Taking outcomes instead, each `Outcome`
        carries its own error and this stays empty (an endless stream keeps
        no record of its failures).
        """
        return self._state.errors

    def values(self) -> Iterator[R | None]:
        """The items' values alone, without an `Outcome` per item.

        A failed item yields ``None`` in its place, as in `Summary.results`,
        and its `ItemError` goes to `errors`. On tiny items this is about
        twice as fast as taking outcomes: there is no object to make per item.
        The values come in input order, or with ``ordered=False`` as items
        finish: then only `errors` (by their ``index``) tell which item failed.

        Raises:
            RuntimeError: Outcomes were taken from the stream already, or
                `values` was called on it before.

        Examples:
            >>> from parmap import imap
            >>> sum(value for value in imap(abs, range(-3, 3)).values())
            9
        """
        if self._state.started or self._state.wanted == _VALUES:
            msg = (
                "values() can be called once, before the first outcome is taken from the "
                "stream: call imap() again and ask it for values() first"
            )
            raise RuntimeError(msg)
        self._state.wanted = _VALUES
        return itertools.chain.from_iterable(self._batches)

    def close(self) -> None:
        """Stop: read no more input, cancel pending work, stop the workers.

        Dropping the stream does the same. What is left of the batch being
        handed out when it is called may still come.
        """
        self._batches.close()


def _outcomes_only(
    batches: Generator[Iterator[Any], None, None], state: _State[T]
) -> Generator[Iterator[Any], None, None]:
    """The batches for the stream itself: refused once it is read through `Stream.values`."""
    while state.wanted != _VALUES:  # asked before each batch is taken: none is lost
        batch = next(batches, None)
        if batch is None:
            return
        yield batch
    msg = "this stream is read through values(): read only the values"
    raise RuntimeError(msg)


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
            batch: Iterator[Any]
            if state.wanted == _VALUES:
                state.errors.extend(errors)
                batch = iter(batch_values(done))
            else:
                batch = outcomes(done, errors)
            fatal = done.result.fatal if done.result is not None else None
            if max_failures is not None and failed + len(errors) >= max_failures > failed:
                kept = max_failures - failed  # this batch's errors up to the limit
                if state.wanted == _VALUES:
                    del state.errors[len(state.errors) - len(errors) + kept :]
                yield itertools.islice(batch, errors[kept - 1].index - done.start + 1)
                if fatal is not None:  # a Ctrl-C in the same batch is never swallowed
                    raise fatal
                return
            failed += len(errors)
            yield batch
            if fatal is not None:
                raise fatal
    finally:
        runs.close()


public(Stream)
