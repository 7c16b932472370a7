"""The Stream that imap returns: values alone, its errors, and how it stops."""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

import pytest

from parmap import ItemError, Kind, Stream, imap, parmap

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


def tenth(x: int) -> int:
    return 10 // x


def fail_on_sevens(x: int) -> int:
    if x % 7 == 0:
        raise ValueError(x)
    return x * 10


def interrupt_on_3(x: int) -> int:
    if x == 3:
        raise KeyboardInterrupt
    return x


def test_values_are_in_input_order_with_none_for_failures(kind: Kind) -> None:
    """values(): one value per item, in order; a failure yields None and lands in errors."""
    stream = imap(fail_on_sevens, range(50), kind=kind)
    assert isinstance(stream, Stream)
    got = list(stream.values())
    assert got == [None if x % 7 == 0 else x * 10 for x in range(50)]
    assert [error.index for error in stream.errors] == list(range(0, 50, 7))
    assert all(isinstance(error, ItemError) for error in stream.errors)
    assert {error.type_name for error in stream.errors} == {"ValueError"}
    assert [error.item for error in stream.errors] == list(range(0, 50, 7))


def test_values_unordered_hold_every_value_once(kind: Kind) -> None:
    stream = imap(fail_on_sevens, range(500), kind=kind, ordered=False)
    got = list(stream.values())
    expected = [None if x % 7 == 0 else x * 10 for x in range(500)]
    assert sorted(got, key=lambda v: -1 if v is None else v) == sorted(
        expected, key=lambda v: -1 if v is None else v
    )
    assert sorted(error.index for error in stream.errors) == list(range(0, 500, 7))


def test_outcomes_carry_their_errors_and_the_stream_keeps_none() -> None:
    """Taking outcomes, an endless stream keeps no record of its failures."""
    stream = imap(tenth, [1, 0, 5, 0])
    outcomes = list(stream)
    assert [o.index for o in outcomes if o.error is not None] == [1, 3]
    assert stream.errors == []


def test_the_stream_itself_is_refused_once_read_through_values() -> None:
    """Mixing both readers would split batches between them: the stream refuses, none lost."""
    stream = imap(abs, range(100), batch_size=10)
    values = stream.values()
    assert list(itertools.islice(values, 3)) == [0, 1, 2]
    with pytest.raises(RuntimeError, match=r"read through values\(\)"):
        next(stream)
    assert list(values) == list(range(3, 100))


def test_values_twice_is_refused() -> None:
    stream = imap(abs, range(10))
    stream.values()
    with pytest.raises(RuntimeError, match="called once"):
        stream.values()
    stream.close()


def test_a_keyboard_interrupt_in_the_batch_that_reaches_max_failures_is_raised() -> None:
    def fail_then_interrupt(x: int) -> int:
        if x in {1, 2}:
            raise ValueError(x)
        if x == 4:
            raise KeyboardInterrupt
        return x

    for reader in ("outcomes", "values"):
        stream = imap(fail_then_interrupt, range(10), batch_size=10, max_failures=2)
        taken: list[object] = []
        with pytest.raises(KeyboardInterrupt):
            taken.extend(stream.values() if reader == "values" else stream)
        assert len(taken) == 3  # items 0, 1 and 2: the second failure ends the stream


def test_values_after_an_outcome_was_taken_is_refused() -> None:
    stream = imap(tenth, [1, 2, 5])
    assert next(stream).value == 10
    with pytest.raises(RuntimeError, match=r"before the first outcome.*imap\(\) again"):
        stream.values()
    stream.close()


def test_values_stop_at_max_failures(kind: Kind) -> None:
    """max_failures=3: values end with the third failure's None; errors hold exactly three."""
    stream = imap(fail_on_sevens, range(1000), kind=kind, max_failures=3, batch_size=5)
    got = list(stream.values())
    assert len(got) == 15  # items 0..14: failures at 0, 7 and 14
    assert got[-1] is None
    assert [error.index for error in stream.errors] == [0, 7, 14]


def test_max_failures_inside_one_batch_keeps_only_the_errors_up_to_it() -> None:
    stream = imap(fail_on_sevens, range(100), max_failures=2, batch_size=100)
    got = list(stream.values())
    assert len(got) == 8
    assert [error.index for error in stream.errors] == [0, 7]


def test_values_raise_keyboard_interrupt_after_the_values_before_it() -> None:
    values = imap(interrupt_on_3, range(10), batch_size=10).values()
    assert list(itertools.islice(values, 3)) == [0, 1, 2]
    with pytest.raises(KeyboardInterrupt):
        next(values)


def test_values_include_those_restored_from_a_checkpoint(tmp_path: Path) -> None:
    journal = tmp_path / "run.db"
    parmap(fail_on_sevens, range(30), checkpoint=journal)
    stream = imap(fail_on_sevens, range(30), checkpoint=journal)
    assert list(stream.values()) == [None if x % 7 == 0 else x * 10 for x in range(30)]
    assert [error.index for error in stream.errors] == list(range(0, 30, 7))


def test_closing_a_stream_read_for_values_stops_the_run(kind: Kind) -> None:
    """Leaving the values early and closing the stream reads no more input and leaves no
    worker (no_leaks checks); what is left of the batch already handed out may still come."""
    pulled = 0

    def endless() -> Iterator[int]:
        nonlocal pulled
        for n in itertools.count():
            pulled += 1
            yield n

    stream = imap(abs, endless(), kind=kind)
    values = stream.values()
    assert list(itertools.islice(values, 100)) == list(range(100))
    stream.close()
    seen = pulled
    rest = list(values)
    assert rest == list(range(100, 100 + len(rest)))
    assert pulled == seen
