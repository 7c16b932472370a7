"""Summary.failed_items() and Summary.rerun_failed(): run the failures again, merge the two runs."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from parmap import ArgumentError, ItemError, Kind, Summary, parmap
from parmap._run.rerun import merge
from strategies import items

if TYPE_CHECKING:
    from pathlib import Path


def fail_on_sevens(x: int) -> int:
    if x % 7 == 0:
        raise ValueError(x)
    return x * 10


def fail_on_fourteens(x: int) -> int:
    if x % 14 == 0:
        raise KeyError(x)
    return x * 10


def times_ten(x: int) -> int:
    return x * 10


class Calls:
    """Counts calls by item, from any thread."""

    def __init__(self, fn: Any) -> None:
        self.fn = fn
        self.items: list[Any] = []
        self._lock = threading.Lock()

    def __call__(self, item: Any) -> Any:
        with self._lock:
            self.items.append(item)
        return self.fn(item)


def check_counts(summary: Summary[Any, Any]) -> None:
    assert summary.total == summary.succeeded + summary.failed + summary.skipped
    assert summary.failed == len(summary.errors)
    indexes = [error.index for error in summary.errors]
    assert indexes == sorted(set(indexes))


# --- failed_items -------------------------------------------------------------------------


def test_failed_items_are_the_failing_inputs_in_input_order() -> None:
    """failed_items() lists the inputs of the failed items, in input order."""
    summary = parmap(fail_on_sevens, range(30), workers=4, batch_size=3)
    assert summary.failed_items() == [0, 7, 14, 21, 28]


def test_failed_items_without_results() -> None:
    """failed_items() works with keep_results=False: errors are kept."""
    summary = parmap(fail_on_sevens, range(30), keep_results=False)
    assert summary.results == []
    assert summary.failed_items() == [0, 7, 14, 21, 28]


# --- rerun_failed ----------------------------------------------------------------------------


def test_rerun_runs_only_the_failed_items(kind: Kind) -> None:
    """The re-run calls fn on the failed items only, once each (threads and processes)."""
    calls = Calls(times_ten)
    summary = parmap(fail_on_sevens, range(30), kind=kind)
    fixed = summary.rerun_failed(calls, kind="io")
    assert sorted(calls.items) == [0, 7, 14, 21, 28]
    assert fixed.ok
    assert fixed.results == [x * 10 for x in range(30)]


def test_rerun_merges_into_the_original_indexes() -> None:
    """Fixed items count as succeeded at their index; the rest keep theirs, attempts adding up."""
    summary = parmap(fail_on_sevens, range(30), retries=1)
    again = summary.rerun_failed(fail_on_fourteens)
    assert (again.total, again.succeeded, again.failed, again.skipped) == (30, 27, 3, 0)
    assert [error.index for error in again.errors] == [0, 14, 28]
    assert [error.type_name for error in again.errors] == ["KeyError"] * 3
    assert [error.attempts for error in again.errors] == [4, 4, 4]  # 2 + 2: retries=1 kept
    assert again.results[7] == 70
    assert again.results[14] is None
    assert again.notes[-1] == "re-run of 5 failed items: 2 fixed, 3 still failing"
    check_counts(again)


def test_rerun_leaves_the_original_unchanged() -> None:
    """The original Summary keeps its results, errors, counts and notes."""
    summary = parmap(fail_on_sevens, range(15))
    before = (list(summary.results), list(summary.errors), summary.failed, summary.notes)
    summary.rerun_failed(times_ten)
    assert (summary.results, summary.errors, summary.failed, summary.notes) == before


def test_rerun_chains() -> None:
    """s.rerun_failed(f).rerun_failed(g): each merges over the one before; notes accumulate."""
    summary = parmap(fail_on_sevens, range(30))
    twice = summary.rerun_failed(fail_on_fourteens).rerun_failed(times_ten)
    assert twice.ok
    assert twice.results == [x * 10 for x in range(30)]
    assert twice.notes == (
        "re-run of 5 failed items: 2 fixed, 3 still failing",
        "re-run of 3 failed items: 3 fixed, 0 still failing",
    )
    assert twice.elapsed >= summary.elapsed


def test_rerun_after_keep_results_false() -> None:
    """An original without results gives a merged summary without results; counts still merge."""
    summary = parmap(fail_on_sevens, range(30), keep_results=False)
    again = summary.rerun_failed(fail_on_fourteens)
    assert again.results == []
    assert (again.succeeded, again.failed) == (27, 3)
    check_counts(again)


def test_rerun_on_processes_with_a_lambda() -> None:
    """A re-run inherits kind='cpu' and ships a lambda to the worker processes."""
    summary = parmap(lambda x: 10 // x, [1, 0, 2, 0], kind="cpu", workers=2)
    again = summary.rerun_failed(lambda x: x - 1)
    assert again.backend.startswith("processes")
    assert again.results == [10, -1, 5, -1]
    assert again.ok


def test_rerun_takes_the_original_options_and_replaces_those_given() -> None:
    """Options not given are the original run's; those given replace them (and are inherited)."""
    summary = parmap(fail_on_sevens, range(15), workers=3, retries=2)
    again = summary.rerun_failed(fail_on_sevens, workers=2)
    assert again.backend.endswith("re-run on threads ×2")
    assert [error.attempts for error in again.errors] == [6, 6, 6]
    third = again.rerun_failed(fail_on_sevens)
    assert third.backend == again.backend


def test_rerun_checks_options_before_running() -> None:
    """A bad option raises ArgumentError, naming rerun_failed, before fn is called."""
    calls = Calls(times_ten)
    summary = parmap(fail_on_sevens, range(15))
    with pytest.raises(ArgumentError, match="workers must be a positive int"):
        summary.rerun_failed(calls, workers=0)
    with pytest.raises(ArgumentError, match=r"rerun_failed\(\) got an unknown option retry="):
        summary.rerun_failed(calls, retry=2)  # type: ignore[call-overload]
    with pytest.raises(ArgumentError, match="fn must be callable"):
        summary.rerun_failed(3)  # type: ignore[call-overload]
    assert calls.items == []


def test_rerun_without_failures_runs_nothing() -> None:
    """When nothing failed, the re-run calls nothing and says so."""
    calls = Calls(times_ten)
    summary = parmap(times_ten, range(5))
    again = summary.rerun_failed(calls)
    assert calls.items == []
    assert again.results == summary.results
    assert again.notes[-1] == "re-run: no item had failed, so nothing was run"


def test_rerun_of_a_hand_built_summary_says_what_to_do() -> None:
    """A Summary built by hand knows no run to repeat: the error says what to call instead."""
    summary: Summary[int, int] = Summary(results=[None], errors=[], total=1, succeeded=0, failed=1)
    with pytest.raises(ArgumentError, match=r"parmap\(fn, summary.failed_items\(\)"):
        summary.rerun_failed(times_ten)


def test_rerun_stopped_early_keeps_the_errors_of_items_not_reached() -> None:
    """With max_failures, items the re-run did not reach keep their original errors."""
    summary = parmap(fail_on_sevens, range(70))
    again = summary.rerun_failed(fail_on_sevens, max_failures=1, batch_size=1, workers=1)
    assert again.failed == 10
    assert "not run again (stopped early)" in again.notes[-1]
    assert [error.attempts for error in again.errors][:1] == [2]
    check_counts(again)


def interrupt_on_fourteen(x: int) -> int:
    if x == 14:
        raise KeyboardInterrupt
    return x * 10


def test_an_interrupted_rerun_carries_the_merged_summary() -> None:
    """A KeyboardInterrupt during the re-run carries the merged summary so far."""
    summary = parmap(fail_on_sevens, range(30))
    with pytest.raises(KeyboardInterrupt) as caught:
        summary.rerun_failed(interrupt_on_fourteen, workers=1, batch_size=1)
    partial: Summary[int, int] = caught.value.summary  # type: ignore[attr-defined]
    assert partial.total == 30
    check_counts(partial)
    assert partial.results[7] == 70
    assert 14 in {error.index for error in partial.errors}
    assert "(interrupted)" in partial.notes[-1]


def test_rerun_with_a_checkpoint_teaches_the_journal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With checkpoint=, the journal learns the fixed items: the next run skips them all."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    journal = tmp_path / "run.db"
    summary = parmap(fail_on_sevens, range(20), checkpoint=journal)
    fixed = summary.rerun_failed(times_ten)
    assert fixed.ok
    calls = Calls(times_ten)
    third = parmap(calls, range(20), checkpoint=journal)
    assert calls.items == []
    assert third.skipped == 20
    assert third.results == [x * 10 for x in range(20)]
    assert third.timing is None
    assert "no call was measured" in str(third)


# --- merge invariants, by property -----------------------------------------------------------

#: What became of a failed item in the re-run: 0 not reached, 1 ran (fixed or not), 2 restored.
fates = st.sampled_from(["fixed", "failed", "restored", "unreached"])


@settings(max_examples=200, deadline=None)
@given(
    outcome=st.lists(st.tuples(st.booleans(), fates), max_size=40),
    keep=st.booleans(),
    skipped=st.integers(0, 5),
)
def test_merge_keeps_the_counts_adding_up(
    outcome: list[tuple[bool, str]],
    keep: bool,  # noqa: FBT001 - drawn by hypothesis
    skipped: int,
) -> None:
    """For any original and any re-run outcome: succeeded + failed + skipped == total, always."""
    total = len(outcome) + skipped
    failing = [index for index, (fails, _) in enumerate(outcome) if fails]
    original: Summary[int, int] = Summary(
        results=[None if i in failing else i for i in range(len(outcome))] if keep else [],
        errors=[_error(index, attempts=2) for index in failing],
        total=total,
        succeeded=len(outcome) - len(failing),
        failed=len(failing),
        skipped=skipped,
        elapsed=1.0,
    )
    fate = [outcome[index][1] for index in failing]
    accounted = bytes({"unreached": 0, "restored": 2}.get(f, 1) for f in fate)
    again: Summary[int, int] = Summary(
        results=[-p if f in {"fixed", "restored"} else None for p, f in enumerate(fate)],
        errors=[_error(p) for p, f in enumerate(fate) if f == "failed"],
        total=sum(f != "unreached" for f in fate),
        succeeded=fate.count("fixed"),
        failed=fate.count("failed"),
        skipped=fate.count("restored"),
        elapsed=0.5,
    )
    merged = merge(original, again, accounted)
    check_counts(merged)
    assert merged.total == total
    assert merged.elapsed == 1.5
    assert merged.failed == fate.count("failed") + fate.count("unreached")
    assert merged.skipped == skipped + fate.count("restored")
    still = {index: f for index, f in zip(failing, fate, strict=True) if f != "fixed"}
    for error in merged.errors:
        assert error.attempts == (3 if still[error.index] == "failed" else 2)
    if keep:
        for index, f in zip(failing, fate, strict=True):
            position = failing.index(index)
            assert merged.results[index] == (-position if f in {"fixed", "restored"} else None)
    else:
        assert merged.results == []


def _error(index: int, attempts: int = 1) -> ItemError[int]:
    return ItemError(index, index, ValueError(index), "ValueError", str(index), "", attempts)


def picky(x: object) -> object:
    if isinstance(x, int) and x % 3 == 0:
        raise ValueError(x)
    return x


def pickier(x: object) -> object:
    if isinstance(x, int) and x % 9 == 0:
        raise ValueError(x)
    return ("fixed", x)


@settings(max_examples=25, deadline=None)
@given(xs=items, workers=st.integers(1, 4), keep=st.booleans())
def test_a_real_rerun_keeps_the_counts_adding_up(
    xs: list[object],
    workers: int,
    keep: bool,  # noqa: FBT001 - drawn by hypothesis
) -> None:
    """On threads, for any items: the merged counts add up, and errors are where fn still fails."""
    summary = parmap(picky, xs, workers=workers, keep_results=keep)
    again = summary.rerun_failed(pickier)
    check_counts(again)
    assert again.total == len(xs)
    expected = [i for i, x in enumerate(xs) if isinstance(x, int) and x % 9 == 0]
    assert [error.index for error in again.errors] == expected
    if keep:
        for index in summary.failed_items():
            assert isinstance(index, int)
        for error in summary.errors:
            if error.index not in expected:
                assert again.results[error.index] == ("fixed", error.item)


def test_a_summary_pickles_without_its_run() -> None:
    """A summary pickles even when its run's options do not; unpickled, it cannot re-run."""
    import pickle  # noqa: PLC0415
    from concurrent.futures import ThreadPoolExecutor  # noqa: PLC0415

    with ThreadPoolExecutor(2) as executor:
        summary = parmap(fail_on_sevens, range(10), executor=executor)
        back = pickle.loads(pickle.dumps(summary))  # noqa: S301 - our own bytes
        assert (back.results, back.failed, back.timing) == (
            summary.results,
            summary.failed,
            summary.timing,
        )
        assert summary.rerun_failed(times_ten).ok  # the original still can, on the executor
    with pytest.raises(ArgumentError, match="unpickled"):
        back.rerun_failed(times_ten)


def test_the_report_of_a_merged_summary() -> None:
    """str() of a merged summary shows the re-run's note and the still-failing types."""
    summary = parmap(fail_on_sevens, range(30))
    text = str(summary.rerun_failed(fail_on_fourteens))
    assert "KeyError ×3 (items 0, 14, 28)" in text
    assert "note: re-run of 5 failed items: 2 fixed, 3 still failing" in text
    assert "errors={KeyError: 3}" in repr(summary.rerun_failed(fail_on_fourteens))


def test_items_the_journal_has_done_since_are_restored_not_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Items another run finished in the journal meanwhile are restored: skipped, not run."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    journal = tmp_path / "run.db"
    summary = parmap(fail_on_sevens, range(20), checkpoint=journal)
    parmap(times_ten, [7, 14], checkpoint=journal)
    calls = Calls(fail_on_sevens)
    again = summary.rerun_failed(calls)
    assert calls.items == [0]
    assert (again.succeeded, again.failed, again.skipped) == (17, 1, 2)
    assert again.results[7] == 70
    assert again.notes[-1] == (
        "re-run of 3 failed items: 0 fixed, 2 restored from the checkpoint, 1 still failing"
    )
    check_counts(again)
