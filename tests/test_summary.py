"""Unit tests for parmap._report: Summary and ItemError built by hand, their reports and errors."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import pytest

from parmap import ItemError, Summary

if TYPE_CHECKING:
    from collections.abc import Callable

#: The multiplication sign reports put between a name and a count, as in "threads <sign>4".
TIMES = "\N{MULTIPLICATION SIGN}"
BACKEND = f"threads {TIMES}4"

#: Exception types for reports with many kinds of error.
EIGHT_TYPES: list[type[Exception]] = [
    ValueError,
    KeyError,
    TypeError,
    OSError,
    RuntimeError,
    IndexError,
    ZeroDivisionError,
    AttributeError,
]


def _error(index: int, exc: Exception, item: object = None) -> ItemError[object]:
    """An ItemError for `exc`, as a run would record it."""
    return ItemError(
        index=index,
        item=item if item is not None else f"item-{index}",
        exception=exc,
        type_name=type(exc).__name__,
        message=str(exc),
        traceback=f"Traceback (most recent call last):\n  ...\n{type(exc).__name__}: {exc}\n",
    )


def _summary(
    errors: list[ItemError[object]],
    total: int,
    *,
    skipped: int = 0,
    backend: str = BACKEND,
    notes: tuple[str, ...] = (),
) -> Summary[object, object]:
    """A 2-second Summary of `total` items: those in `errors` failed, the others returned i*10."""
    failed = {error.index for error in errors}
    results: list[object | None] = [None if i in failed else i * 10 for i in range(total)]
    return Summary(
        results=results,
        errors=errors,
        total=total,
        succeeded=total - len(errors) - skipped,
        failed=len(errors),
        skipped=skipped,
        elapsed=2.0,
        backend=backend,
        notes=notes,
    )


def _mixed() -> Summary[object, object]:
    """10 items: ValueError at 1, 4, 7 and 9, KeyError at 2; 2 s on 4 threads."""
    errors = [
        _error(1, ValueError("bad value 1")),
        _error(2, KeyError("missing")),
        _error(4, ValueError("bad value 4")),
        _error(7, ValueError("bad value 7")),
        _error(9, ValueError("bad value 9")),
    ]
    return _summary(errors, total=10)


def _all_ok() -> Summary[object, object]:
    return _summary([], total=3)


class BrokenRepr:
    """An item whose repr() raises."""

    def __repr__(self) -> str:
        msg = "no repr for you"
        raise RuntimeError(msg)


class Hostile:
    """An item that cannot be compared, hashed or tested for truth."""

    def __eq__(self, other: object) -> bool:
        msg = "no __eq__"
        raise RuntimeError(msg)

    def __hash__(self) -> int:
        msg = "no __hash__"
        raise RuntimeError(msg)

    def __bool__(self) -> bool:
        msg = "no __bool__"
        raise RuntimeError(msg)


RENDERERS: dict[str, Callable[[Summary[object, object]], str]] = {
    "str": str,
    "repr": repr,
    "html": lambda summary: summary._repr_html_(),
}


# --- results and counts ------------------------------------------------------------------


def test_results_hold_values_and_none_at_failures() -> None:
    """results keep input order, with None in the slots of failed items."""
    summary = _summary([_error(1, ValueError("x"))], total=3)
    assert summary.results == [0, None, 20]


def test_ok_when_nothing_failed() -> None:
    """A summary without failures is ok."""
    assert _all_ok().ok is True


def test_not_ok_when_an_item_failed() -> None:
    """A summary with a failure is not ok."""
    assert _mixed().ok is False


def test_counts_are_kept() -> None:
    """total, succeeded, failed and skipped are what the run counted."""
    summary = _summary([_error(0, ValueError("x"))], total=10, skipped=3)
    assert (summary.total, summary.succeeded, summary.failed, summary.skipped) == (10, 6, 1, 3)


# --- str() report ------------------------------------------------------------------------


def test_report_headline_counts() -> None:
    """The first line gives the total, the ok count and the failed count."""
    headline = str(_mixed()).splitlines()[0]
    assert headline.startswith("10 items: 5 ok, 5 failed")


def test_report_headline_singular() -> None:
    """A one-item run says 'item', not 'items'."""
    assert str(_summary([], total=1)).startswith("1 item: ")


def test_report_headline_skipped() -> None:
    """Skipped items are counted in the headline when there are any."""
    assert "3 skipped" in str(_summary([], total=10, skipped=3)).splitlines()[0]


def test_report_headline_no_skipped_when_zero() -> None:
    """The headline does not mention skipped items when none were skipped."""
    assert "skipped" not in str(_mixed())


def test_report_time() -> None:
    """The headline gives the elapsed time in seconds."""
    assert " in 2.0 s " in str(_mixed()).splitlines()[0]


def test_report_throughput() -> None:
    """The headline gives the throughput: 10 items in 2 s is 5.0 items/s."""
    assert "(5.0 items/s)" in str(_mixed()).splitlines()[0]


def test_report_throughput_zero_elapsed() -> None:
    """A run that took no measurable time reports a throughput without dividing by zero."""
    summary = dataclasses.replace(_summary([], total=10), elapsed=0.0)
    assert "(0.0 items/s)" in str(summary)


def test_report_backend() -> None:
    """The headline names the backend."""
    assert str(_mixed()).splitlines()[0].endswith(f"\N{MIDDLE DOT} {BACKEND}")


def test_report_groups_errors_by_type() -> None:
    """Each error type gets one line, with its count."""
    lines = str(_mixed()).splitlines()[1:]
    assert [line.split(" (")[0].strip() for line in lines] == [
        f"ValueError {TIMES}4",
        f"KeyError {TIMES}1",
    ]


def test_report_most_frequent_type_first() -> None:
    """The most frequent error type comes first."""
    lines = str(_mixed()).splitlines()
    assert "ValueError" in lines[1]
    assert "KeyError" in lines[2]


def test_report_first_indexes() -> None:
    """A group shows its first three indexes, then an ellipsis when there are more."""
    assert "(items 1, 4, 7, …)" in str(_mixed())


def test_report_single_index() -> None:
    """A group of one shows 'item N'."""
    assert "(item 2)" in str(_mixed())


def test_report_first_message() -> None:
    """A group shows the message of its first error."""
    assert f"ValueError {TIMES}4 (items 1, 4, 7, …): bad value 1" in str(_mixed())


def test_report_all_ok_is_one_line() -> None:
    """A run without failures and notes reports on a single line."""
    assert len(str(_all_ok()).splitlines()) == 1


def test_report_stays_short_with_many_errors() -> None:
    """10,000 errors of 8 types give a report of at most 10 lines."""
    errors = [_error(i, EIGHT_TYPES[i % 8](f"failure {i}")) for i in range(10_000)]
    report = str(_summary(errors, total=10_000))
    assert len(report.splitlines()) <= 10


def test_report_says_more_when_truncated() -> None:
    """A report that leaves error types out says how many more there are."""
    errors = [_error(i, EIGHT_TYPES[i % 8](f"failure {i}")) for i in range(10_000)]
    report = str(_summary(errors, total=10_000))
    assert "… and 3750 more errors of 3 other types" in report


def test_report_long_message_is_shortened() -> None:
    """A very long, multi-line message is folded onto one short line."""
    summary = _summary([_error(0, ValueError("word\n" * 1000))], total=1)
    assert max(len(line) for line in str(summary).splitlines()) < 200


def test_report_shows_notes() -> None:
    """Notes are shown in the report."""
    summary = _summary([], total=1, notes=("ran on threads: fn could not be pickled",))
    assert "note: ran on threads: fn could not be pickled" in str(summary)


# --- repr() ------------------------------------------------------------------------------


def test_repr_is_one_line() -> None:
    """repr() is a single line."""
    assert "\n" not in repr(_mixed())


def test_repr_has_counts_and_backend() -> None:
    """repr() shows the counts, the backend, and the error types with their counts."""
    assert repr(_mixed()) == (
        f"<Summary total=10 succeeded=5 failed=5 skipped=0 elapsed=2.000s backend='{BACKEND}' "
        "errors={ValueError: 4, KeyError: 1}>"
    )


def test_repr_leaves_results_out() -> None:
    """repr() does not show the results (they can be huge)."""
    summary: Summary[object, object] = Summary(
        results=["a-very-distinctive-result"], errors=[], total=1, succeeded=1, failed=0
    )
    assert "a-very-distinctive-result" not in repr(summary)


# --- _repr_html_ -------------------------------------------------------------------------


def test_html_is_a_table() -> None:
    """The notebook view of a run with errors holds a <table>."""
    html = _mixed()._repr_html_()
    assert "<table>" in html
    assert "</table>" in html


def test_html_has_one_row_per_error_type() -> None:
    """The table has a header row and one row per error type."""
    html = _mixed()._repr_html_()
    assert html.count("<tr>") == 3


def test_html_escapes_items() -> None:
    """An item like '<script>' appears escaped, never as markup."""
    summary = _summary([_error(0, ValueError("x"), item="<script>")], total=1)
    html = summary._repr_html_()
    assert "<script>" not in html
    assert "&lt;script&gt;" in html


def test_html_escapes_messages() -> None:
    """A message holding markup appears escaped."""
    summary = _summary([_error(0, ValueError("<img src=x onerror=alert(1)>"))], total=1)
    html = summary._repr_html_()
    assert "<img" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html


def test_html_escapes_notes_and_backend() -> None:
    """Notes and the backend name appear escaped."""
    summary = _summary([], total=1, backend="<b>pool</b>", notes=("<i>careful</i>",))
    html = summary._repr_html_()
    assert "<b>pool</b>" not in html
    assert "<i>careful</i>" not in html
    assert "&lt;i&gt;careful&lt;/i&gt;" in html


def test_html_stays_short_with_many_errors() -> None:
    """10,000 errors of 8 types give a table of at most 7 rows."""
    errors = [_error(i, EIGHT_TYPES[i % 8](f"failure {i}")) for i in range(10_000)]
    html = _summary(errors, total=10_000)._repr_html_()
    assert html.count("<tr>") <= 7


# --- hostile items -----------------------------------------------------------------------


@pytest.mark.parametrize("item_type", [BrokenRepr, Hostile])
@pytest.mark.parametrize("render", RENDERERS.values(), ids=RENDERERS.keys())
def test_hostile_items_never_break_reports(
    item_type: type, render: Callable[[Summary[object, object]], str]
) -> None:
    """Items whose repr, __eq__, __hash__ or __bool__ raise never break str/repr/HTML."""
    summary = _summary([_error(0, ValueError("x"), item=item_type())], total=2)
    assert "failed" in render(summary)


def test_broken_repr_item_shows_placeholder() -> None:
    """An item whose repr() raises is shown by a placeholder naming its type."""
    summary = _summary([_error(0, ValueError("x"), item=BrokenRepr())], total=1)
    html = summary._repr_html_()
    assert "BrokenRepr object (repr failed)" in html


@pytest.mark.parametrize("item_type", [BrokenRepr, Hostile])
def test_hostile_items_never_break_item_error_repr(item_type: type) -> None:
    """ItemError's repr works for items whose repr, __eq__, __hash__ or __bool__ raise."""
    assert repr(_error(3, ValueError("x"), item=item_type())).startswith("ItemError(index=3, ")


@pytest.mark.parametrize("item_type", [BrokenRepr, Hostile])
def test_hostile_items_never_break_raise_for_errors(item_type: type) -> None:
    """raise_for_errors raises the ExceptionGroup even for hostile items."""
    summary = _summary([_error(0, ValueError("x"), item=item_type())], total=1)
    with pytest.raises(ExceptionGroup):
        summary.raise_for_errors()


# --- raise_for_errors --------------------------------------------------------------------


def test_raise_for_errors_returns_self_when_ok() -> None:
    """A summary without failures returns itself, so calls can be chained."""
    summary = _all_ok()
    assert summary.raise_for_errors() is summary


def test_raise_for_errors_raises_original_exceptions_in_order() -> None:
    """The group holds the very exception objects that were raised, in index order."""
    summary = _mixed()
    with pytest.raises(ExceptionGroup) as info:
        summary.raise_for_errors()
    assert list(info.value.exceptions) == [error.exception for error in summary.errors]
    assert all(
        got is error.exception
        for got, error in zip(info.value.exceptions, summary.errors, strict=True)
    )


def test_raise_for_errors_message_counts() -> None:
    """The group's message says how many of how many items failed."""
    with pytest.raises(ExceptionGroup, match=r"^5 of 10 items failed$"):
        _mixed().raise_for_errors()


def test_raise_for_errors_notes_name_the_index() -> None:
    """Each exception carries one note naming its item's index and the item."""
    summary = _mixed()
    with pytest.raises(ExceptionGroup) as info:
        summary.raise_for_errors()
    notes = [exc.__notes__ for exc in info.value.exceptions]
    assert notes == [[f"parmap: raised by item {i}: 'item-{i}'"] for i in (1, 2, 4, 7, 9)]


def test_raise_for_errors_twice_does_not_duplicate_notes() -> None:
    """Calling raise_for_errors twice leaves each exception with a single note."""
    summary = _mixed()
    for _ in range(2):
        with pytest.raises(ExceptionGroup):
            summary.raise_for_errors()
    assert [len(error.exception.__notes__) for error in summary.errors] == [1, 1, 1, 1, 1]


def test_raise_for_errors_keeps_existing_notes() -> None:
    """Notes the exception already had are kept, with parmap's note after them."""
    exc = ValueError("x")
    exc.add_note("from the user")
    with pytest.raises(ExceptionGroup):
        _summary([_error(0, exc)], total=1).raise_for_errors()
    assert exc.__notes__ == ["from the user", "parmap: raised by item 0: 'item-0'"]


# --- ItemError ---------------------------------------------------------------------------


def test_item_error_repr_is_short() -> None:
    """ItemError's repr is one short line without the traceback."""
    error = ItemError(
        index=5,
        item="x" * 10_000,
        exception=ValueError("m" * 10_000),
        type_name="ValueError",
        message="m" * 10_000,
        traceback="Traceback (most recent call last):\n  File 'SECRET_FRAME'\n" * 100,
    )
    text = repr(error)
    assert "\n" not in text
    assert "SECRET_FRAME" not in text
    assert len(text) < 300


def test_item_error_repr_fields() -> None:
    """ItemError's repr shows index, item, type name and message."""
    assert repr(_error(5, ValueError("boom"), item="x")) == (
        "ItemError(index=5, item='x', type_name='ValueError', message='boom')"
    )


def test_item_error_attempts_default_to_one() -> None:
    """An ItemError built without attempts counts one attempt."""
    assert _error(0, ValueError("x")).attempts == 1


# --- explicitly parametrized construction ------------------------------------------------


def test_summary_can_be_built_with_type_arguments() -> None:
    """Summary[int, int](...) builds a summary, like any generic class."""
    summary = Summary[int, int](results=[1], errors=[], total=1, succeeded=1, failed=0)
    assert summary.results == [1]


def test_item_error_can_be_built_with_type_arguments() -> None:
    """ItemError[str](...) builds an item error, like any generic class."""
    error = ItemError[str](
        index=0,
        item="x",
        exception=ValueError("m"),
        type_name="ValueError",
        message="m",
        traceback="",
    )
    assert error.item == "x"
