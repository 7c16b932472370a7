"""Retries, retry_on, backoff and max_failures, on both kinds."""

from __future__ import annotations

import itertools
import random
from collections import Counter

import pytest

import parmap as pm
from parmap import Kind, imap, parmap
from parmap._worker.batch import Policy

#: Calls per item in this process; a retry runs in the same worker, so it sees the same counter.
CALLS: Counter[int] = Counter()


def flaky(x: int) -> tuple[int, int]:
    """Fails the first two calls for each item, then returns (x, calls so far)."""
    CALLS[x] += 1
    if CALLS[x] <= 2:
        msg = f"flaky {x}, call {CALLS[x]}"
        raise ConnectionError(msg)
    return x, CALLS[x]


def always_value_error(x: int) -> int:
    CALLS[x] += 1
    raise ValueError(x)


def fail(x: int) -> int:
    raise ValueError(x)


@pytest.fixture(autouse=True)
def fresh_counter() -> None:
    CALLS.clear()


def test_retries_until_success(kind: Kind) -> None:
    """retries=2 gives a twice-failing item its third attempt, which succeeds."""
    summary = parmap(flaky, range(6), kind=kind, retries=2)
    assert summary.ok, summary
    assert summary.results == [(x, 3) for x in range(6)]


def test_attempts_recorded_when_retries_run_out(kind: Kind) -> None:
    """retries=1: the item fails after 2 attempts, and ItemError.attempts says 2."""
    summary = parmap(flaky, range(3), kind=kind, retries=1)
    assert summary.failed == 3
    assert [e.attempts for e in summary.errors] == [2, 2, 2]
    assert summary.errors[0].message == "flaky 0, call 2"


def test_only_retry_on_types_are_retried(kind: Kind) -> None:
    """An exception outside retry_on fails at once, with attempts == 1."""
    summary = parmap(always_value_error, range(3), kind=kind, retries=3, retry_on=KeyError)
    assert [e.attempts for e in summary.errors] == [1, 1, 1]


def test_retry_on_tuple_matches_subclasses() -> None:
    """retry_on accepts a tuple, and subclasses match (ConnectionError is an OSError)."""
    summary = parmap(flaky, [0], retries=2, retry_on=(KeyError, OSError))
    assert summary.results == [(0, 3)]


def test_no_retries_by_default(kind: Kind) -> None:
    """Without retries, a failing item is called once."""
    summary = parmap(flaky, [0], kind=kind)
    assert summary.errors[0].attempts == 1


def test_backoff_zero_retries_at_once() -> None:
    """backoff=0 means no wait between attempts."""
    assert Policy(retries=3, backoff=0).delay(1) == 0.0


def test_backoff_is_full_jitter_exponential() -> None:
    """Before attempt n+1 the wait is uniform in [0, backoff * 2**(n-1)]."""
    random.seed(1)
    policy = Policy(retries=5, backoff=0.5)
    for attempt, ceiling in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0)]:
        waits = [policy.delay(attempt) for _ in range(200)]
        assert all(0 <= w <= ceiling for w in waits)
        assert max(waits) > 0.8 * ceiling  # spread over the range, not a constant


def test_max_failures_stops_an_endless_run(kind: Kind) -> None:
    """max_failures=5 stops a run over an endless input; a Summary says why."""
    summary = parmap(fail, itertools.count(), kind=kind, max_failures=5)
    assert summary.failed >= 5
    assert summary.total == summary.succeeded + summary.failed
    assert any("stopped early" in note and "max_failures=5" in note for note in summary.notes)
    assert "stopped early" in str(summary)


def test_max_failures_not_reached_runs_everything() -> None:
    """A run with fewer failures than max_failures runs every item."""
    summary = parmap(fail, range(3), max_failures=10)
    assert (summary.total, summary.failed) == (3, 3)
    assert not any("stopped early" in note for note in summary.notes)


def test_imap_stops_after_max_failures(kind: Kind) -> None:
    """imap yields up to the outcome of the max_failures-th failure, then ends."""
    got = list(imap(fail, itertools.count(), kind=kind, max_failures=3))
    assert sum(1 for o in got if not o.ok) == 3
    assert not got[-1].ok


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"retries": -1}, r"retries must be an int >= 0 .*got -1"),
        ({"retries": 1.5}, r"retries must be an int >= 0 .*got 1.5"),
        ({"retry_on": ValueError()}, r"retry_on must be an exception class or a tuple"),
        ({"retry_on": (ValueError, int)}, r"retry_on must be"),
        ({"retry_on": KeyboardInterrupt}, r"retry_on must be"),
        ({"retry_on": ()}, r"retry_on must be"),
        ({"backoff": -0.1}, r"backoff must be a number of seconds >= 0, got -0.1"),
        ({"backoff": "1s"}, r"backoff must be"),
        ({"backoff": float("nan")}, r"backoff must be"),
        ({"max_failures": 0}, r"max_failures must be a positive int, got 0"),
        ({"max_failures": True}, r"max_failures must be a positive int, got True"),
    ],
)
def test_bad_limits_rejected_up_front(kwargs: dict[str, object], match: str) -> None:
    """Bad retry and fail-fast options raise ArgumentError before any work starts."""
    with pytest.raises(pm.ArgumentError, match=match):
        parmap(fail, [1], **kwargs)  # type: ignore[call-overload]
    with pytest.raises(pm.ArgumentError, match=match):
        imap(fail, [1], **kwargs)  # type: ignore[call-overload]
