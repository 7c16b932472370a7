"""Behaviour of parmap() on both kinds: results, per-item errors, options, executors, nesting."""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

import parmap as pm
from parmap import Kind, parmap

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

# --- module-level helpers: process workers import them by name ---------------------------


def fail_on_multiples_of_3(x: int) -> int:
    if x % 3 == 0:
        msg = f"bad item {x}"
        raise ValueError(msg)
    return x * 10


class Outer:
    class InnerError(Exception):
        pass


def raise_nested(x: int) -> int:
    raise Outer.InnerError(f"nested {x}")


def raise_chained(x: int) -> int:
    lookup: dict[int, int] = {}
    try:
        lookup[x]
    except KeyError as exc:
        msg = f"lookup failed for {x}"
        raise RuntimeError(msg) from exc
    return x


class NeedsTwoArgsError(Exception):
    def __init__(self, a: str, b: str) -> None:
        super().__init__(f"{a}/{b}")


def raise_unpicklable(x: int) -> int:
    raise NeedsTwoArgsError("first", str(x))


def return_lock_for_1(x: int) -> object:
    return threading.Lock() if x == 1 else x


def return_unreadable_for_1(x: int) -> object:
    return NeedsTwoArgsError("returned", "not raised") if x == 1 else x


def identity(x: object) -> object:
    return x


def double(x: int) -> int:
    return 2 * x


def interval(_: int) -> tuple[int, float, float]:
    """Busy for ~20 ms; report the worker and when it ran (CLOCK_MONOTONIC is system-wide)."""
    start = time.monotonic()
    while time.monotonic() - start < 0.02:
        pass
    return os.getpid() * 100_000 + threading.get_ident() % 100_000, start, time.monotonic()


def interrupt_on_5(x: int) -> int:
    if x == 5:
        raise KeyboardInterrupt
    return x


def exit_on_5(x: int) -> int:
    if x == 5:
        raise SystemExit(3)
    return x


def burn(x: int) -> int:
    total = 0
    for i in range(200_000):
        total += i % 7
    return total + x


def nested_cpu(x: int) -> tuple[list[int | None], tuple[str, ...]]:
    inner = parmap(double, range(x, x + 3), kind="cpu")
    return inner.results, inner.notes


def nested_io(x: int) -> list[int | None]:
    return parmap(double, range(x, x + 3), kind="io", workers=4).results


def big(n: int) -> bytes:
    return b"x" * n


def length(data: bytes) -> int:
    return len(data)


class Weird:
    """An item without ==, hash or truth value, whose repr raises."""

    def __init__(self, value: int) -> None:
        self.value = value

    def __eq__(self, other: object) -> bool:
        raise TypeError("no ==")

    def __hash__(self) -> int:
        raise TypeError("no hash")

    def __bool__(self) -> bool:
        raise TypeError("no truth value")

    def __repr__(self) -> str:
        raise RuntimeError("no repr")


def weird_value(w: Weird) -> int:
    if w.value == 2:
        raise ValueError("two")
    return w.value


# --- results and errors ------------------------------------------------------------------


def test_results_in_input_order_with_none_at_failures(kind: Kind) -> None:
    """Results come back in input order; a failed item's slot holds None."""
    summary = parmap(fail_on_multiples_of_3, range(20), kind=kind)
    assert summary.results == [None if x % 3 == 0 else x * 10 for x in range(20)]
    assert [e.index for e in summary.errors] == [0, 3, 6, 9, 12, 15, 18]
    assert (summary.total, summary.succeeded, summary.failed, summary.skipped) == (20, 13, 7, 0)
    assert not summary.ok


def test_errors_ordered_by_index_not_completion() -> None:
    """Errors are ordered by input index even when later items finish first."""
    first_may_fail = threading.Event()

    def fn(x: int) -> int:
        if x == 0:
            assert first_may_fail.wait(10)
        if x == 9:
            first_may_fail.set()
        raise ValueError(x)

    summary = parmap(fn, range(10), workers=10, batch_size=1)
    assert [e.index for e in summary.errors] == list(range(10))


def test_item_error_fields(kind: Kind) -> None:
    """An ItemError carries index, item, exception, qualified type name, message, traceback."""
    summary = parmap(raise_nested, [7], kind=kind)
    (error,) = summary.errors
    assert error.index == 0
    assert error.item == 7
    assert isinstance(error.exception, Outer.InnerError)
    assert error.type_name == f"{__name__}.Outer.InnerError"
    assert error.message == "nested 7"
    assert "raise_nested" in error.traceback
    assert error.attempts == 1


def test_traceback_keeps_chained_causes(kind: Kind) -> None:
    """The recorded traceback includes chained causes, also from a worker process."""
    (error,) = parmap(raise_chained, [1], kind=kind).errors
    assert "KeyError" in error.traceback
    assert "direct cause" in error.traceback
    assert "lookup failed for 1" in error.traceback


def test_unpicklable_exception_becomes_stand_in_on_processes() -> None:
    """An exception that cannot travel back becomes a RemoteError with type name and message."""
    summary = parmap(raise_unpicklable, [0, 1], kind="cpu")
    assert summary.failed == 2
    for error in summary.errors:
        assert isinstance(error.exception, pm.RemoteError)
        assert error.type_name == f"{__name__}.NeedsTwoArgsError"
        assert error.message == f"first/{error.index}"
        assert "raise_unpicklable" in error.traceback


def test_unpicklable_exception_is_the_original_on_threads() -> None:
    """On threads the original exception object is kept."""
    (error,) = parmap(raise_unpicklable, [0], kind="io").errors
    assert isinstance(error.exception, NeedsTwoArgsError)


def test_unpicklable_result_fails_only_its_item() -> None:
    """A result that cannot be pickled fails its item; the batch's other items keep theirs."""
    summary = parmap(return_lock_for_1, [0, 1, 2, 3], kind="cpu", batch_size=4)
    assert summary.results == [0, None, 2, 3]
    (error,) = summary.errors
    assert error.index == 1
    assert isinstance(error.exception, pm.TransportError)
    assert "could not be sent back" in error.message


def test_unpicklable_item_fails_only_itself() -> None:
    """An item that cannot be pickled for a worker process fails on its own."""
    lock = threading.Lock()
    summary = parmap(identity, [0, lock, 2], kind="cpu", batch_size=3)
    assert summary.results == [0, None, 2]
    (error,) = summary.errors
    assert error.item is lock
    assert isinstance(error.exception, pm.TransportError)


def test_worker_tracebacks_start_in_fn_beside_an_unsendable_item() -> None:
    """A batch with an item that cannot be pickled still shows its other failures from fn on."""
    items: list[Any] = [threading.Lock(), 3, 4]
    summary = parmap(fail_on_multiples_of_3, items, kind="cpu", batch_size=3)
    error = next(e for e in summary.errors if e.index == 1)
    assert error.type_name == "ValueError"
    assert "parmap/_worker/" not in error.traceback
    assert "fail_on_multiples_of_3" in error.traceback


def test_result_that_does_not_unpickle_fails_only_its_item() -> None:
    """A result that pickles but cannot be unpickled fails its item; the batch's others pass."""
    summary = parmap(return_unreadable_for_1, range(4), kind="cpu", batch_size=4)
    assert summary.results == [0, None, 2, 3]
    assert isinstance(summary.errors[0].exception, pm.TransportError)


def test_summary_returned_when_every_item_fails(kind: Kind) -> None:
    """A Summary comes back even when every item failed."""
    summary = parmap(fail_on_multiples_of_3, [0, 3, 6], kind=kind)
    assert summary.results == [None, None, None]
    assert summary.failed == 3
    assert "ValueError ×3" in str(summary)


def test_awkward_items_never_break_the_run_or_report(kind: Kind) -> None:
    """Items without ==, hash or truth value, whose repr raises, work and report."""
    items = [Weird(i) for i in range(4)]
    summary = parmap(weird_value, items, kind=kind)
    assert summary.results == [0, 1, None, 3]
    assert summary.errors[0].item is items[2] or kind == "cpu"
    assert "ValueError ×1" in str(summary)
    assert "repr failed" in summary._repr_html_()
    assert "repr failed" in repr(summary.errors[0])


def test_empty_input(kind: Kind) -> None:
    """An empty input gives an empty, successful Summary."""
    empty: list[int] = []
    summary = parmap(double, empty, kind=kind)
    assert (summary.results, summary.total, summary.ok) == ([], 0, True)


def test_generator_input(kind: Kind) -> None:
    """A generator works: it is consumed once, lazily, in order."""
    summary = parmap(double, (x for x in range(100)), kind=kind)
    assert summary.results == [2 * x for x in range(100)]


def test_input_that_raises_midway(kind: Kind) -> None:
    """Items read before the input raised are processed; the input's exception propagates."""

    def items() -> Iterator[int]:
        yield from range(5)
        msg = "the input broke"
        raise OSError(msg)

    with pytest.raises(OSError, match="the input broke") as caught:
        parmap(double, items(), kind=kind)
    summary = caught.value.summary  # type: ignore[attr-defined]
    assert summary.results == [0, 2, 4, 6, 8]
    assert summary.total == 5
    assert summary.errors == []


# --- what propagates ---------------------------------------------------------------------


def test_keyboard_interrupt_from_fn_propagates_with_summary(kind: Kind) -> None:
    """KeyboardInterrupt raised by fn stops the run and carries the partial Summary."""
    start = time.monotonic()
    with pytest.raises(KeyboardInterrupt) as caught:
        parmap(interrupt_on_5, range(10_000), kind=kind, batch_size=1)
    assert time.monotonic() - start < 10
    summary = caught.value.summary  # type: ignore[attr-defined]
    assert summary.total < 10_000
    assert summary.total == summary.succeeded + summary.failed
    assert 5 not in summary.results[: summary.total]


def test_system_exit_from_fn_propagates(kind: Kind) -> None:
    """SystemExit raised by fn propagates with its code."""
    with pytest.raises(SystemExit) as caught:
        parmap(exit_on_5, range(50), kind=kind, batch_size=1)
    assert caught.value.code == 3


def test_unpicklable_function_rejected_up_front() -> None:
    """kind='cpu' with a function that cannot be pickled fails before any worker starts."""
    lock = threading.Lock()

    def uses_lock(x: int) -> int:
        with lock:
            return x

    with pytest.raises(pm.UnpicklableFunctionError, match="kind='io'"):
        parmap(uses_lock, [1], kind="cpu")


# --- workers and batches -----------------------------------------------------------------


def test_one_worker_never_overlaps(kind: Kind) -> None:
    """workers=1 runs one item at a time."""
    summary = parmap(interval, range(8), kind=kind, workers=1, batch_size=1)
    spans = sorted((start, end) for _, start, end in summary.results)  # type: ignore[misc]
    for (_, end), (start, _) in pairwise(spans):
        assert start >= end


def test_n_threads_run_at_once() -> None:
    """workers=N reaches N items at once on threads (a barrier of N parties is passed)."""
    barrier = threading.Barrier(8, timeout=10)
    summary = parmap(lambda _: barrier.wait(), range(8), kind="io", workers=8)
    assert summary.ok


def wait_at(barrier: object) -> int:
    barrier.wait()  # type: ignore[attr-defined]
    return os.getpid()


def test_n_processes_run_at_once() -> None:
    """workers=N reaches N items at once in N distinct processes."""
    import multiprocessing  # noqa: PLC0415

    with multiprocessing.Manager() as manager:
        barrier = manager.Barrier(3, timeout=30)
        summary = parmap(wait_at, [barrier] * 3, kind="cpu", workers=3, batch_size=1)
    assert summary.ok, summary
    assert len(set(summary.results)) == 3


def test_a_batch_runs_sequentially_in_one_worker(kind: Kind) -> None:
    """batch_size=N sends N items to one worker, which runs them one after another."""
    summary = parmap(interval, range(6), kind=kind, workers=2, batch_size=3)
    results = summary.results
    for batch in (results[:3], results[3:]):
        assert len({who for who, _, _ in batch}) == 1  # type: ignore[misc]
        spans = [(start, end) for _, start, end in batch]  # type: ignore[misc]
        for (_, end), (start, _) in pairwise(spans):
            assert start >= end


def test_auto_batches_many_tiny_items(kind: Kind) -> None:
    """batch_size='auto' copes with many tiny items."""
    summary = parmap(double, range(20_000), kind=kind)
    assert summary.results == [2 * x for x in range(20_000)]


def test_auto_spreads_slow_items_over_all_workers() -> None:
    """batch_size='auto' never lumps slow items: N slow items on N threads run at once."""
    barrier = threading.Barrier(4, timeout=10)
    summary = parmap(lambda _: barrier.wait(), range(4), kind="io", workers=4)
    assert summary.ok


# --- executors, several runs, nesting ----------------------------------------------------


def test_callers_thread_executor_is_used_and_left_open() -> None:
    """executor= runs on the caller's ThreadPoolExecutor and leaves it open."""
    with ThreadPoolExecutor(3, thread_name_prefix="mine") as executor:
        summary = parmap(lambda _: threading.current_thread().name, range(6), executor=executor)
        assert all(str(name).startswith("mine") for name in summary.results)
        assert "ThreadPoolExecutor ×3" in summary.backend
        assert executor.submit(double, 2).result(timeout=10) == 4


def test_callers_process_executor_is_used_and_left_open() -> None:
    """executor= runs on the caller's ProcessPoolExecutor (fn pickled) and leaves it open."""
    import multiprocessing  # noqa: PLC0415

    context = multiprocessing.get_context("forkserver")
    with ProcessPoolExecutor(2, mp_context=context) as executor:
        summary = parmap(lambda x: (x * 3, os.getpid()), range(6), executor=executor)
        assert [value for value, _ in summary.results] == [x * 3 for x in range(6)]  # type: ignore[misc]
        assert os.getpid() not in {pid for _, pid in summary.results}  # type: ignore[misc]
        assert executor.submit(double, 2).result(timeout=30) == 4


def test_several_runs_at_once_from_threads(kind: Kind) -> None:
    """Runs started from several threads at the same time do not interfere."""
    outcomes: dict[int, list[int | None]] = {}

    def run(offset: int) -> None:
        outcomes[offset] = parmap(double, range(offset, offset + 50), kind=kind).results

    threads = [threading.Thread(target=run, args=(100 * i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert outcomes == {100 * i: [2 * x for x in range(100 * i, 100 * i + 50)] for i in range(4)}


def _open_fds() -> int:
    return sum(1 for _ in Path("/proc/self/fd").iterdir())


def _start_every_worker(kind: Kind, workers: int) -> None:
    """One run whose items meet at a barrier: every worker of its pool (kept warm) has started."""
    if kind == "io":
        barrier = threading.Barrier(workers, timeout=30)
        met = parmap(
            lambda _: barrier.wait(), range(workers), kind=kind, workers=workers, batch_size=1
        )
        assert met.ok, met
        return
    import multiprocessing  # noqa: PLC0415

    with multiprocessing.Manager() as manager:
        shared = manager.Barrier(workers, timeout=30)
        summary = parmap(wait_at, [shared] * workers, kind=kind, workers=workers, batch_size=1)
    assert summary.ok, summary


def test_runs_one_after_another_leak_nothing(kind: Kind) -> None:
    """Consecutive runs leave no open files behind (threads and processes: see no_leaks).

    The warm-up (the fork server, and the pool the runs reuse) starts every worker
    first: a pool starts its workers as items find none idle, and a worker first
    started by a later run (as a busy machine makes likely) holds files of its own
    (2 more on processes), which are not a leak.
    """
    _start_every_worker(kind, 2)
    before = _open_fds()
    for _ in range(5):
        assert parmap(double, range(10), kind=kind, workers=2).ok
    assert _open_fds() <= before


def test_io_inside_io_does_not_deadlock() -> None:
    """A parmap call inside fn of another (threads in threads) completes."""
    summary = parmap(nested_io, range(0, 40, 10), kind="io", workers=2)
    assert summary.results == [[2 * x for x in range(y, y + 3)] for y in range(0, 40, 10)]


def test_cpu_inside_cpu_completes_on_threads() -> None:
    """A kind='cpu' call inside a worker process completes on threads, saying why."""
    summary = parmap(nested_cpu, [0, 10], kind="cpu", workers=2)
    assert summary.ok, summary
    for x, (results, notes) in zip([0, 10], summary.results, strict=True):  # type: ignore[misc]
        assert results == [2 * y for y in range(x, x + 3)]
        assert "inside a parmap worker process" in notes[0]


def test_large_arguments_and_results_pass() -> None:
    """Arguments and results of tens of MB travel to and from worker processes."""
    size = 30 * 1024 * 1024
    assert parmap(big, [size], kind="cpu").results[0] == b"x" * size
    assert parmap(length, [b"y" * size], kind="cpu").results == [size]


# --- kind="auto" -------------------------------------------------------------------------


def sleepy(x: int) -> int:
    threading.Event().wait(0.05)  # waiting work: the item blocks without using a CPU
    return x


def test_auto_picks_processes_for_computing_work() -> None:
    """kind='auto' picks processes when the first items compute, and says so.

    Enough items that the rest is worth workers (a rest under 10 ms runs here).
    """
    summary = parmap(burn, range(12), kind="auto")
    assert summary.results == [burn(x) for x in range(12)]
    assert summary.backend.startswith("processes")
    assert "chose processes" in summary.notes[0]


def test_auto_picks_threads_for_waiting_work() -> None:
    """kind='auto' picks threads when the first item waits, and says so."""
    summary = parmap(sleepy, range(4), kind="auto")
    assert summary.results == [0, 1, 2, 3]
    assert summary.backend.startswith("threads")
    assert "chose threads" in summary.notes[0]


# --- bad input ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"kind": "gpu"}, r"kind must be one of 'io', 'cpu' or 'auto', got 'gpu'"),
        ({"workers": 0}, r"workers must be a positive int, got 0"),
        ({"workers": -2}, r"got -2"),
        ({"workers": 2.5}, r"got 2.5"),
        ({"batch_size": 0}, r"batch_size must be a positive int or 'auto', got 0"),
        ({"batch_size": "big"}, r"got 'big'"),
        ({"executor": "pool"}, r"executor must be a concurrent.futures.Executor"),
    ],
)
def test_bad_options_rejected_before_any_work(kwargs: dict[str, object], match: str) -> None:
    """Bad options raise ArgumentError, showing the value, before fn is ever called."""
    called = threading.Event()
    with pytest.raises(pm.ArgumentError, match=match):
        parmap(lambda _: called.set(), [1], **kwargs)  # type: ignore[call-overload]
    assert not called.is_set()


def test_fn_not_callable() -> None:
    """A non-callable fn is rejected with a hint."""
    with pytest.raises(pm.ArgumentError, match=r"fn must be callable, got int 3"):
        parmap(3, [1])  # type: ignore[call-overload]


def test_items_not_iterable() -> None:
    """A non-iterable items is rejected with a hint."""
    with pytest.raises(pm.ArgumentError, match=r"items must be iterable, got int 5"):
        parmap(double, 5)  # type: ignore[call-overload]


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (
            lambda: parmap(abs, [1], worker=4),  # type: ignore[call-overload]
            r"unknown option worker=; did you mean workers=\?",
        ),
        (
            lambda: parmap(abs, [1], zzz=1),  # type: ignore[call-overload]
            r"unknown option zzz=; the options are backoff, ",
        ),
        (
            lambda: parmap(abs, [1], ordered=True),  # type: ignore[call-overload]
            r"ordered= is an option of imap\(\)",
        ),
        (
            lambda: pm.imap(abs, [1], keep_results=False),  # type: ignore[call-overload]
            r"keep_results= is an option of parmap",
        ),
    ],
)
def test_unknown_or_misplaced_options_say_what_to_pass(
    call: Callable[[], object], match: str
) -> None:
    """An option the function does not take is refused up front, naming what was meant."""
    with pytest.raises(pm.ArgumentError, match=match):
        call()
    with pytest.raises(TypeError):  # as a misspelt keyword always was
        call()


def test_coroutine_function_rejected_with_hint_for_cpu() -> None:
    """A coroutine function with kind='cpu' gets a clear message (more in test_asyncio.py)."""

    async def fetch(x: int) -> int:
        return x

    with pytest.raises(pm.ArgumentError, match="coroutine function"):
        parmap(fetch, [1], kind="cpu")


class CountingFunction:
    """A function object that counts how often it is pickled (here) and loaded (in a worker)."""

    pickled = 0
    loaded = 0

    def __init__(self) -> None:
        CountingFunction.loaded += 1

    def __reduce__(self) -> tuple[type[CountingFunction], tuple[()]]:
        CountingFunction.pickled += 1
        return (CountingFunction, ())

    def __call__(self, _: int) -> tuple[int, int]:
        return os.getpid(), CountingFunction.loaded


def test_function_travels_once_per_run_and_loads_once_per_worker() -> None:
    """fn is pickled once per run and unpickled once per worker, not once per item or batch."""
    fn = CountingFunction()
    CountingFunction.pickled = 0
    summary = parmap(fn, range(40), kind="cpu", workers=2, batch_size=1)
    assert CountingFunction.pickled == 1
    assert {loaded for _, loaded in summary.results} == {1}  # type: ignore[misc]


def read_env(name: str) -> str | None:
    return os.environ.get(name)


def test_workers_see_the_environment_as_it_is_now(monkeypatch: pytest.MonkeyPatch) -> None:
    """A variable set after an earlier cpu run is seen by the workers of the next one."""
    parmap(read_env, ["PARMAP_TEST_LATE"], kind="cpu")  # starts the fork server
    monkeypatch.setenv("PARMAP_TEST_LATE", "now set")
    assert parmap(read_env, ["PARMAP_TEST_LATE"], kind="cpu").results == ["now set"]


def child_sigint_is_default(_: int) -> str:
    import subprocess  # noqa: PLC0415
    import sys  # noqa: PLC0415

    code = "import signal; print(signal.getsignal(signal.SIGINT) is signal.default_int_handler)"
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout.strip()


def test_programs_started_by_fn_still_stop_on_ctrl_c() -> None:
    """Workers leave SIGINT to the parent, yet programs they start get Ctrl-C as usual."""
    assert parmap(child_sigint_is_default, [0], kind="cpu").results == ["True"]
