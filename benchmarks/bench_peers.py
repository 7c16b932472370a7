"""Benchmark parmap side by side with its peers, on the ten workloads of the performance issues.

The ten workloads (W = the usable CPUs; 2 on the machines this project runs on):

* ``wait``: 2000 items, each ``time.sleep(0.010)``, on 100 threads. Ideal 0.20 s.
* ``trivial``: 200,000 items, ``x * x``, on W processes. Per item there is next
  to nothing to do, so the reference is a plain serial loop.
* ``cpu``: 400 items of ~5 ms of pure-Python CPU each (the loop size calibrated
  once per run), on W processes. Ideal: the serial loop's time / W.
* ``stream``: a generator of 2,000,000 integers, ``x * x``, results dropped:
  per-item overhead, and whether the input is read through a bounded window (peak
  RSS of the whole process tree).
* ``cold``: one call over 1 item: the cost of starting and stopping a pool.
* ``calls``: 50 consecutive calls over 100 trivial items each, on W processes:
  what a warm pool saves.
* ``wait_calls``: 10 consecutive calls over 200 waits of 10 ms each, on 100
  threads: what warm threads save (each peer's call starts a pool and shuts it
  down, as a ``with`` block in a loop does). Ideal 0.20 s.
* ``stream_imap``: the stream of ``stream``, but through ``imap(fn, gen)`` as a
  user streams with it (on threads, and with ``kind="cpu"`` on W processes),
  every outcome consumed (its value summed, then dropped).
* ``wait_fail``: the waits of ``wait``, but every 3rd item raises ``ValueError``;
  the peers call a try/except wrapper. Ideal 0.20 s.
* ``http``: 1000 urllib GETs on 50 threads against a local HTTP server that
  waits 20 ms before each answer and answers ``500`` to one request in 20
  (``_http_server.py``: 127.0.0.1 only, started in a subprocess for each
  measurement, outside the measured process tree, and stopped after its 1000th
  answer). Ideal 0.40 s.

parmap runs with its defaults and the workload's natural kind: ``kind="io",
workers=100`` on the waits; ``kind="cpu", workers=W`` on the process workloads;
``keep_results=False`` on the stream (once with ``kind="io"``, once with
``kind="cpu"``); ``imap`` on ``stream_imap`` (ordered, on threads also unordered);
``kind="io"`` with the peers' thread count on ``wait_fail`` and ``http``;
``kind="auto"`` too on the trivial items; both kinds on the cold
start. The peers: ``ThreadPoolExecutor``, ``ProcessPoolExecutor`` (chunksize 1,
a tuned chunksize, and on a ``forkserver`` context), ``multiprocessing``'s
``Pool`` (``fork`` and ``forkserver``) and ``ThreadPool``, and, where installed
(``pip install -e '.[bench]'``), joblib, mpire, pebble and pqdm; a peer that is
not installed is reported as skipped.

Each peer belongs to one class, after how it starts its workers:

* threads / fork-based: threads, and processes that ``fork()`` the parent (fast
  to start, unsafe when the parent runs threads; mpire, pebble and pqdm are
  given a ``fork`` context explicitly, which is their default on Linux);
* clean-start: processes that start from a clean interpreter, as parmap's do
  (a ``forkserver`` context; joblib's loky workers).

On the waits and the HTTP GETs, a *floor* runs too, that is no peer: bare
``threading.Thread`` workers taking items from one ``SimpleQueue``, with no
futures and no error handling (``bare_threads``). What it costs beyond the
ideal is what CPython's threads, the GIL and the timers cost on this machine.

Every contestant gets ratios to the best (lowest median) peer of each class, and
to the workload's reference (ideal or serial loop). The issue's targets are
checked at the end of the report.

Every measurement runs in a fresh interpreter (this script re-run with the hidden
``--one WORKLOAD TOOL`` option), which imports everything, prepares the items,
then waits for the parent's go-ahead: the parent takes the baseline RSS of the
child's process tree and samples it every 10 ms from a thread
(``_harness.run_fresh_sampled``). The clock runs from just before the pool is
created (or parmap called) until every result is in and the pool is shut down, as
a user's ``with`` block would; the parent also times the child until it has
exited, where a shut-down deferred to exit shows. Afterwards the child checks
every result against the expected one, made before the clock (on the stream, it
counts the items), and fails loudly if one is missing or wrong; the parent checks
that no worker outlived the child. Repeats are interleaved, the
contestants' order rotating each round.

Four contestants would take ~30 s per run: ``ProcessPoolExecutor(chunksize=1)``,
pebble's and pqdm's process pools (one task per item) on the trivial items, and
``ThreadPoolExecutor.map`` on the stream (a future per item, the whole input read
at once). They run on a tenth of the items and their time is multiplied by 10
(marked "×10" in the report). Per-item costs dominate, so the extrapolation is
close; their memory figures are those of the smaller run.

Run from the repository root, with parmap and the bench extra installed
(``pip install -e '.[bench]'``, or ``nox -s bench``)::

    python benchmarks/bench_peers.py                   # 5 repeats, about 15 minutes on 2 cores
    python benchmarks/bench_peers.py --quick           # 2 repeats
    python benchmarks/bench_peers.py --repeats 9
    python benchmarks/bench_peers.py --only wait,cold  # some workloads; nothing written
    python benchmarks/bench_peers.py --workloads stream_imap,wait_fail --out peers-new

It prints a Markdown report and writes ``benchmarks/results/peers.json`` (raw
records, summaries, ratios, targets, environment), ``peers.md`` (the report) and
``peers.png`` (a chart); with ``--workloads``, the chosen workloads only, to
``results/NAME.*`` (``--out NAME``, default ``peers-subset``).

Every function that runs contestants is only called from under the
``if __name__ == "__main__":`` guard: the forkserver pools import this script
again in their fork server (as ``__mp_main__``), where nothing may run.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import importlib.util
import json
import math
import multiprocessing
import multiprocessing.pool
import queue
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, cast

HERE: Final = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import _harness  # noqa: E402  (these three need HERE on sys.path first)
import _http_server  # noqa: E402
import _workloads  # noqa: E402

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Sequence

    from parmap import Kind, Outcome, Stream, Summary

NAME: Final = "peers"
SUBSET_NAME: Final = "peers-subset"
"""Where a run of ``--workloads`` writes its report, unless ``--out`` says otherwise."""
DEFAULT_REPEATS: Final = 5
QUICK_REPEATS: Final = 2
MB: Final = 1_000_000

WAIT_ITEMS: Final = 2000
WAIT_WORKERS: Final = 100
TRIVIAL_ITEMS: Final = 200_000
CPU_ITEMS: Final = 400
CPU_ITEM_SECONDS: Final = 0.005
STREAM_ITEMS: Final = 2_000_000
STREAM_CHUNKSIZE: Final = 1000
"""The chunksize of the peers that take one on the stream (a stream has no length to tune it on)."""
HTTP_REQUESTS: Final = 1000
HTTP_WORKERS: Final = 50
COLD_ITEM: Final = 7
CALLS: Final = 50
CALL_ITEMS: Final = 100
WAIT_CALLS: Final = 10
WAIT_CALL_ITEMS: Final = 200
SCALE: Final = 10
"""A scaled contestant runs on 1/SCALE of the items; its time is multiplied by SCALE."""

THREADS_FORK: Final = "threads/fork"
CLEAN_START: Final = "clean-start"
PARMAP: Final = "parmap"
SERIAL: Final = "serial"
FLOOR: Final = "floor"
"""Bare threads pulling items from a queue: the least any thread pool can do, not a peer."""
PEER_CLASSES: Final = (THREADS_FORK, CLEAN_START)

THIRD_PARTY: Final[dict[str, tuple[str, ...]]] = {
    "joblib": ("joblib",),
    "mpire": ("mpire.pool",),
    "pebble": ("pebble",),
    "pqdm": ("pqdm.processes", "pqdm.threads"),
}
"""The peers that need a package of the bench extra, and the modules they import."""


THREAD_PEERS: Final = ("parmap-io", "tpe", "threadpool", "bare-threads")
"""The contestants of the thread workloads but ``wait``: the standard library's pools, the floor."""


@dataclass(frozen=True)
class Workload:
    """One workload: what it is, its size, its contestants and its reference time."""

    title: str
    items: int
    contestants: tuple[str, ...]
    threads: bool = False
    """Third-party peers use their thread pools (otherwise their process pools)."""
    scaled: frozenset[str] = frozenset()
    """Contestants run on ``items // SCALE`` items, their time multiplied by ``SCALE``."""
    reference: str = "serial"
    """``"ideal"`` (computed), ``"serial"`` (the serial loop's median) or ``"none"``."""


WORKLOADS: Final[dict[str, Workload]] = {
    "wait": Workload(
        f"{WAIT_ITEMS} items × {_workloads.WAIT_SECONDS * 1000:.0f} ms wait, "
        f"{WAIT_WORKERS} threads",
        WAIT_ITEMS,
        ("parmap-io", "tpe", "threadpool", "joblib", "mpire", "pebble", "pqdm", "bare-threads"),
        threads=True,
        reference="ideal",
    ),
    "trivial": Workload(
        f"{TRIVIAL_ITEMS:,} trivial items (x * x), W processes",
        TRIVIAL_ITEMS,
        (
            "serial",
            "parmap-cpu",
            "parmap-auto",
            "ppe-fork-1",
            "ppe-fork",
            "ppe-forkserver",
            "pool-fork",
            "pool-forkserver",
            "joblib",
            "mpire",
            "pebble",
            "pqdm",
        ),
        scaled=frozenset({"ppe-fork-1", "pebble", "pqdm"}),
    ),
    "cpu": Workload(
        f"{CPU_ITEMS} items × {CPU_ITEM_SECONDS * 1000:.0f} ms pure-Python CPU, W processes",
        CPU_ITEMS,
        (
            "serial",
            "parmap-cpu",
            "ppe-fork-1",
            "ppe-fork",
            "ppe-forkserver",
            "pool-fork",
            "pool-forkserver",
            "joblib",
            "mpire",
            "pebble",
            "pqdm",
        ),
        reference="ideal",
    ),
    "stream": Workload(
        f"{STREAM_ITEMS:,}-item generator, x * x, results dropped",
        STREAM_ITEMS,
        (
            "serial",
            "parmap-io",
            "parmap-cpu",
            "threadpool",
            "tpe",
            "pool-fork",
            "pool-forkserver",
            "ppe-fork",
            "ppe-forkserver",
            "joblib",
            "mpire",
            "pebble",
        ),
        scaled=frozenset({"tpe"}),
    ),
    "cold": Workload(
        "one call over 1 item (start + stop)",
        1,
        (
            "parmap-io",
            "parmap-cpu",
            "tpe",
            "threadpool",
            "ppe-fork",
            "ppe-forkserver",
            "pool-fork",
            "pool-forkserver",
            "joblib",
            "mpire",
            "pebble",
            "pqdm",
        ),
        reference="none",
    ),
    "calls": Workload(
        f"{CALLS} consecutive calls × {CALL_ITEMS} trivial items, W processes",
        CALL_ITEMS,
        (
            "serial",
            "parmap-cpu",
            "ppe-fork",
            "ppe-forkserver",
            "pool-fork",
            "pool-forkserver",
            "joblib",
            "mpire",
            "pebble",
            "pqdm",
        ),
        reference="none",
    ),
    "stream_imap": Workload(
        f"imap over a {STREAM_ITEMS:,}-item generator, x * x, outcomes consumed",
        STREAM_ITEMS,
        (
            "serial",
            "parmap-imap-io",
            "parmap-imap-io-unordered",
            "parmap-imap-cpu",
            "parmap-imap-io-values",
            "parmap-imap-cpu-values",
            "threadpool",
            "pool-fork",
            "pool-forkserver",
            "ppe-forkserver",
        ),
    ),
    "wait_calls": Workload(
        f"{WAIT_CALLS} consecutive calls × {WAIT_CALL_ITEMS} items × "
        f"{_workloads.WAIT_SECONDS * 1000:.0f} ms wait, {WAIT_WORKERS} threads",
        WAIT_CALL_ITEMS,
        THREAD_PEERS,
        threads=True,
        reference="ideal",
    ),
    "wait_fail": Workload(
        f"{WAIT_ITEMS} items × {_workloads.WAIT_SECONDS * 1000:.0f} ms wait, every "
        f"{_workloads.FAIL_EVERY}rd raises, {WAIT_WORKERS} threads",
        WAIT_ITEMS,
        THREAD_PEERS,
        threads=True,
        reference="ideal",
    ),
    "http": Workload(
        f"{HTTP_REQUESTS} local HTTP GETs × {_http_server.LATENCY_SECONDS * 1000:.0f} ms, "
        f"{100 // _http_server.ERROR_EVERY} % answer 500, {HTTP_WORKERS} threads",
        HTTP_REQUESTS,
        THREAD_PEERS,
        threads=True,
        reference="ideal",
    ),
}
"""The workloads, in report order, with their contestants in table order."""

STREAMS: Final = frozenset({"stream", "stream_imap"})
"""The workloads over a generator, whose results are dropped."""
FAILING: Final = frozenset({"wait_fail", "http"})
"""The workloads where some items fail: the peers call a try/except wrapper."""


def usable_workers() -> int:
    """Return W, the number of worker processes of the process workloads: the usable CPUs."""
    return _harness.usable_cpus()


def tuned_chunksize(workload: str, count: int, workers: int) -> int:
    """Return the chunksize of the tuned ``ProcessPoolExecutor``: four chunks per worker.

    On the streams, whose length a tool cannot know, it is ``STREAM_CHUNKSIZE``.
    """
    if workload in STREAMS:
        return STREAM_CHUNKSIZE
    return max(1, math.ceil(count / (4 * workers)))


def thread_workers(workload: str) -> int | None:
    """Return the thread count of the thread contestants (None: each tool's default)."""
    return {
        "wait": WAIT_WORKERS,
        "wait_calls": WAIT_WORKERS,
        "wait_fail": WAIT_WORKERS,
        "http": HTTP_WORKERS,
    }.get(workload)


def calls_of(workload: str) -> int:
    """Return how many consecutive calls one measurement of ``workload`` makes."""
    return {"calls": CALLS, "wait_calls": WAIT_CALLS}.get(workload, 1)


def item_count(workload: str, tool: str) -> int:
    """Return how many items ``tool`` runs on in ``workload`` (fewer when it is scaled)."""
    spec = WORKLOADS[workload]
    return spec.items // SCALE if tool in spec.scaled else spec.items


def tool_class(workload: str, tool: str) -> str:
    """Return the class of a contestant: parmap, serial, threads/fork-based or clean-start."""
    if tool.startswith("parmap-"):
        return PARMAP
    if tool == "serial":
        return SERIAL
    if tool == "bare-threads":
        return FLOOR
    if tool in {"ppe-forkserver", "pool-forkserver"}:
        return CLEAN_START
    if tool == "joblib" and not WORKLOADS[workload].threads:
        return CLEAN_START  # loky starts its workers from a clean interpreter
    return THREADS_FORK


def label(workload: str, tool: str, workers: int) -> str:
    """Return what a contestant runs, as a short line of code, for the report."""
    spec = WORKLOADS[workload]
    threads = thread_workers(workload)
    tw = "" if threads is None else str(threads)
    chunks = tuned_chunksize(workload, item_count(workload, tool), workers)
    stream = workload in STREAMS
    drop = ", keep_results=False" if workload == "stream" else ""
    imap = f".imap(chunksize={STREAM_CHUNKSIZE})" if stream else ".map"
    caught = " + try/except" if workload in FAILING else ""
    w = workers
    labels = {
        "serial": "serial loop",
        "parmap-io": f'parmap(kind="io"{", workers=" + tw if tw else ""}{drop})',
        "parmap-cpu": f'parmap(kind="cpu", workers={w}{drop})',
        "parmap-auto": 'parmap(kind="auto")',
        "parmap-imap-io": "imap(fn, gen)",
        "parmap-imap-io-unordered": "imap(fn, gen, ordered=False)",
        "parmap-imap-cpu": f'imap(fn, gen, kind="cpu", workers={w})',
        "parmap-imap-io-values": "imap(fn, gen).values()",
        "parmap-imap-cpu-values": f'imap(fn, gen, kind="cpu", workers={w}).values()',
        "tpe": f"ThreadPoolExecutor({tw}).map{caught}",
        "bare-threads": f"{tw} bare threads + SimpleQueue{caught} (floor)",
        "threadpool": f"ThreadPool({tw}){imap}{caught}",
        "ppe-fork-1": f'ProcessPoolExecutor({w}, "fork").map(chunksize=1)',
        "ppe-fork": f'ProcessPoolExecutor({w}, "fork").map(chunksize={chunks})',
        "ppe-forkserver": f'ProcessPoolExecutor({w}, "forkserver").map(chunksize={chunks})',
        "pool-fork": f'"fork" Pool({w}){imap}',
        "pool-forkserver": f'"forkserver" Pool({w}){imap}',
    }
    if spec.threads:
        labels |= {
            "joblib": f'joblib Parallel(n_jobs={tw}, prefer="threads")',
            "mpire": f'mpire WorkerPool({tw}, "threading").map',
            "pebble": f"pebble ThreadPool({tw}).map",
            "pqdm": f"pqdm.threads.pqdm(n_jobs={tw})",
        }
    else:
        labels |= {
            "joblib": (
                f'joblib Parallel(n_jobs={w}, return_as="generator_unordered")'
                if stream
                else f"joblib Parallel(n_jobs={w}) (loky)"
            ),
            "mpire": (
                f'mpire WorkerPool({w}, "fork").imap_unordered(chunk_size={STREAM_CHUNKSIZE})'
                if stream
                else f'mpire WorkerPool({w}, "fork").map'
            ),
            "pebble": f'pebble ProcessPool({w}, "fork").map'
            + (f"(chunksize={STREAM_CHUNKSIZE})" if stream else ""),
            "pqdm": f'pqdm.processes.pqdm(n_jobs={w}, "fork")',
        }
    text = labels[tool]
    return f"{text} ×{SCALE}" if tool in spec.scaled else text


SHORT_LABELS: Final[dict[str, str]] = {
    "serial": "serial loop",
    "parmap-io": "parmap io",
    "parmap-cpu": "parmap cpu",
    "parmap-auto": "parmap auto",
    "parmap-imap-io": "imap io",
    "parmap-imap-io-unordered": "imap io, unordered",
    "parmap-imap-cpu": "imap cpu",
    "parmap-imap-io-values": "imap io .values()",
    "parmap-imap-cpu-values": "imap cpu .values()",
    "tpe": "ThreadPoolExecutor",
    "bare-threads": "bare threads (floor)",
    "threadpool": "ThreadPool",
    "ppe-fork-1": "PPE fork, chunksize 1",
    "ppe-fork": "PPE fork, tuned",
    "ppe-forkserver": "PPE forkserver, tuned",
    "pool-fork": "Pool fork",
    "pool-forkserver": "Pool forkserver",
    "joblib": "joblib",
    "mpire": "mpire",
    "pebble": "pebble",
    "pqdm": "pqdm",
}
"""Contestant names for the chart."""


# --------------------------------------------------------------------------- child side


def checked_results(summary: Summary[int, int], count: int) -> list[int | None]:
    """Return a parmap run's results, after checking that every one of ``count`` items succeeded."""
    if summary.failed or summary.succeeded != count or summary.total != count:
        msg = (
            f"parmap run not clean: {summary.failed} failed, {summary.succeeded} succeeded "
            f"of {count}\n{summary}\n{summary.errors!r}"
        )
        raise _harness.BenchmarkError(msg)
    return summary.results  # already a list of its own: no copy on the clock


SUMMARIES: Final[list[Summary[int, int]]] = []
"""The summaries of the parmap runs of this process, for ``parmap_said``."""


def run_parmap(
    tool: str, fn: Callable[[int], int], items: Iterable[int], workers: int | None, *, keep: bool
) -> Summary[int, int]:
    """Run a parmap contestant: ``parmap-io``, ``parmap-cpu`` or ``parmap-auto``."""
    from parmap import parmap  # noqa: PLC0415 - imported by `measure` before the clock

    kinds: dict[str, Kind] = {"parmap-io": "io", "parmap-cpu": "cpu", "parmap-auto": "auto"}
    summary = parmap(fn, items, kind=kinds[tool], workers=workers, keep_results=keep)
    SUMMARIES.append(summary)
    return summary


def parmap_said() -> dict[str, Any]:
    """Return the backend and notes of this process's last parmap run (nothing if none ran)."""
    if not SUMMARIES:
        return {}
    return {"backend": SUMMARIES[-1].backend, "notes": list(SUMMARIES[-1].notes)}


def run_map(
    workload: str, tool: str, fn: Callable[[int], int], items: list[int], workers: int
) -> list[Any]:
    """Run one map-style contestant over ``items``, from pool creation to shut-down.

    ``workers`` is W, the worker processes of the process tools; thread tools use
    ``thread_workers(workload)``. Returns the results in input order.
    """
    threads = thread_workers(workload)
    chunks = tuned_chunksize(workload, len(items), workers)
    fork = multiprocessing.get_context("fork")
    forkserver = multiprocessing.get_context("forkserver")
    if tool == "serial":
        return [fn(item) for item in items]
    if tool.startswith("parmap-"):
        pworkers = {"parmap-io": threads, "parmap-cpu": workers, "parmap-auto": None}[tool]
        return checked_results(run_parmap(tool, fn, items, pworkers, keep=True), len(items))
    if tool in {"tpe", "bare-threads"}:
        return run_threads(tool, fn, items, threads)
    if tool in {"ppe-fork-1", "ppe-fork", "ppe-forkserver"}:
        context = forkserver if tool == "ppe-forkserver" else fork
        size = 1 if tool == "ppe-fork-1" else chunks
        with ProcessPoolExecutor(workers, mp_context=context) as executor:
            return list(executor.map(fn, items, chunksize=size))
    pool: multiprocessing.pool.Pool
    if tool == "threadpool":
        pool = multiprocessing.pool.ThreadPool(threads)
    elif tool == "pool-fork":
        pool = fork.Pool(workers)
    elif tool == "pool-forkserver":
        pool = forkserver.Pool(workers)
    else:
        return run_third_party_map(workload, tool, fn, items, workers)
    with pool:  # terminate()s the pool if anything goes wrong
        results = pool.map(fn, items)
        pool.close()
        pool.join()  # every worker has exited, as after an executor's shut-down
    return results


def run_threads(
    tool: str, fn: Callable[[int], Any], items: list[int], threads: int | None
) -> list[Any]:
    """Run ``tpe`` (a ``ThreadPoolExecutor``) or ``bare-threads`` (the floor) over ``items``."""
    if tool == "bare-threads":
        return bare_threads(fn, items, threads or 1)
    with ThreadPoolExecutor(threads) as executor:
        return list(executor.map(fn, items))


def bare_threads(fn: Callable[[int], Any], items: list[int], threads: int) -> list[Any]:
    """Run ``fn`` over ``items`` on ``threads`` plain threads fed by one queue: the floor.

    No futures, no pool, no error handling: each thread takes the next item's
    index from a ``SimpleQueue`` and stores the result in its slot. What this
    costs beyond the ideal is what CPython's threads, GIL and timers cost on
    this machine; no thread pool can go below it.
    """
    todo: queue.SimpleQueue[int | None] = queue.SimpleQueue()
    for index in range(len(items)):
        todo.put(index)
    for _ in range(threads):
        todo.put(None)
    results: list[Any] = [None] * len(items)

    def work() -> None:
        while (index := todo.get()) is not None:
            results[index] = fn(items[index])

    started = [threading.Thread(target=work, daemon=True) for _ in range(threads)]
    for thread in started:
        thread.start()
    for thread in started:
        thread.join()
    return results


def run_third_party_map(
    workload: str, tool: str, fn: Callable[[int], int], items: list[int], workers: int
) -> list[Any]:
    """Run joblib, mpire, pebble or pqdm over ``items``: thread pools or process pools."""
    threads = WORKLOADS[workload].threads
    jobs = thread_workers(workload) if threads else workers
    fork = multiprocessing.get_context("fork")
    if tool == "joblib":
        import joblib  # noqa: PLC0415 - imported by `measure` before the clock

        parallel = joblib.Parallel(n_jobs=jobs, prefer="threads" if threads else None)
        return list(parallel(joblib.delayed(fn)(item) for item in items))
    if tool == "mpire":
        import mpire.pool  # noqa: PLC0415 - likewise

        start_method = "threading" if threads else "fork"
        with mpire.pool.WorkerPool(n_jobs=jobs, start_method=start_method) as mpool:
            return list(mpool.map(fn, items))
    if tool == "pebble":
        import pebble  # noqa: PLC0415 - likewise

        ppool: pebble.ThreadPool | pebble.ProcessPool = (
            pebble.ThreadPool(max_workers=jobs or 1)
            if threads
            else pebble.ProcessPool(max_workers=jobs or 1, context=fork)
        )
        with ppool:  # close() and join() on the way out
            return list(ppool.map(fn, items).result())
    if tool == "pqdm":
        import pqdm.processes  # noqa: PLC0415 - likewise
        import pqdm.threads  # noqa: PLC0415 - likewise

        options: dict[str, Any] = {"disable": True, "exception_behaviour": "immediate"}
        if threads:
            return list(pqdm.threads.pqdm(items, fn, n_jobs=jobs, **options))
        return list(pqdm.processes.pqdm(items, fn, n_jobs=jobs, mp_context=fork, **options))
    msg = f"unknown contestant {tool!r}"
    raise _harness.BenchmarkError(msg)


def run_stream(tool: str, fn: Callable[[int], int], items: Iterator[int], workers: int) -> int:
    """Run one contestant over the stream, results dropped; return how many items it processed."""
    fork = multiprocessing.get_context("fork")
    forkserver = multiprocessing.get_context("forkserver")
    if tool == "serial":
        return sum(1 for _ in map(fn, items))
    if tool.startswith("parmap-"):
        pworkers = workers if tool == "parmap-cpu" else None
        summary = run_parmap(tool, fn, items, pworkers, keep=False)
        if summary.failed or summary.succeeded != summary.total or summary.results:
            msg = f"parmap run not clean, or results kept: {summary}"
            raise _harness.BenchmarkError(msg)
        return summary.total
    if tool == "tpe":
        with ThreadPoolExecutor() as executor:
            return sum(1 for _ in executor.map(fn, items))
    if tool in {"ppe-fork", "ppe-forkserver"}:
        context = forkserver if tool == "ppe-forkserver" else fork
        with ProcessPoolExecutor(workers, mp_context=context) as executor:
            return sum(1 for _ in executor.map(fn, items, chunksize=STREAM_CHUNKSIZE))
    pool: multiprocessing.pool.Pool
    if tool == "threadpool":
        pool = multiprocessing.pool.ThreadPool()
    elif tool == "pool-fork":
        pool = fork.Pool(workers)
    elif tool == "pool-forkserver":
        pool = forkserver.Pool(workers)
    else:
        return run_third_party_stream(tool, fn, items, workers)
    with pool:
        count = sum(1 for _ in pool.imap(fn, items, chunksize=STREAM_CHUNKSIZE))
        pool.close()
        pool.join()
    return count


def run_third_party_stream(
    tool: str, fn: Callable[[int], int], items: Iterator[int], workers: int
) -> int:
    """Run joblib, mpire or pebble over the stream (process pools); return the items processed."""
    if tool == "joblib":
        import joblib  # noqa: PLC0415 - imported by `measure` before the clock

        parallel = joblib.Parallel(n_jobs=workers, return_as="generator_unordered")
        return sum(1 for _ in parallel(joblib.delayed(fn)(item) for item in items))
    if tool == "mpire":
        import mpire.pool  # noqa: PLC0415 - likewise

        with mpire.pool.WorkerPool(n_jobs=workers, start_method="fork") as mpool:
            return sum(1 for _ in mpool.imap_unordered(fn, items, chunk_size=STREAM_CHUNKSIZE))
    if tool == "pebble":
        import pebble  # noqa: PLC0415 - likewise

        fork = multiprocessing.get_context("fork")
        with pebble.ProcessPool(max_workers=workers, context=fork) as ppool:
            future = ppool.map(fn, items, chunksize=STREAM_CHUNKSIZE)
            return sum(1 for _ in future.result())
    msg = f"unknown contestant {tool!r} on the stream"
    raise _harness.BenchmarkError(msg)


def tally(values: Iterable[int]) -> tuple[int, int]:
    """Consume ``values``, dropping each; return how many there were and their sum."""
    count = total = 0
    for value in values:
        total += value
        count += 1
    return count, total


def tally_outcomes(outcomes: Iterable[Outcome[int, int]]) -> tuple[int, int]:
    """Like ``tally``, over parmap's outcomes, each checked for an error as a user would."""
    count = total = 0
    for outcome in outcomes:
        value = outcome.value
        if outcome.error is not None or value is None:
            msg = f"item {outcome.index} failed: {outcome.error!r}"
            raise _harness.BenchmarkError(msg)
        total += value
        count += 1
    return count, total


def tally_values(stream: Stream[int, int]) -> tuple[int, int]:
    """Like ``tally``, over a stream's values, its errors checked once at the end."""
    counted = tally(cast("Iterator[int]", stream.values()))
    if stream.errors:
        msg = f"{len(stream.errors)} items failed, the first: {stream.errors[0]!r}"
        raise _harness.BenchmarkError(msg)
    return counted


def run_stream_imap(
    tool: str, fn: Callable[[int], int], items: Iterator[int], workers: int
) -> tuple[int, int]:
    """Run one contestant over the stream, every result consumed and dropped.

    Returns how many results arrived and their sum, which the caller checks. parmap
    runs as a user streams with it: ``for outcome in imap(fn, gen)``.
    """
    if tool.startswith("parmap-imap-"):
        from parmap import imap  # noqa: PLC0415 - imported by `measure` before the clock

        cpu = tool.startswith("parmap-imap-cpu")
        stream = (
            imap(fn, items, kind="cpu", workers=workers)
            if cpu
            else imap(fn, items, ordered=tool != "parmap-imap-io-unordered")
        )
        return tally_values(stream) if tool.endswith("-values") else tally_outcomes(stream)
    forkserver = multiprocessing.get_context("forkserver")
    if tool == "serial":
        return tally(map(fn, items))
    if tool == "ppe-forkserver":
        with ProcessPoolExecutor(workers, mp_context=forkserver) as executor:
            return tally(executor.map(fn, items, chunksize=STREAM_CHUNKSIZE))
    pool: multiprocessing.pool.Pool
    if tool == "threadpool":
        pool = multiprocessing.pool.ThreadPool()
    elif tool == "pool-fork":
        pool = multiprocessing.get_context("fork").Pool(workers)
    elif tool == "pool-forkserver":
        pool = forkserver.Pool(workers)
    else:
        msg = f"unknown contestant {tool!r} on stream_imap"
        raise _harness.BenchmarkError(msg)
    with pool:
        counted = tally(pool.imap(fn, items, chunksize=STREAM_CHUNKSIZE))
        pool.close()
        pool.join()
    return counted


Failing = list[int | Exception]
"""What a contestant of a workload with failures returns: per item, its value or its exception."""


def run_failing(
    workload: str,
    tool: str,
    fn: Callable[[int], int],
    caught: Callable[[int], int | Exception],
    items: list[int],
) -> Summary[int, int] | Failing:
    """Run one contestant of ``wait_fail`` or ``http``, from pool creation to shut-down.

    parmap calls ``fn`` and records each failure in its summary, which it returns;
    the peers call ``caught`` (``fn`` inside a try/except) and return its results.
    """
    threads = thread_workers(workload)
    if tool == "parmap-io":
        return run_parmap(tool, fn, items, threads, keep=True)
    if tool in {"tpe", "bare-threads"}:
        return run_threads(tool, caught, items, threads)
    if tool == "threadpool":
        with multiprocessing.pool.ThreadPool(threads) as pool:
            results = pool.map(caught, items)
            pool.close()
            pool.join()
        return results
    msg = f"unknown contestant {tool!r} on {workload}"
    raise _harness.BenchmarkError(msg)


def per_item(output: Summary[int, int] | Failing) -> Failing | list[int | Exception | None]:
    """Return what a ``run_failing`` contestant made of each item: its value or its exception."""
    if isinstance(output, list):
        return output
    values: list[int | Exception | None] = list(output.results)
    for error in output.errors:
        values[error.index] = error.exception
    return values


def check_failing(workload: str, what: str, got: Sequence[object], items: list[int]) -> None:
    """Raise ``_harness.BenchmarkError`` unless every item has its value, or its right error.

    On ``wait_fail``, ``_workloads.fails(item)`` items must hold a ``ValueError``,
    the others the item. On ``http``, ``_http_server.answers_error(item)`` items must
    hold an ``HTTPError`` with code 500, the others ``item * item``.
    """
    import urllib.error  # noqa: PLC0415 - after the clock; urllib itself is already loaded

    wrong = []
    for item, value in zip(items, got, strict=False):
        if workload == "http":
            fails = _http_server.answers_error(item)
            right = (
                isinstance(value, urllib.error.HTTPError) and value.code == 500
                if fails
                else value == item * item
            )
        else:
            fails = _workloads.fails(item)
            right = isinstance(value, ValueError) if fails else value == item
        if not right:
            wrong.append((item, value))
    if wrong or len(got) != len(items):
        msg = (
            f"{what}: wrong results ({len(got)} returned, {len(items)} expected, "
            f"{len(wrong)} wrong, the first: {wrong[:3]!r})"
        )
        raise _harness.BenchmarkError(msg)


def check(what: str, got: Sequence[Any], expected: Sequence[Any]) -> None:
    """Raise ``_harness.BenchmarkError`` unless ``got`` equals ``expected``."""
    if list(got) != list(expected):
        wrong = sum(1 for a, b in zip(got, expected, strict=False) if a != b)
        msg = (
            f"{what}: wrong results ({len(got)} returned, {len(expected)} expected, "
            f"{wrong} of the first {min(len(got), len(expected))} differ)"
        )
        raise _harness.BenchmarkError(msg)


def run_checked(
    workload: str, tool: str, loop_size: int, url: str
) -> tuple[float, int, dict[str, Any]]:
    """Prepare, wait for the go-ahead, run the contestant on the clock, check its work.

    ``url`` is the base URL of the ``http`` workload's server. Returns the seconds
    on the clock, the number of items processed (every one checked), and anything
    parmap reported about its run.
    """
    workers = usable_workers()
    count = item_count(workload, tool)
    what = f"{workload}/{tool}"
    fn: Callable[[int], int] = _workloads.square
    items = list(range(count)) if workload not in STREAMS else []  # streams are made lazily
    if workload in FAILING:
        return run_checked_failing(workload, tool, items, url)
    if workload == "stream_imap":
        return run_checked_stream_imap(tool, count)
    if workload in {"wait", "wait_calls"}:
        fn = _workloads.wait
    elif workload == "cpu":
        fn = _workloads.spin
        # Loop sizes differ by a few steps, so that a result out of order is caught.
        items = [loop_size + k for k in range(count)]
    elif workload == "cold":
        items = [COLD_ITEM]
    # What every call must return, made before the clock (and the memory baseline).
    if workload == "cpu":
        expected = [_workloads.spin_expected(item) for item in items]
    else:
        expected = items if workload in {"wait", "wait_calls"} else [item * item for item in items]

    _harness.await_go(what)
    if workload == "stream":
        start = time.perf_counter()
        done = run_stream(tool, fn, (i for i in range(count)), workers)
        elapsed = time.perf_counter() - start
        if done != count:
            msg = f"{what}: processed {done} items, expected {count}"
            raise _harness.BenchmarkError(msg)
        return elapsed, done, parmap_said()
    calls = calls_of(workload)
    start = time.perf_counter()
    outputs = [run_map(workload, tool, fn, items, workers) for _ in range(calls)]
    elapsed = time.perf_counter() - start
    for output in outputs:
        check(what, output, expected)
    return elapsed, count * calls, parmap_said()


def run_checked_stream_imap(tool: str, count: int) -> tuple[float, int, dict[str, Any]]:
    """``run_checked`` for ``stream_imap``: the results must count and sum right."""
    what = f"stream_imap/{tool}"
    workers = usable_workers()
    _harness.await_go(what)
    start = time.perf_counter()
    done, total = run_stream_imap(tool, _workloads.square, (i for i in range(count)), workers)
    elapsed = time.perf_counter() - start
    if done != count or total != _workloads.squares_sum(count):
        msg = f"{what}: {done} results summing to {total}, expected {count} items"
        raise _harness.BenchmarkError(msg)
    return elapsed, done, parmap_said()


def run_checked_failing(
    workload: str, tool: str, items: list[int], url: str
) -> tuple[float, int, dict[str, Any]]:
    """``run_checked`` for ``wait_fail`` and ``http``: some items fail, and must."""
    what = f"{workload}/{tool}"
    fn: Callable[[int], int]
    caught: Callable[[int], int | Exception]
    if workload == "http":
        if not url:
            msg = f"{what}: no server URL (--url)"
            raise _harness.BenchmarkError(msg)
        fn = functools.partial(_http_server.fetch, url)
        caught = functools.partial(_http_server.fetch_caught, url)
    else:
        fn, caught = _workloads.wait_or_fail, _workloads.wait_or_fail_caught
    _harness.await_go(what)
    start = time.perf_counter()
    output = run_failing(workload, tool, fn, caught, items)
    elapsed = time.perf_counter() - start
    check_failing(workload, what, per_item(output), items)
    return elapsed, len(items), parmap_said()


def measure(workload: str, tool: str, loop_size: int, url: str = "") -> dict[str, Any]:
    """Run one contestant once in this interpreter; return its record (time scaled if need be)."""
    # Imports are outside the clock for every contestant: the standard library's at
    # the top of this script, parmap's and the third-party peers' here.
    from parmap import parmap  # noqa: F401, PLC0415 - the name loads the package lazily

    for module in THIRD_PARTY.get(tool, ()):
        importlib.import_module(module)
    scale = SCALE if tool in WORKLOADS[workload].scaled else 1
    elapsed, done, extra = run_checked(workload, tool, loop_size, url)
    return {
        "workload": workload,
        "tool": tool,
        "seconds": elapsed * scale,
        "measured_seconds": elapsed,
        "scale": scale,
        "items": done,
        **extra,
    }


# -------------------------------------------------------------------------- parent side


def reference_seconds(workload: str, medians: dict[str, float], workers: int) -> float | None:
    """Return the reference time of a workload: its ideal, its serial loop, or None."""
    reference = WORKLOADS[workload].reference
    if reference == "ideal":
        if workload in {"wait", "wait_fail"}:
            return WAIT_ITEMS * _workloads.WAIT_SECONDS / WAIT_WORKERS
        if workload == "wait_calls":
            return WAIT_CALLS * WAIT_CALL_ITEMS * _workloads.WAIT_SECONDS / WAIT_WORKERS
        if workload == "http":
            return HTTP_REQUESTS * _http_server.LATENCY_SECONDS / HTTP_WORKERS
        return medians["serial"] / workers
    if reference == "serial":
        return medians["serial"]
    return None


def reference_note(workload: str, workers: int) -> str:
    """Say what the reference time of a workload is."""
    reference = WORKLOADS[workload].reference
    if reference == "ideal" and workload in {"wait", "wait_fail"}:
        return f"ideal: {WAIT_ITEMS} × {_workloads.WAIT_SECONDS} s / {WAIT_WORKERS} threads"
    if reference == "ideal" and workload == "wait_calls":
        return (
            f"ideal: {WAIT_CALLS} × {WAIT_CALL_ITEMS} × {_workloads.WAIT_SECONDS} s / "
            f"{WAIT_WORKERS} threads"
        )
    if reference == "ideal" and workload == "http":
        return f"ideal: {HTTP_REQUESTS} × {_http_server.LATENCY_SECONDS} s / {HTTP_WORKERS} threads"
    if reference == "ideal":
        return f"ideal: the serial loop / {workers} workers"
    if reference == "serial":
        return "the serial loop"
    return "none"


def analyse(
    raw: dict[str, dict[str, list[dict[str, Any]]]], workers: int
) -> dict[str, dict[str, Any]]:
    """Turn raw records into medians, ranges, memory and ratios, per workload.

    Ratios are of medians: to the best (lowest median) peer of each class, and to
    the workload's reference. parmap's contestants also get the per-round ratios
    to those best peers (``_harness.versus``).
    """
    out: dict[str, dict[str, Any]] = {}
    for workload, by_tool in raw.items():
        times = {tool: [r["seconds"] for r in records] for tool, records in by_tool.items()}
        medians = {tool: _harness.summarize(t)["median"] for tool, t in times.items()}
        best: dict[str, str | None] = {}
        for cls in PEER_CLASSES:
            peers = [t for t in by_tool if tool_class(workload, t) == cls]
            best[cls] = min(peers, key=lambda t: medians[t]) if peers else None
        reference = reference_seconds(workload, medians, workers)
        tools: dict[str, Any] = {}
        for tool, records in by_tool.items():
            entry: dict[str, Any] = {
                "label": label(workload, tool, workers),
                "class": tool_class(workload, tool),
                "scale": records[0]["scale"],
                "seconds": _harness.summarize(times[tool]),
                "exit_seconds": _harness.summarize([r["exit_seconds"] for r in records]),
                "after_clock_seconds": _harness.summarize(
                    [r["exit_seconds"] - r["measured_seconds"] for r in records]
                ),
                "rss_peak_mb": _harness.summarize([r["rss_peak_bytes"] / MB for r in records]),
                "rss_growth_mb": _harness.summarize(
                    [(r["rss_peak_bytes"] - r["rss_baseline_bytes"]) / MB for r in records]
                ),
                "leftover_processes": sorted(
                    {name for r in records for name in r["leftover_processes"]}
                ),
                "vs_best": {
                    cls: medians[tool] / medians[peer]
                    for cls, peer in best.items()
                    if peer is not None
                },
                "vs_reference": medians[tool] / reference if reference else None,
            }
            if "backend" in records[-1]:
                entry["backend"] = records[-1]["backend"]
                entry["notes"] = records[-1]["notes"]
            if tool_class(workload, tool) == PARMAP:
                entry["paired_vs_best"] = {
                    cls: _harness.versus(times[tool], times[peer])
                    for cls, peer in best.items()
                    if peer is not None
                }
            tools[tool] = entry
        out[workload] = {
            "title": WORKLOADS[workload].title.replace("W processes", f"{workers} processes"),
            "reference_seconds": reference,
            "reference": reference_note(workload, workers),
            "best": best,
            "tools": tools,
        }
    return out


@dataclass(frozen=True)
class Target:
    """One of the issue's targets: a parmap contestant's ratio to something, at most a limit."""

    workload: str
    tool: str
    versus: str
    """``"threads/fork"`` or ``"clean-start"`` (best peer of that class), ``"reference"``,
    ``"rss"`` (tree RSS peak in MB, worst repeat) or a peer's name."""
    limit: float


TARGETS: Final = (
    Target("wait", "parmap-io", THREADS_FORK, 1.0),
    Target("wait", "parmap-io", "reference", 1.07),
    Target("wait", "parmap-io", "tpe", 0.95),
    Target("trivial", "parmap-cpu", CLEAN_START, 1.0),
    Target("trivial", "parmap-cpu", "pool-forkserver", 1.0),
    Target("trivial", "parmap-auto", "reference", 1.2),
    Target("cpu", "parmap-cpu", CLEAN_START, 1.0),
    Target("cpu", "parmap-cpu", "reference", 1.10),
    Target("stream", "parmap-io", "threadpool", 1.0),
    Target("stream", "parmap-cpu", CLEAN_START, 1.0),
    Target("stream", "parmap-io", "rss", 100.0),
    Target("stream", "parmap-cpu", "rss", 100.0),
    Target("cold", "parmap-cpu", CLEAN_START, 1.0),
    Target("cold", "parmap-cpu", "pool-forkserver", 1.0),
    Target("calls", "parmap-cpu", "ppe-fork", 0.3),
    Target("calls", "parmap-cpu", CLEAN_START, 1.0),
    Target("wait_calls", "parmap-io", "reference", 1.07),
    Target("wait_calls", "parmap-io", "tpe", 0.95),
    Target("stream_imap", "parmap-imap-io", "threadpool", 1.0),
    Target("stream_imap", "parmap-imap-cpu", "pool-forkserver", 1.0),
    Target("stream_imap", "parmap-imap-io", "rss", 100.0),
    Target("stream_imap", "parmap-imap-io-values", "threadpool", 1.0),
    Target("stream_imap", "parmap-imap-cpu-values", "pool-forkserver", 1.0),
    Target("stream_imap", "parmap-imap-cpu", "rss", 100.0),
    Target("wait_fail", "parmap-io", THREADS_FORK, 1.0),
    Target("http", "parmap-io", "tpe", 0.95),
    Target("http", "parmap-io", "reference", 1.07),
)
"""The issue's targets, each checked on the medians of one run."""


def check_targets(analysis: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Check every target whose workload and contestants were measured; return the verdicts."""
    verdicts = []
    for target in TARGETS:
        result = analysis.get(target.workload)
        if result is None or target.tool not in result["tools"]:
            continue
        stats = result["tools"][target.tool]
        if target.versus == "rss":
            value = stats["rss_peak_mb"]["max"]
            what = f"tree RSS peak (worst repeat) < {target.limit:.0f} MB"
            verdicts.append(_verdict(target, what, value, met=value < target.limit, unit="MB"))
            continue
        if target.versus == "reference":
            value = stats["vs_reference"]
            what = f"≤ {target.limit:.2f}× {result['reference']}"
        else:
            peer = result["best"].get(target.versus, target.versus)
            if peer is None or peer not in result["tools"]:
                continue
            kind = f"best {target.versus} peer, " if target.versus in PEER_CLASSES else ""
            what = f"≤ {target.limit:.2f}× {kind}{result['tools'][peer]['label']}"
            value = stats["seconds"]["median"] / result["tools"][peer]["seconds"]["median"]
        verdicts.append(_verdict(target, what, value, met=value <= target.limit, unit="×"))
    return verdicts


def _verdict(target: Target, what: str, value: float, *, met: bool, unit: str) -> dict[str, Any]:
    return {
        "workload": target.workload,
        "tool": target.tool,
        "target": what,
        "value": value,
        "unit": unit,
        "limit": target.limit,
        "met": met,
    }


def _cell_seconds(stats: dict[str, Any]) -> str:
    return f"{stats['label']} {stats['seconds']['median']:.3f} s"


def side_by_side(analysis: dict[str, dict[str, Any]]) -> list[str]:
    """Return the summary table: per workload, parmap beside the best peer of each class."""
    rows = [
        (
            "| Workload | parmap | best threads / fork-based peer | best clean-start peer "
            "| reference |"
        ),
        "|---|---|---|---|---|",
    ]
    for result in analysis.values():
        tools = result["tools"]
        parmap_cells = "<br>".join(_cell_seconds(s) for s in tools.values() if s["class"] == PARMAP)
        peers = [
            _cell_seconds(tools[best]) if best else "—"
            for best in (result["best"][cls] for cls in PEER_CLASSES)
        ]
        reference = result["reference_seconds"]
        ref = "—" if reference is None else f"{result['reference']}: {reference:.3f} s"
        rows.append(f"| {result['title']} | {parmap_cells} | {peers[0]} | {peers[1]} | {ref} |")
    return rows


def targets_table(verdicts: list[dict[str, Any]], analysis: dict[str, Any]) -> list[str]:
    """Return the table of targets: what each asks, what was measured, met or missed."""
    rows = ["| Workload | parmap | Target | Measured | Met |", "|---|---|---|--:|:-:|"]
    for v in verdicts:
        measured = f"{v['value']:.1f} MB" if v["unit"] == "MB" else f"{v['value']:.2f}×"
        rows.append(
            f"| {v['workload']} | {analysis[v['workload']]['tools'][v['tool']]['label']} "
            f"| {v['target']} | {measured} | {'yes' if v['met'] else '**no**'} |"
        )
    return rows


def full_table(analysis: dict[str, dict[str, Any]]) -> list[str]:
    """Return the table of every contestant of every workload."""
    rows = [
        (
            "| Workload | Contestant | Class | Median (s) | Min–max (s) | × best threads/fork "
            "| × best clean-start | × reference | Tree RSS peak, median (max) (MB) "
            "| Clock stop to exit (s) |"
        ),
        "|---|---|---|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for workload, result in analysis.items():
        for stats in result["tools"].values():
            secs, rss = stats["seconds"], stats["rss_peak_mb"]
            ratios = [
                f"{stats['vs_best'][cls]:.2f}" if cls in stats["vs_best"] else ""
                for cls in PEER_CLASSES
            ]
            vs_ref = "" if stats["vs_reference"] is None else f"{stats['vs_reference']:.2f}"
            rows.append(
                f"| {workload} | {stats['label']} | {stats['class']} | {secs['median']:.3f} "
                f"| {secs['min']:.3f}–{secs['max']:.3f} | {ratios[0]} | {ratios[1]} | {vs_ref} "
                f"| {rss['median']:.0f} ({rss['max']:.0f}) "
                f"| {stats['after_clock_seconds']['median']:.3f} |"
            )
    return rows


def notes(report: dict[str, Any]) -> list[str]:
    """Return the notes under the tables: how to read them, and what was skipped or left over."""
    env = report["environment"]
    analysis = report["results"]
    lines = [
        (
            f"W = {env['workers']} worker processes (the usable CPUs). Times are wall seconds "
            "of one full run in a fresh interpreter, from pool creation (or the parmap call) "
            "to the last result with the pool shut down; imports are not timed. Ratios are of "
            "medians; below 1 means faster. Classes: *threads/fork* are threads and processes "
            "that fork() the parent; *clean-start* are processes started from a clean "
            "interpreter (a forkserver context, joblib's loky), as parmap's are. "
            '"Clock stop to exit" is the time from the end of the measurement until the '
            "measured interpreter has exited (seen from its parent): interpreter shut-down, "
            "and whatever work a tool defers to exit. Tree RSS is the summed "
            "RSS of the process and all its descendants, sampled every "
            f"{_harness.SAMPLE_SECONDS * 1000:.0f} ms (a page shared by several processes "
            "counts in each)."
        ),
        (
            f"Contestants marked ×{SCALE} ran on 1/{SCALE} of the items (one task per item "
            f"would take ~30 s), their time multiplied by {SCALE}; their memory is that of "
            "the smaller run."
        ),
    ]
    autos = [
        f"{workload}: {stats['backend']}"
        + (f" ({'; '.join(stats['notes'])})" if stats.get("notes") else "")
        for workload, result in analysis.items()
        for tool, stats in result["tools"].items()
        if tool == "parmap-auto" and "backend" in stats
    ]
    if autos:
        lines.append('parmap(kind="auto") ran on ' + ", ".join(autos) + ".")
    if report["skipped"]:
        lines.append(
            "Skipped (not installed; `pip install -e '.[bench]'`): "
            + ", ".join(report["skipped"])
            + "."
        )
    leftovers = [
        f"{workload}/{tool}: {', '.join(stats['leftover_processes'])}"
        for workload, result in analysis.items()
        for tool, stats in result["tools"].items()
        if stats["leftover_processes"]
    ]
    lines.append(
        "Workers still alive "
        f"{_harness.LEFTOVER_GRACE_SECONDS:.0f} s after their interpreter exited (killed): "
        + ("; ".join(leftovers) if leftovers else "none")
        + "."
    )
    versions = ", ".join(
        f"{name} {version}" for name, version in env["peer_versions"].items() if version
    )
    revision = (env.get("git_revision") or "unknown")[:12]
    lines.append(
        f"Measured: parmap {env.get('parmap_version')} (git {revision}), "
        f"Python {env['python'].split()[0]}, {versions}."
    )
    if report.get("note"):
        lines.append(f"**Note:** {report['note']}")
    load = env["loadavg_before"], env["loadavg_after"]
    lines.append(
        f"Load average (1 min) before and after the run: {load[0][0]:.2f} and "
        f"{load[1][0]:.2f}; the run took {report['total_wall_seconds'] / 60:.1f} minutes."
    )
    return lines


SECTION_START: Final = "<!-- --8<-- [start:results] -->"
SECTION_END: Final = "<!-- --8<-- [end:results] -->"
"""Markers around the part of peers.md that the documentation page includes."""


def markdown(report: dict[str, Any]) -> str:
    """Render the report as Markdown: side by side, targets, every contestant, notes."""
    analysis = report["results"]
    verdicts = report["targets"]
    missed = [v for v in verdicts if not v["met"]]
    parts = [
        SECTION_START,
        "",
        "### Side by side",
        "",
        *side_by_side(analysis),
        "",
        "### Targets",
        "",
        f"{len(verdicts) - len(missed)} of {len(verdicts)} met.",
        "",
        *targets_table(verdicts, analysis),
        "",
        "### Every contestant",
        "",
        *full_table(analysis),
        "",
        *[line + "\n" for line in notes(report)],
        SECTION_END,
    ]
    return "\n".join(parts)


CLASS_COLOURS: Final[dict[str, str]] = {
    PARMAP: "#d62728",
    SERIAL: "#7f7f7f",
    FLOOR: "#bcbd22",
    THREADS_FORK: "#1f77b4",
    CLEAN_START: "#2ca02c",
}


def draw_chart(report: dict[str, Any], path: Path) -> bool:
    """Draw one panel per workload (median, min–max, per contestant) into ``path``.

    Returns False (and draws nothing) when matplotlib is not installed.
    """
    if importlib.util.find_spec("matplotlib") is None:
        return False
    import matplotlib as mpl  # noqa: PLC0415 - optional, parent side only

    mpl.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415
    from matplotlib.patches import Patch  # noqa: PLC0415

    analysis = report["results"]
    cols = 2
    rows = math.ceil(len(analysis) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(14, 4.2 * rows), squeeze=False)
    for ax, (workload, result) in zip(axes.flat, analysis.items(), strict=False):
        tools = list(result["tools"].items())
        medians = [s["seconds"]["median"] for _, s in tools]
        lows = [s["seconds"]["median"] - s["seconds"]["min"] for _, s in tools]
        highs = [s["seconds"]["max"] - s["seconds"]["median"] for _, s in tools]
        names = [
            SHORT_LABELS[tool] + (f" ×{s['scale']}" if s["scale"] != 1 else "") for tool, s in tools
        ]
        colours = [CLASS_COLOURS[s["class"]] for _, s in tools]
        ys = list(range(len(tools)))
        ax.barh(ys, medians, xerr=[lows, highs], color=colours, capsize=2)
        ax.set_yticks(ys, labels=names, fontsize=8)
        ax.invert_yaxis()
        if max(medians) / max(min(medians), 1e-9) > 30:
            ax.set_xscale("log")
        reference = result["reference_seconds"]
        if reference is not None:
            ax.axvline(reference, color="black", linestyle="--", linewidth=1)
        ax.set_title(f"{workload}: {result['title']}", fontsize=10)
        ax.set_xlabel("seconds (median, min–max)" + ("; dashed: reference" if reference else ""))
        ax.grid(axis="x", alpha=0.3)
    for ax in list(axes.flat)[len(analysis) :]:
        ax.set_visible(False)
    handles = [Patch(color=c, label=cls) for cls, c in CLASS_COLOURS.items()]
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), frameon=False)
    env = report["environment"]
    fig.suptitle(
        f"parmap and its peers — {report['date'][:10]}, Python {env['python'].split()[0]}, "
        f"{env['usable_cpus']} CPUs, {report['repeats']} repeats"
    )
    fig.tight_layout(rect=(0, 0.03, 1, 0.97))
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return True


def available(workload: str, tool: str) -> bool:
    """Return whether the packages a contestant needs are installed."""
    del workload
    return all(importlib.util.find_spec(m.split(".")[0]) for m in THIRD_PARTY.get(tool, ()))


def environment(workers: int, loop_size: int) -> dict[str, Any]:
    """Return the machine and software the benchmark runs on."""
    from parmap._run.cpus import default_workers  # noqa: PLC0415 - only the parent needs it

    versions = {
        name: _harness_version(name) for name in ("joblib", "mpire", "pebble", "pqdm", "psutil")
    }
    return {
        **_harness.machine(),
        "workers": workers,
        "cpu_loop_size": loop_size,
        "parmap_io_workers": default_workers("io"),
        "parmap_cpu_workers": default_workers("cpu"),
        "default_start_method": multiprocessing.get_start_method(),
        "peer_versions": versions,
        **_harness.provenance(),
    }


def _harness_version(distribution: str) -> str | None:
    """Return the installed version of ``distribution``, or None."""
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def describe(record: dict[str, Any]) -> str:
    """Return what one measurement found, for its progress line."""
    scaled = f" (×{record['scale']})" if record["scale"] != 1 else ""
    return (
        f"{record['seconds']:8.3f} s{scaled:6} {record['rss_peak_bytes'] / MB:7.1f} MB peak "
        f"{record['exit_seconds']:7.3f} s to exit"
        + (f"  LEFTOVER {record['leftover_processes']}" if record["leftover_processes"] else "")
    )


def run_child(workload: str, tool: str, loop_size: int) -> dict[str, Any]:
    """Measure one contestant in a fresh interpreter, sampling its tree's RSS; return its record.

    On ``http``, a server for its ``HTTP_REQUESTS`` requests runs in a subprocess of
    this process (outside the measured tree) for the duration of the measurement.
    """
    args = ["--one", workload, tool, "--loop-size", str(loop_size)]
    what = f"{workload}/{tool}"
    if workload != "http":
        return _harness.run_fresh_sampled(__file__, args, what=what)
    lifetime = _harness.CHILD_TIMEOUT_SECONDS + 30
    with _http_server.running_server(HTTP_REQUESTS, lifetime) as url:
        return _harness.run_fresh_sampled(__file__, [*args, "--url", url], what=what)


def run_benchmark(repeats: int, workloads: Sequence[str]) -> dict[str, Any]:
    """Run every available contestant of ``workloads`` ``repeats`` times, interleaved."""
    workers = usable_workers()
    loop_size = _workloads.calibrate_spin(CPU_ITEM_SECONDS)
    contestants = {w: [t for t in WORKLOADS[w].contestants if available(w, t)] for w in workloads}
    skipped = sorted(
        {t for w in workloads for t in WORKLOADS[w].contestants if not available(w, t)}
    )
    print(
        f"{repeats} interleaved repeats, W = {workers}, cpu loop size = {loop_size}; "
        f"skipped (not installed): {', '.join(skipped) or 'none'}",
        file=sys.stderr,
    )
    env = environment(workers, loop_size)
    rounds = _harness.interleave(
        contestants,
        repeats,
        lambda workload, tool: run_child(workload, tool, loop_size),
        describe,
    )
    env["loadavg_before"] = rounds.loadavg_before
    env["loadavg_after"] = rounds.loadavg_after
    analysis = analyse(rounds.raw, workers)
    return {
        **_harness.report_head(NAME, rounds),
        "environment": env,
        "workloads": {
            w: {
                "title": WORKLOADS[w].title,
                "items": WORKLOADS[w].items,
                "scaled": sorted(WORKLOADS[w].scaled),
                "scale": SCALE,
                "calls": calls_of(w),
            }
            for w in workloads
        },
        "skipped": skipped,
        "raw": rounds.raw,
        "results": analysis,
        "targets": check_targets(analysis),
    }


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse the command line."""
    parser = _harness.repeat_parser(__doc__, default=DEFAULT_REPEATS, quick=QUICK_REPEATS)
    parser.add_argument(
        "--only",
        metavar="WORKLOADS",
        help=f"comma-separated workloads among {', '.join(WORKLOADS)}; "
        "the report is printed, not written",
    )
    parser.add_argument(
        "--workloads",
        metavar="WORKLOADS",
        help="comma-separated workloads, like --only, but the report is written "
        "to results/NAME.* (see --out)",
    )
    parser.add_argument(
        "--out",
        metavar="NAME",
        default=None,
        help=f"write results/NAME.json, .md and .png (default {NAME!r}; "
        f"{SUBSET_NAME!r} with --workloads); --redraw reads results/NAME.json",
    )
    parser.add_argument(
        "--note", default="", help="a sentence about this run, printed in the report"
    )
    parser.add_argument(
        "--redraw",
        action="store_true",
        help="measure nothing: render peers.md and peers.png again from peers.json",
    )
    parser.add_argument("--one", nargs=2, metavar=("WORKLOAD", "TOOL"), help=argparse.SUPPRESS)
    parser.add_argument("--loop-size", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--url", default="", help=argparse.SUPPRESS)
    args = _harness.parse_repeats(parser, argv, default=DEFAULT_REPEATS, quick=QUICK_REPEATS)
    if args.only and args.workloads:
        parser.error("--only and --workloads: choose one")
    for option in ("only", "workloads"):
        value = getattr(args, option)
        if value is None:
            continue
        chosen = [w.strip() for w in value.split(",") if w.strip()]
        unknown = [w for w in chosen if w not in WORKLOADS]
        if unknown or not chosen:
            parser.error(f"--{option}: unknown workloads {unknown}; choose among {list(WORKLOADS)}")
        setattr(args, option, chosen)
    if args.out is None:
        args.out = SUBSET_NAME if args.workloads else NAME
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark (or, with ``--one``, a single measurement in this interpreter)."""
    args = parse_args(argv)
    if args.one:
        workload, tool = args.one
        if workload not in WORKLOADS or tool not in WORKLOADS[workload].contestants:
            msg = f"no contestant {tool!r} for workload {workload!r}"
            raise _harness.BenchmarkError(msg)
        print(json.dumps(measure(workload, tool, args.loop_size, args.url)))
        return 0
    if args.redraw:
        path = _harness.RESULTS_DIR / f"{args.out}.json"
        report = json.loads(path.read_text(encoding="utf-8"))
        report["targets"] = check_targets(report["results"])
        report["note"] = args.note or report.get("note", "")
    elif _harness.parmap_version() is None:
        print("parmap is not installed: pip install -e '.[bench]'", file=sys.stderr)
        return 2
    else:
        report = run_benchmark(args.repeats, args.only or args.workloads or list(WORKLOADS))
        report["note"] = args.note
    table = markdown(report)
    if args.only:
        print(table)
        print("\n--only: a partial run; nothing written", file=sys.stderr)
        return 0
    _harness.publish(
        args.out,
        report,
        table,
        quick_repeats=QUICK_REPEATS,
        rerun=(
            f"{_harness.rerun_command(NAME)} --workloads {','.join(report['workloads'])} "
            f"--out {args.out}"
            if args.out != NAME
            else None
        ),
        title="Peers benchmark" + (f" ({args.out})" if args.out != NAME else ""),
    )
    chart = _harness.RESULTS_DIR / f"{args.out}.png"
    if draw_chart(report, chart):
        print(f"wrote {chart}", file=sys.stderr)
    else:
        print("matplotlib is not installed: no chart drawn", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
