"""The dispatcher's pure parts: reading the input in batches (no pools)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from parmap._run.dispatch import Source

if TYPE_CHECKING:
    from collections.abc import Iterator


def test_take_reads_batches_in_order_and_counts_them() -> None:
    """take() returns up to `size` items at a time, and `read` counts every item read."""
    source = Source(range(5))
    assert source.take(3) == [0, 1, 2]
    assert source.take(3) == [3, 4]
    assert source.take(3) == []
    assert source.read == 5


def test_take_reads_lazily() -> None:
    """take() reads no more items from the input than the batch holds."""
    read: list[int] = []

    def items() -> Iterator[int]:
        for i in range(100):
            read.append(i)
            yield i

    Source(items()).take(3)
    assert read == [0, 1, 2]


def test_input_error_keeps_the_partial_batch() -> None:
    """When the input raises mid-batch, the items read before it are kept and the error held."""

    def items() -> Iterator[int]:
        yield from range(4)
        raise OSError("disk gone")

    source = Source(items())
    assert source.take(10) == [0, 1, 2, 3]
    assert isinstance(source.error, OSError)
    assert source.take(10) == []
    assert source.read == 4


def test_keyboard_interrupt_from_the_input_propagates() -> None:
    """Only Exception is held: a KeyboardInterrupt from the input is not swallowed."""

    def items() -> Iterator[int]:
        yield 1
        raise KeyboardInterrupt

    source = Source(items())
    try:
        source.take(5)
    except KeyboardInterrupt:
        assert source.error is None
    else:
        raise AssertionError
