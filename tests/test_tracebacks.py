"""Tracebacks of failed items: captured without frames, formatted when read, as if at once."""

from __future__ import annotations

import copy
import gc
import pickle
import traceback
import weakref
from typing import TYPE_CHECKING

import pytest

from parmap import ItemError, parmap
from parmap._worker.records import Trace, describe

if TYPE_CHECKING:
    from collections.abc import Callable


class _Payload:
    """An object only a raising frame refers to, so its lifetime shows the frame's."""


def _plain() -> None:
    raise ValueError("plain")


def _caused() -> None:
    try:
        _ = dict[str, int]()["key"]
    except KeyError as exc:
        msg = "wrapped"
        raise RuntimeError(msg) from exc


def _in_handler() -> None:
    try:
        _ = 1 / 0
    except ZeroDivisionError:
        msg = "while handling"
        raise OSError(msg)  # noqa: B904 - the implicit context is what is tested


def _suppressed() -> None:
    try:
        _ = 1 / 0
    except ZeroDivisionError:
        msg = "context suppressed"
        raise OSError(msg) from None


def _noted() -> None:
    error = ValueError("noted")
    error.add_note("a note made before the capture")
    raise error


def _named() -> int:
    a_local_value = 1  # noqa: F841 - what the hint names
    return a_local_valeu + 1  # type: ignore[name-defined, no-any-return]  # noqa: F821 - for its hint


def _caught(raiser: Callable[[], object]) -> BaseException:
    try:
        raiser()
    except Exception as exc:  # noqa: BLE001 - the exception is the test's subject
        return exc
    pytest.fail("the raiser did not raise")


@pytest.mark.parametrize("raiser", [_plain, _caused, _in_handler, _suppressed, _noted, _named])
def test_text_made_when_read_is_the_text_made_at_once(raiser: Callable[[], object]) -> None:
    """The traceback formatted on first read is exactly what formatting at capture gives."""
    exc = _caught(raiser)
    at_once = "".join(traceback.TracebackException(type(exc), exc, exc.__traceback__).format())
    failure = describe(0, exc)  # type: ignore[arg-type]  # an Exception
    assert failure.text == at_once


@pytest.mark.parametrize("raiser", [_plain, _caused, _in_handler])
def test_text_is_as_captured_after_the_exception_is_raised_again(
    raiser: Callable[[], None],
) -> None:
    """Raising the exception again, or adding a note to it, leaves its captured text alone."""
    exc = _caught(raiser)
    at_once = "".join(traceback.TracebackException(type(exc), exc, exc.__traceback__).format())
    failure = describe(0, exc)  # type: ignore[arg-type]  # an Exception
    exc.add_note("a note added later, by raise_for_errors say")
    try:
        try:
            _ = 1 / 0
        except ZeroDivisionError:
            raise exc  # noqa: B904 - gives it a new traceback and context
    except Exception:  # noqa: BLE001, S110 - only the side effects matter
        pass
    assert failure.text == at_once


def test_plain_failure_is_captured_not_formatted() -> None:
    """A plain exception's traceback is kept as a `Trace`, formatted only when read."""
    failure = describe(0, _caught(_plain))  # type: ignore[arg-type]  # an Exception
    assert isinstance(failure.traceback, Trace)
    assert failure.text.rstrip().endswith("ValueError: plain")
    text = failure.text
    assert failure.traceback is text  # type: ignore[comparison-overlap]  # kept once made


def test_name_error_is_formatted_at_once() -> None:
    """A NameError's "Did you mean" (3.12+) reads the frame's variables: formatted at once."""
    failure = describe(0, _caught(_named))  # type: ignore[arg-type]  # an Exception
    assert isinstance(failure.traceback, str)
    assert "NameError: name 'a_local_valeu' is not defined" in failure.traceback


def _raise_holding(payload: _Payload) -> None:
    held = payload
    raise ValueError(type(held).__name__)


def test_capture_keeps_no_frame_alive() -> None:
    """After the capture, the raising frame (and what its variables hold) can be collected."""
    payload = _Payload()
    alive = weakref.ref(payload)
    try:
        _raise_holding(payload)
    except ValueError as exc:
        failure = describe(0, exc)
    del payload
    gc.collect()
    assert alive() is None
    assert "in _raise_holding" in failure.text


def _fail_every_third(x: int) -> int:
    if x % 3 == 0:
        msg = f"item {x}"
        raise ValueError(msg)
    return x


def test_item_error_traceback_on_threads_names_the_raising_line() -> None:
    """On threads, ItemError.traceback is the text, made when read, naming fn's line."""
    summary = parmap(_fail_every_third, range(9), workers=3)
    texts = [error.traceback for error in summary.errors]
    assert [error.index for error in summary.errors] == [0, 3, 6]
    for index, text in zip([0, 3, 6], texts, strict=True):
        assert isinstance(text, str)
        assert "in _fail_every_third" in text
        assert text.rstrip().endswith(f"ValueError: item {index}")


def _item_error(traceback_text: str | Callable[[], str]) -> ItemError[str]:
    return ItemError(
        index=0,
        item="x",
        exception=ValueError("x"),
        type_name="ValueError",
        message="x",
        traceback=traceback_text,
    )


def test_item_error_makes_its_text_once() -> None:
    """Built with a function that makes the text, an ItemError calls it once, on first read."""
    calls: list[int] = []

    def make() -> str:
        calls.append(1)
        return "Traceback text\n"

    error = _item_error(make)
    assert calls == []
    assert (error.traceback, error.traceback) == ("Traceback text\n", "Traceback text\n")
    assert calls == [1]


def test_item_error_pickles_and_copies_with_its_text() -> None:
    """Pickling or copying an ItemError carries the text, not what makes it."""
    error = _item_error(lambda: "made\n")
    assert pickle.loads(pickle.dumps(error)).traceback == "made\n"  # noqa: S301 - our own bytes
    assert copy.copy(_item_error(lambda: "copied\n")).traceback == "copied\n"


def test_item_error_traceback_stays_read_only() -> None:
    """ItemError is frozen: its traceback cannot be assigned."""
    error = _item_error("text\n")
    with pytest.raises(AttributeError):
        error.traceback = "other"  # type: ignore[misc]  # frozen, on purpose
