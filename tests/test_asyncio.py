"""Coroutine functions: run on an event loop, bounded, ordered, per-item errors and timeouts."""

# parmap()'s signature types the results of a coroutine function as coroutines (it has no
# overload for async fn yet; amap() has): comparing them with ints is what these tests do.
# mypy: disable-error-code="comparison-overlap"

from __future__ import annotations

import asyncio
import functools
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, cast

import pytest

from parmap import ArgumentError, Kind, imap, parallel, parmap

if TYPE_CHECKING:
    from collections.abc import Coroutine
    from pathlib import Path

#: Seconds any wait in these tests may take before the test counts as hung.
WAIT = 10.0


async def double(x: int) -> int:
    await asyncio.sleep(0)
    return 2 * x


async def fragile(x: int) -> int:
    await asyncio.sleep(0)
    if x % 3 == 0:
        raise ValueError(f"bad item {x}")  # the line the traceback must show
    return x


class Crowd:
    """Counts items awaiting at once; holds each until `size` are in, so the peak is observable."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.running = 0
        self.peak = 0
        self.full = asyncio.Event()

    async def __call__(self, x: int) -> int:
        self.running += 1
        self.peak = max(self.peak, self.running)
        if self.running >= self.size:
            self.full.set()
        try:
            await asyncio.wait_for(self.full.wait(), WAIT)
            await asyncio.sleep(0)  # let any item beyond the bound start, if it could
        finally:
            self.running -= 1
        return x


def test_coroutine_function_results_in_input_order() -> None:
    """An async def runs on an event loop; results come back in input order."""
    summary = parmap(double, range(50))
    assert summary.results == [2 * x for x in range(50)]
    assert summary.ok
    assert summary.backend == "asyncio ×100"


def test_errors_are_recorded_per_item_with_traceback() -> None:
    """Each failing item becomes an ItemError whose traceback starts in fn, not in parmap."""
    summary = parmap(fragile, range(7), workers=2)
    assert summary.results == [None, 1, 2, None, 4, 5, None]
    assert [e.index for e in summary.errors] == [0, 3, 6]
    error = summary.errors[1]
    assert error.type_name == "ValueError"
    assert error.message == "bad item 3"
    assert "the line the traceback must show" in error.traceback
    assert "parmap/_backends/eventloop.py" not in error.traceback
    assert "parmap/_worker/" not in error.traceback


def test_at_most_workers_items_await_at_once() -> None:
    """workers=3: the peak of items awaiting at once is exactly 3."""
    crowd = Crowd(3)
    summary = parmap(crowd, range(30), workers=3)
    assert summary.ok, summary
    assert crowd.peak == 3


def test_default_bound_is_100_awaiting_at_once() -> None:
    """Without workers=, 100 items await at once: the documented default."""
    crowd = Crowd(100)
    summary = parmap(crowd, range(250))
    assert summary.ok, summary
    assert crowd.peak == 100


def test_imap_streams_coroutine_results() -> None:
    """imap runs a coroutine function on the loop too, in order or as completed."""
    assert [o.value for o in imap(double, range(6))] == [0, 2, 4, 6, 8, 10]
    unordered = imap(double, range(6), ordered=False, kind="auto")
    assert sorted(cast("int", o.value) for o in unordered) == [0, 2, 4, 6, 8, 10]


def test_timeout_cancels_the_items_coroutine() -> None:
    """A hung item fails with TimeoutError after `timeout`, its coroutine cancelled; others run."""
    cancelled: list[int] = []

    async def maybe_hang(x: int) -> int:
        if x == 2:
            try:
                await asyncio.Event().wait()  # never set
            except asyncio.CancelledError:
                cancelled.append(x)
                raise
        return x

    started = time.monotonic()
    summary = parmap(maybe_hang, range(5), timeout=0.2)
    assert time.monotonic() - started < WAIT
    assert summary.results == [0, 1, None, 3, 4]
    (error,) = summary.errors
    assert error.type_name == "TimeoutError"
    assert "timeout=0.2 s" in error.message
    assert "cancelled" in error.message
    assert cancelled == [2]


def test_an_items_own_timeout_error_is_its_own() -> None:
    """A TimeoutError raised by fn itself is recorded as it is, not as parmap's timeout."""

    async def own(x: int) -> int:
        raise TimeoutError(f"upstream timed out for {x}")

    summary = parmap(own, [1], timeout=5)
    assert summary.errors[0].message == "upstream timed out for 1"


def test_timeout_is_retried_when_asked() -> None:
    """retry_on=TimeoutError gives a timed-out item another attempt."""
    calls: list[int] = []

    async def slow_first(x: int) -> int:
        calls.append(x)
        if len(calls) == 1:
            await asyncio.Event().wait()
        return x

    summary = parmap(slow_first, [7], timeout=0.2, retries=1, retry_on=TimeoutError)
    assert summary.results == [7]
    assert calls == [7, 7]


def test_retries_and_attempts() -> None:
    """A failing coroutine is retried per the policy; attempts are counted."""
    tries: dict[int, int] = {}

    async def flaky(x: int) -> int:
        tries[x] = tries.get(x, 0) + 1
        if x == 0 or tries[x] < 2:
            raise ConnectionError(f"try {tries[x]}")
        return x

    summary = parmap(flaky, range(3), retries=2, backoff=0.001)
    assert summary.results == [None, 1, 2]
    assert summary.errors[0].attempts == 3
    assert tries == {0: 3, 1: 2, 2: 2}


def test_max_failures_stops_an_async_run() -> None:
    """max_failures works on the loop like anywhere else."""
    summary = parmap(fragile, range(300), workers=1, batch_size=1, max_failures=2)
    assert summary.failed == 2
    assert summary.total < 300
    assert "stopped early" in summary.notes[0]


def test_sync_fn_in_a_running_loop() -> None:
    """Called from a coroutine under asyncio.run, parmap works with threads and processes."""

    async def main() -> tuple[list[int | None], list[int | None]]:
        threads = parmap(abs, [-1, -2], kind="io").results
        processes = parmap(abs, [-3, -4], kind="cpu").results
        return threads, processes

    assert asyncio.run(main()) == ([1, 2], [3, 4])


def test_async_fn_in_a_running_loop_does_not_touch_that_loop() -> None:
    """A blocking call with an async fn inside a running loop: runs on parmap's own loop."""

    async def main() -> tuple[list[object], bool]:
        caller = asyncio.get_running_loop()
        loops: set[asyncio.AbstractEventLoop] = set()

        async def where(x: int) -> int:
            loops.add(asyncio.get_running_loop())
            return x

        results: list[object] = list(parmap(where, range(5)).results)
        return results, caller not in loops and len(loops) == 1

    assert asyncio.run(main()) == ([0, 1, 2, 3, 4], True)


def test_cpu_kind_refuses_a_coroutine_function() -> None:
    """kind='cpu' with an async def is a clear ArgumentError, raised before any work."""
    with pytest.raises(ArgumentError, match=r"coroutine function.*kind='cpu'.*kind='io'"):
        parmap(double, [1], kind="cpu")
    with pytest.raises(ArgumentError, match="coroutine function"):
        imap(double, [1], kind="cpu")


def test_executor_refuses_a_coroutine_function() -> None:
    """executor= with an async def is a clear ArgumentError."""
    with ThreadPoolExecutor(1) as pool, pytest.raises(ArgumentError, match="leave out executor="):
        parmap(double, [1], executor=pool)


def test_auto_picks_the_loop_and_says_so() -> None:
    """kind='auto' with an async def runs on the loop, noted in the summary."""
    summary = parmap(double, [1, 2], kind="auto")
    assert summary.results == [2, 4]
    assert summary.backend.startswith("asyncio")
    assert any("asyncio loop" in note for note in summary.notes)


def test_partial_and_async_callable_objects_run_on_the_loop() -> None:
    """functools.partial of an async def, and an object with async __call__, are coroutine fns."""

    async def scale(x: int, factor: int) -> int:
        await asyncio.sleep(0)
        return x * factor

    class Scaler:
        async def __call__(self, x: int) -> int:
            return x * 10

    partial = parmap(functools.partial(scale, factor=3), [1, 2])
    assert (partial.results, partial.backend) == ([3, 6], "asyncio ×100")
    assert parmap(Scaler(), [1, 2]).results == [10, 20]


@pytest.mark.parametrize("kind", ["io", "cpu"])
def test_plain_fn_returning_a_coroutine_fails_clearly(kind: Kind) -> None:
    """A lambda that returns a coroutine: each item fails with a TypeError saying what to do.

    The coroutine is closed, so no "never awaited" RuntimeWarning follows
    (filterwarnings=error would turn one into a failure).
    """
    summary = parmap(lambda x: double(x), [1, 2], kind=kind)  # noqa: PLW0108 - the point
    assert summary.results == [None, None]
    assert [e.type_name for e in summary.errors] == ["TypeError", "TypeError"]
    assert "returned a coroutine" in summary.errors[0].message
    assert "async def" in summary.errors[0].message


def test_mixed_values_and_coroutines_fail_only_the_coroutines() -> None:
    """Only the items whose call returned a coroutine fail."""
    summary = parmap(lambda x: double(x) if x % 2 else x, range(4), batch_size=4)
    assert summary.results == [0, None, 2, None]
    assert [e.index for e in summary.errors] == [1, 3]


def test_item_raising_cancelled_error_is_an_item_failure() -> None:
    """A CancelledError that parmap did not cause fails its item only."""

    async def inner_cancelled(x: int) -> int:
        if x == 1:
            raise asyncio.CancelledError
        return x

    summary = parmap(inner_cancelled, range(3))
    assert summary.results == [0, None, 2]
    assert summary.errors[0].type_name == "RuntimeError"
    assert "CancelledError" in summary.errors[0].message


def test_keyboard_interrupt_from_async_fn_propagates_with_summary() -> None:
    """KeyboardInterrupt raised by the coroutine stops the run and carries the summary."""

    async def interrupt(x: int) -> int:
        if x == 5:
            raise KeyboardInterrupt
        return x

    with pytest.raises(KeyboardInterrupt) as info:
        parmap(interrupt, range(20), workers=1, batch_size=1)
    summary = info.value.summary  # type: ignore[attr-defined]
    assert summary.results[:5] == [0, 1, 2, 3, 4]


def test_parallel_on_async_def() -> None:
    """@parallel on an async def: .map runs it on the loop; a plain call is still a coroutine."""

    @parallel(workers=4)
    async def triple(x: int) -> int:
        await asyncio.sleep(0)
        return 3 * x

    assert triple.map(range(4)).results == [0, 3, 6, 9]
    assert [o.value for o in triple.imap(range(3))] == [0, 3, 6]
    call: Coroutine[object, object, int] = triple(5)
    assert asyncio.run(call) == 15


def test_loop_thread_is_gone_after_the_run() -> None:
    """The run's loop and its thread end with the run (the leak check also sees threads)."""
    parmap(double, range(3))
    assert not [t for t in threading.enumerate() if t.name == "parmap-asyncio"]


INTERRUPTED = """
import asyncio, os, signal
from parmap import parmap

# Ctrl-C raises KeyboardInterrupt, as in a terminal, even when the test runs with SIGINT
# ignored (a background job): the script would inherit that, and ignore the signal sent.
signal.signal(signal.SIGINT, signal.default_int_handler)

async def wait(x):
    os.write(1, f"started {x}\\n".encode())
    await asyncio.sleep(60)
    return x

try:
    parmap(wait, range(10), workers=2, batch_size=1)
except KeyboardInterrupt as exc:
    import threading
    print("interrupted; threads", [t.name for t in threading.enumerate()], flush=True)
    raise
"""


def test_sigint_stops_an_async_run_and_its_loop(tmp_path: Path) -> None:
    """Ctrl-C during an async run stops it at once and closes its loop thread."""
    script = tmp_path / "wait.py"
    script.write_text(textwrap.dedent(INTERRUPTED))
    with subprocess.Popen(
        [sys.executable, str(script)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    ) as proc:  # a script that did not stop is killed and reaped here, not in a later test
        try:
            assert proc.stdout is not None
            seen = [proc.stdout.readline(), proc.stdout.readline()]
            assert all(line.startswith("started") for line in seen), seen
            sent = time.monotonic()
            os.killpg(proc.pid, signal.SIGINT)
            out, err = proc.communicate(timeout=30)
            took = time.monotonic() - sent
        finally:
            proc.kill()
    assert "interrupted; threads ['MainThread']" in out
    assert "KeyboardInterrupt" in err
    assert took < 5.0
