"""An item's identity in a checkpoint journal: a digest stable across runs and processes."""

from __future__ import annotations

import hashlib
import itertools
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

__all__ = ["NotPlainError", "identity", "label", "no_identity"]

#: Plain-data types whose ``repr`` is a stable identity across runs and processes.
_PLAIN: Final = (str, int, float, bytes, bool, type(None))


def identity(value: object) -> bytes:
    """The journal identity of an item (or of what ``key`` returned for it).

    A digest of its ``repr``, for plain data only: strings, numbers, bytes,
    booleans, None, and tuples, lists and dicts of those. Their ``repr`` is
    the same in every run and every process (unlike ``hash()`` of a string);
    a dict's depends on its insertion order.

    Raises:
        TypeError: `value` is not plain data; the message says to pass ``key=``.

    Examples:
        >>> identity("a") == identity("a"), identity("a") == identity(("a",))
        (True, False)
        >>> len(identity({"id": 7}))
        16
    """
    part = _not_plain(value, depth=0)
    if part is not _ALL_PLAIN:
        inside = "" if part is value else f" (a {type(part).__qualname__} inside it)"
        msg = (
            f"checkpoint= needs a stable identity for each item, and {_shown(value)} is a "
            f"{type(value).__qualname__}{inside}, whose repr may differ between runs; pass "
            "key=, a function returning a str, int or tuple that identifies the item, e.g. "
            "key=lambda item: item.id"
        )
        raise NotPlainError(msg, value, part)
    return hashlib.blake2b(repr(value).encode("utf-8", "backslashreplace"), digest_size=16).digest()


class NotPlainError(TypeError):
    """A value that is not plain data, so it cannot be an identity."""

    def __init__(self, message: str, value: object, part: object) -> None:
        super().__init__(message)
        self.value = value
        self.part = part


_ALL_PLAIN: Final = object()


def _not_plain(value: object, depth: int) -> object:
    """The first part of `value` that is not plain data, or `_ALL_PLAIN`."""
    if type(value) in _PLAIN:
        return _ALL_PLAIN
    if depth > 20:  # noqa: PLR2004 - deeper than any sensible identity
        return value
    parts: Iterable[object]
    if type(value) in {tuple, list}:
        parts = value  # type: ignore[assignment]  # checked: a tuple or list
    elif type(value) is dict:
        parts = itertools.chain.from_iterable(value.items())
    else:
        return value
    for part in parts:
        found = _not_plain(part, depth + 1)
        if found is not _ALL_PLAIN:
            return found
    return _ALL_PLAIN


def _shown(value: object) -> str:
    text = label(value)
    return text if len(text) <= 80 else text[:79] + "…"  # noqa: PLR2004 - a short glimpse


def label(item: object) -> str:
    """A short readable form of `item`, for people reading the journal."""
    try:
        text = repr(item)
    except Exception:  # noqa: BLE001 - the label is for people reading the journal only
        text = f"<{type(item).__qualname__}>"
    return text if len(text) <= 200 else text[:199] + "…"  # noqa: PLR2004


def no_identity(exc: Exception, key: Callable[[object], object] | None) -> Exception:
    """The failure of an item that has no identity: `exc`, or what `key` did wrong."""
    if key is None:
        return exc
    if isinstance(exc, NotPlainError):
        inside = "" if exc.part is exc.value else f" (a {type(exc.part).__qualname__} inside it)"
        error = TypeError(
            f"key= returned {_shown(exc.value)}, a {type(exc.value).__qualname__}{inside}, "
            "which is not a stable identity, so the item was not run; make key= return a "
            "str, int, bytes, or a tuple of those, for every item"
        )
    else:
        error = TypeError(
            f"key= raised {type(exc).__name__}: {exc} for this item, so it has no identity "
            "in the checkpoint and was not run; make key= return a str, int or tuple for "
            "every item"
        )
    error.__cause__ = exc
    return error
