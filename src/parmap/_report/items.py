"""What happened to one item: `ItemError` when it failed, `Outcome` as `imap` yields it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, NamedTuple, TypeVar, final, overload

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Self

from parmap._public import public

__all__ = ["ItemError", "Outcome", "safe_repr", "shorten"]

T = TypeVar("T")
R = TypeVar("R")

#: Characters of an item's repr that a report shows.
REPR_LIMIT = 80


def shorten(text: str, limit: int) -> str:
    """Fold white space (newlines included) and cut `text` to `limit` characters."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def safe_repr(obj: object, limit: int = REPR_LIMIT) -> str:
    """Return ``repr(obj)`` cut to `limit` characters, or a placeholder if ``repr`` raises."""
    try:
        text = repr(obj)
    except Exception:  # noqa: BLE001 - a user's broken __repr__ must never break a report
        text = f"<{type(obj).__qualname__} object (repr failed)>"
    return shorten(text, limit)


class _TracebackText:
    """`ItemError.traceback`: the text, made on first read when the error holds a way to make it.

    Formatting a traceback costs ~50 µs; a run with many failures whose
    tracebacks nobody reads would spend most of its time on it. The text
    (or what makes it) lives in the instance's ``__dict__`` under the same
    name; once made, the text replaces what made it.
    """

    @overload
    def __get__(self, obj: None, owner: type[Any]) -> Self: ...
    @overload
    def __get__(self, obj: object, owner: type[Any] | None = None) -> str: ...
    def __get__(self, obj: object, owner: type[Any] | None = None) -> str | Self:
        if obj is None:  # read on the class: the field has no default
            msg = "traceback"
            raise AttributeError(msg)
        text: str | Callable[[], str] = obj.__dict__["traceback"]
        if not isinstance(text, str):
            text = text()
            obj.__dict__["traceback"] = text
        return text

    def __set__(self, obj: object, value: str | Callable[[], str]) -> None:
        obj.__dict__["traceback"] = value


@final
@dataclass(frozen=True, eq=False)
class ItemError(Generic[T]):
    """One failed item: which one, what was raised, and where.

    Attributes:
        index: Position of the item in the input (0-based).
        item: The item itself, as it was in the caller's process.
        exception: The exception `fn` raised. From a worker process it is the
            original exception when it can be pickled back, otherwise a
            `RemoteError` that keeps its type name and message. It carries no
            ``__traceback__`` (that would keep the call's frames, and the batch
            they ran in, alive for the life of the summary): see `traceback`.
        type_name: Qualified name of the exception's type, e.g.
            ``"requests.exceptions.ConnectionError"``; builtins are bare
            (``"ValueError"``).
        message: ``str()`` of the exception.
        traceback: The formatted traceback from where it was raised (also
            from a worker process), chained causes included. A `str`; on
            threads it is formatted when first read (a run with many
            failures does not pay for tracebacks nobody reads). To build an
            `ItemError`, pass the text, or a function of no arguments that
            returns it.
        attempts: How many times the item was tried.

    Examples:
        >>> from parmap import parmap
        >>> summary = parmap(int, ["1", "x"])
        >>> error = summary.errors[0]
        >>> error.index, error.item, error.type_name
        (1, 'x', 'ValueError')
        >>> error.message
        "invalid literal for int() with base 10: 'x'"
    """

    index: int
    item: T
    exception: Exception
    type_name: str
    message: str
    traceback: _TracebackText = _TracebackText()
    attempts: int = 1

    def __getstate__(self) -> dict[str, object]:
        """Pickle and copy the traceback as text."""
        state = dict(self.__dict__)
        state["traceback"] = self.traceback
        return state

    def __repr__(self) -> str:
        """Show the index, a short form of the item and the exception, never the traceback."""
        return (
            f"ItemError(index={self.index}, item={safe_repr(self.item)}, "
            f"type_name={self.type_name!r}, message={shorten(self.message, REPR_LIMIT)!r})"
        )


@final
class Outcome(NamedTuple, Generic[T, R]):
    """What happened to one item, as `imap` yields it.

    A named tuple: immutable, cheap to make by the million, and unpackable
    as ``index, item, value, error``.

    Attributes:
        index: Position of the item in the input (0-based).
        item: The item itself.
        value: What ``fn(item)`` returned, or ``None`` when it raised.
        error: The `ItemError` when it raised, else ``None``.

    Examples:
        >>> from parmap import imap
        >>> [(o.index, o.ok, o.value) for o in imap(lambda x: 10 // x, [5, 0])]
        [(0, True, 2), (1, False, None)]
    """

    index: int  # type: ignore[assignment]  # the field shadows tuple.index, on purpose
    item: T
    value: R | None
    error: ItemError[T] | None

    @property
    def ok(self) -> bool:
        """``True`` when the item's call returned."""
        return self.error is None


public(ItemError, Outcome)
