"""`ListWindow`: a batch of a list input, read in place instead of copied into a list of its own.

A batch run in the calling thread never leaves it, so it needs no list of its
own: copying 200,000 trivial items into batches costs ~10% of running them.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import islice
from typing import TYPE_CHECKING, TypeVar, overload

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["ListWindow"]

T = TypeVar("T")


class ListWindow(Sequence[T]):
    """The items ``items[start : start + size]`` of a list, as a sequence that copies nothing.

    Its length is fixed when it is made (as a slice's is); an item is read
    when it is asked for, so one the caller's function replaced in the list
    before its turn is read as a ``for`` loop over the list would read it.
    A window that reaches the end of the list is iterated by the list's own
    iterator, without a bound (no `islice` step per item): items appended
    while it runs are run too, as a ``for`` loop would, and `resized` then
    gives the window of what ran.

    Examples:
        >>> window = ListWindow(list("abcdef"), 2, 3)
        >>> len(window), list(window), window[0], window[-1], window[1:]
        (3, ['c', 'd', 'e'], 'c', 'e', ['d', 'e'])
        >>> len(ListWindow([1, 2], 1, 5)), ListWindow([1, 2], 1, 5).open_ended
        (1, True)
    """

    __slots__ = ("_items", "_size", "_start", "open_ended")

    def __init__(self, items: list[T], start: int, size: int) -> None:
        """The window of up to `size` items of `items` from `start` on."""
        self._items = items
        self._start = start
        self._size = max(0, min(size, len(items) - start))
        #: The window reached the end of the list when it was made.
        self.open_ended = start + self._size >= len(items)

    def resized(self, size: int) -> ListWindow[T]:
        """The window of `size` items from the same start."""
        return ListWindow(self._items, self._start, size)

    def __len__(self) -> int:
        """How many items the window holds."""
        return self._size

    @overload
    def __getitem__(self, index: int) -> T: ...
    @overload
    def __getitem__(self, index: slice) -> list[T]: ...
    def __getitem__(self, index: int | slice) -> T | list[T]:
        """An item by its position in the window, or a slice of the window, as a list."""
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(self._size))]
        if index < 0:
            index += self._size
        if not 0 <= index < self._size:
            msg = f"window index {index} out of range"
            raise IndexError(msg)
        return self._items[self._start + index]

    def __iter__(self) -> Iterator[T]:
        """The items in order, read by the list's own iterator (a C-level loop)."""
        iterator = iter(self._items)
        iterator.__setstate__(self._start)  # type: ignore[attr-defined]  # list_iterator's
        return iterator if self.open_ended else islice(iterator, self._size)

    def __reduce__(self) -> tuple[type[list[T]], tuple[list[T]]]:
        """Pickled as the plain list of its items (a journal or a worker sees a list)."""
        return list, (list(self),)
