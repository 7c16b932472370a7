"""A dying worker costs one item; a hung item times out alone; no worker outlives a run."""

from __future__ import annotations

import os
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import parmap as pm
from parmap import imap, parmap

#: How long a "hung" item would hang: far beyond any test's patience.
HANG = 60.0


def exit_on_13(x: int) -> int:
    if x == 13:
        os._exit(3)
    return 2 * x


def kill_self_on(x: int) -> int:
    if x in {5, 17, 29}:
        os.kill(os.getpid(), signal.SIGKILL)
    return 2 * x


def hang_on_3(x: int) -> int:
    if x == 3:
        threading.Event().wait(HANG)  # the item hangs (a stuck call), it is not a sync
    return 2 * x


def test_worker_exit_costs_only_its_item() -> None:
    """os._exit in one item fails that item alone; the rest of its batch keeps its results."""
    summary = parmap(exit_on_13, range(40), kind="cpu", workers=2, batch_size=10)
    assert summary.results == [None if x == 13 else 2 * x for x in range(40)]
    (error,) = summary.errors
    assert error.index == 13
    assert isinstance(error.exception, pm.WorkerDiedError)
    assert "exit code 3" in error.message
    assert "worker process died while running this item" in error.message


def test_several_deaths_in_one_run() -> None:
    """Each item that kills its worker (SIGKILL) fails alone; every other item succeeds."""
    summary = parmap(kill_self_on, range(40), kind="cpu", workers=2, batch_size=4)
    assert [e.index for e in summary.errors] == [5, 17, 29]
    assert all("SIGKILL" in e.message for e in summary.errors)
    assert summary.succeeded == 37


def test_processes_work_normally_after_a_crash() -> None:
    """The next call after a crashed run works as usual."""
    parmap(exit_on_13, range(20), kind="cpu")
    assert parmap(exit_on_13, range(5), kind="cpu").results == [0, 2, 4, 6, 8]


@pytest.mark.parametrize("ordered", [True, False])
def test_imap_survives_a_crash(ordered: bool) -> None:  # noqa: FBT001
    """imap yields every outcome, the crashed item's as a failure."""
    got = {o.index: o.ok for o in imap(exit_on_13, range(20), kind="cpu", ordered=ordered)}
    assert got == {x: x != 13 for x in range(20)}


def test_hung_item_times_out_alone_on_processes() -> None:
    """timeout on processes: only the hung item fails, its worker is killed, the run goes on."""
    start = time.monotonic()
    summary = parmap(hang_on_3, range(10), kind="cpu", workers=2, batch_size=10, timeout=1.0)
    took = time.monotonic() - start
    assert summary.results == [None if x == 3 else 2 * x for x in range(10)]
    (error,) = summary.errors
    assert isinstance(error.exception, TimeoutError)
    assert "timeout=1 s" in error.message
    assert "killed and replaced" in error.message
    assert took < 10


def test_hung_item_times_out_alone_on_threads() -> None:
    """timeout on threads: the hung item is recorded and no longer waited for."""
    release = threading.Event()

    def fn(x: int) -> int:
        if x == 3:
            release.wait(HANG)
        return 2 * x

    try:
        start = time.monotonic()
        summary = parmap(fn, range(10), kind="io", workers=2, batch_size=10, timeout=0.5)
        took = time.monotonic() - start
    finally:
        release.set()  # let the abandoned call end, so the test leaves no thread behind
    assert summary.results == [None if x == 3 else 2 * x for x in range(10)]
    assert isinstance(summary.errors[0].exception, TimeoutError)
    assert "stopped waiting" in summary.errors[0].message
    assert took < 10


def test_a_given_up_thread_is_replaced() -> None:
    """With one worker whose thread hangs, the other items still run on a stand-in thread."""
    release = threading.Event()

    def fn(x: int) -> int:
        if x == 0:
            release.wait(HANG)
        return x

    try:
        summary = parmap(fn, range(5), kind="io", workers=1, batch_size=1, timeout=0.3)
    finally:
        release.set()
    assert summary.results == [None, 1, 2, 3, 4]


def hang_first_call(marker: str) -> str:
    """Hangs unless `marker` exists, which it creates: the second call (in any process) returns."""
    path = Path(marker)
    if not path.exists():
        path.touch()
        threading.Event().wait(HANG)
    return path.name


def test_timed_out_attempt_is_retried_on_processes(tmp_path: Path) -> None:
    """A timed-out attempt gets another try (in a new worker) when retries are left."""
    marker = str(tmp_path / "seven")
    summary = parmap(hang_first_call, [marker], kind="cpu", timeout=1.0, retries=1)
    assert summary.results == ["seven"]
    other = str(tmp_path / "eight")
    failed = parmap(hang_first_call, [other], kind="cpu", timeout=1.0, retries=1, retry_on=KeyError)
    assert failed.errors[0].attempts == 1
    assert isinstance(failed.errors[0].exception, TimeoutError)


def test_timed_out_attempt_is_retried_on_threads() -> None:
    """On threads too, a timed-out attempt is retried (in a fresh call) when allowed."""
    release = threading.Event()
    calls: dict[int, int] = {}

    def fn(x: int) -> int:
        calls[x] = calls.get(x, 0) + 1
        if calls[x] == 1:
            release.wait(HANG)
        return x

    try:
        summary = parmap(fn, [1, 2], kind="io", timeout=0.3, retries=2)
    finally:
        release.set()
    assert summary.results == [1, 2]
    assert calls == {1: 2, 2: 2}


@pytest.mark.parametrize("value", [0, -1, float("inf"), "5", True])
def test_bad_timeout_rejected(value: object) -> None:
    """timeout must be a positive number of seconds."""
    with pytest.raises(pm.ArgumentError, match="timeout must be a number of seconds > 0"):
        parmap(abs, [1], timeout=value)  # type: ignore[call-overload]


def test_timeout_with_callers_executor_rejected() -> None:
    """A timeout cannot be enforced on the caller's executor: say so up front."""
    with ThreadPoolExecutor(1) as executor, pytest.raises(pm.ArgumentError, match="executor"):
        parmap(abs, [1], executor=executor, timeout=1)


def test_backoff_waits_do_not_count_as_attempt_time() -> None:
    """timeout limits an attempt, not the backoff wait before the next one."""
    calls: dict[int, int] = {}

    def fail_once(x: int) -> int:
        calls[x] = calls.get(x, 0) + 1
        if calls[x] == 1:
            msg = f"first call of {x}"
            raise ConnectionError(msg)
        return x

    summary = parmap(fail_once, range(3), kind="io", retries=1, backoff=2.0, timeout=0.5)
    assert summary.ok, [e.message for e in summary.errors]
    assert summary.results == [0, 1, 2]
