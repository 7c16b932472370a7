"""Benchmark parmap against the standard-library executors it wraps.

Two workloads, each run by parmap and by its plain ``concurrent.futures`` peers:

* ``wait``: 2000 items, each ``time.sleep(0.010)`` (a simulated I/O wait), on 100
  workers. Ideal wall time is 2000 * 0.010 / 100 = 0.20 s. Contestants:
  ``parmap(kind="io", workers=100)`` and ``ThreadPoolExecutor(100).map``.
* ``cpu``: 400 items of about 5 ms of pure-Python CPU work each (a loop whose size
  is calibrated once per run on this machine and passed to every contestant as the
  item), on W workers, W = the number of usable CPUs. Ideal wall time is the
  measured serial time / W. Contestants: a plain serial loop, ``parmap(kind="cpu",
  workers=W)``, and ``ProcessPoolExecutor(W).map(chunksize=ceil(400 / (4 * W)))``
  with the default start method and with ``forkserver`` (the fair peer: parmap
  also starts clean interpreters and never forks).

Every measurement runs in a fresh interpreter (this script re-run with the hidden
``--one TOOL WORKLOAD`` option), which times from just before the pool is created
(or parmap is called) to just after every result is in and the pool is shut down:
pool start-up and shut-down are included, interpreter start-up and imports are
not. The child checks every result against the expected list and fails loudly if
one is wrong. Repeats are interleaved (every contestant once, then again, R times)
so that noise on a shared machine hits all contestants alike; the ratios between
contestants of one run are what count, not the absolute times.

Run from the repository root, with parmap installed::

    python benchmarks/bench_core.py            # 7 repeats, under a minute on 2 cores
    python benchmarks/bench_core.py --quick    # 3 repeats
    python benchmarks/bench_core.py --repeats 11

It prints a Markdown table and writes ``benchmarks/results/core.json`` (raw times,
medians, ratios, environment) and ``benchmarks/results/core.md`` (the table).
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import sys
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

HERE: Final = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import _harness  # noqa: E402  (these two need HERE on sys.path first)
import _workloads  # noqa: E402

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from parmap import Kind

WAIT_ITEMS: Final = 2000
WAIT_WORKERS: Final = 100
CPU_ITEMS: Final = 400
CPU_ITEM_SECONDS: Final = 0.005
DEFAULT_REPEATS: Final = 7
QUICK_REPEATS: Final = 3

CONTESTANTS: Final[dict[str, tuple[str, ...]]] = {
    "wait": ("parmap", "threads"),
    "cpu": ("serial", "parmap", "ppe-default", "ppe-forkserver"),
}
"""Contestants per workload, in table order."""

PEERS: Final[dict[str, tuple[str, ...]]] = {
    "wait": ("threads",),
    "cpu": ("ppe-forkserver", "ppe-default"),
}
"""The executors parmap is compared with, the fair peer first."""

LABELS: Final[dict[str, str]] = {
    "serial": "serial loop",
    "parmap:wait": f'parmap(kind="io", workers={WAIT_WORKERS})',
    "parmap:cpu": 'parmap(kind="cpu", workers=W)',
    "threads": f"ThreadPoolExecutor({WAIT_WORKERS}).map",
    "ppe-default": "ProcessPoolExecutor(W).map, default context",
    "ppe-forkserver": 'ProcessPoolExecutor(W).map, "forkserver"',
}


def cpu_chunksize(workers: int) -> int:
    """Return the ``chunksize`` the ProcessPoolExecutor peers use: four chunks per worker."""
    return math.ceil(CPU_ITEMS / (4 * workers))


def wait_items() -> list[int]:
    """Return the items of the "wait" workload."""
    return list(range(WAIT_ITEMS))


def cpu_items(loop_size: int) -> list[int]:
    """Return the items of the "cpu" workload: loop sizes, all about ``loop_size``.

    They differ by a few steps (at most 0.4 % of the work) so that a result
    returned in the wrong order is caught.
    """
    return [loop_size + k for k in range(CPU_ITEMS)]


# --------------------------------------------------------------------------- child side


def run_parmap(
    fn: Callable[[int], int], items: list[int], kind: Kind, workers: int
) -> list[int | None]:
    """Run ``fn`` over ``items`` with parmap and return the results in input order."""
    from parmap import parmap  # noqa: PLC0415 - imported by `measure` before the clock starts

    summary = parmap(fn, items, kind=kind, workers=workers)
    if not summary.ok or summary.total != len(items):
        msg = f"parmap did not run every item successfully:\n{summary}\n{summary.errors!r}"
        raise _harness.BenchmarkError(msg)
    return list(summary.results)


def measure(tool: str, workload: str, loop_size: int) -> float:
    """Run one contestant once in this interpreter; return its wall time in seconds.

    The clock covers pool creation, all the work and pool shut-down. Raises
    ``_harness.BenchmarkError`` if any result differs from the expected one.
    """
    workers = _harness.usable_cpus()
    if workload == "wait":
        fn: Callable[[int], int] = _workloads.wait
        items = wait_items()
        expected = items
    else:
        fn = _workloads.spin
        items = cpu_items(loop_size)
        expected = [_workloads.spin_expected(n) for n in items]

    if tool == "parmap":
        # Imports are outside the clock for every contestant: the peers' modules are
        # imported at the top of this script, parmap's here.
        from parmap import parmap  # noqa: F401, PLC0415 - the name loads the package lazily

    results: list[int | None]  # parmap leaves None in a failed item's slot
    start = time.perf_counter()
    if tool == "serial":
        results = [fn(item) for item in items]
    elif tool == "parmap":
        kind: Kind = "io" if workload == "wait" else "cpu"
        results = run_parmap(fn, items, kind, WAIT_WORKERS if workload == "wait" else workers)
    elif tool == "threads":
        with ThreadPoolExecutor(WAIT_WORKERS) as pool:
            results = list(pool.map(fn, items))
    elif tool in {"ppe-default", "ppe-forkserver"}:
        context = multiprocessing.get_context("forkserver") if tool == "ppe-forkserver" else None
        with ProcessPoolExecutor(workers, mp_context=context) as pool:
            results = list(pool.map(fn, items, chunksize=cpu_chunksize(workers)))
    else:
        msg = f"unknown contestant {tool!r}"
        raise _harness.BenchmarkError(msg)
    elapsed = time.perf_counter() - start

    if results != expected:
        wrong = sum(1 for got, want in zip(results, expected, strict=False) if got != want)
        compared = min(len(results), len(expected))
        msg = (
            f"{tool}/{workload}: wrong results ({len(results)} returned, "
            f"{len(expected)} expected, {wrong} of the first {compared} differ)"
        )
        raise _harness.BenchmarkError(msg)
    return elapsed


# -------------------------------------------------------------------------- parent side


def run_child(tool: str, workload: str, loop_size: int) -> float:
    """Measure one contestant in a fresh interpreter and return its wall time in seconds."""
    args = ["--one", tool, workload, "--loop-size", str(loop_size)]
    return float(_harness.run_fresh(__file__, args, what=f"{tool}/{workload}")["seconds"])


def analyse(
    raw: dict[str, dict[str, list[float]]], workers: int, *, with_parmap: bool
) -> dict[str, Any]:
    """Turn raw times into medians, ideals and ratios, per workload."""
    out: dict[str, Any] = {}
    for workload, by_tool in raw.items():
        stats = {tool: _harness.summarize(times) for tool, times in by_tool.items()}
        if workload == "wait":
            ideal = WAIT_ITEMS * _workloads.WAIT_SECONDS / WAIT_WORKERS
            ideal_note = f"{WAIT_ITEMS} x {_workloads.WAIT_SECONDS} s / {WAIT_WORKERS} workers"
        else:
            ideal = stats["serial"]["median"] / workers
            ideal_note = f"median serial time / {workers} workers"
        vs_ideal = {tool: s["median"] / ideal for tool, s in stats.items()}
        parmap_vs = (
            {peer: _harness.versus(by_tool["parmap"], by_tool[peer]) for peer in PEERS[workload]}
            if with_parmap
            else {}
        )
        out[workload] = {
            "ideal_seconds": ideal,
            "ideal": ideal_note,
            "stats": stats,
            "vs_ideal": vs_ideal,
            "parmap_vs_peer": parmap_vs,
        }
    return out


def markdown_table(analysis: dict[str, Any], workers: int) -> str:
    """Render the analysis as a Markdown table (one row per contestant)."""
    rows = [
        "| Workload | Contestant | Median (s) | Min\u2013max (s) | \u00d7 ideal | parmap / this |",
        "|---|---|--:|--:|--:|--:|",
    ]
    for workload, result in analysis.items():
        ideal = result["ideal_seconds"]
        rows.append(f"| {workload} | *ideal* ({result['ideal']}) | {ideal:.3f} | | 1.00 | |")
        for tool, stats in result["stats"].items():
            label = LABELS.get(f"{tool}:{workload}", LABELS.get(tool, tool))
            ratio = result["parmap_vs_peer"].get(tool)
            ratio_cell = f"{ratio['ratio_of_medians']:.2f}" if ratio else ""
            rows.append(
                f"| {workload} | {label} | {stats['median']:.3f} "
                f"| {stats['min']:.3f}\u2013{stats['max']:.3f} "
                f"| {result['vs_ideal'][tool]:.2f} | {ratio_cell} |"
            )
    rows.append("")
    rows.append(
        f"W = {workers} usable CPUs. Times are wall seconds per full run, measured inside a "
        "fresh interpreter, pool start-up and shut-down included. "
        '"parmap / this" is the ratio of medians (below 1 means parmap is faster).'
    )
    return "\n".join(rows)


def run_benchmark(repeats: int, *, with_parmap: bool) -> dict[str, Any]:
    """Run every contestant ``repeats`` times, interleaved, and return the full report."""
    workers = _harness.usable_cpus()
    loop_size = _workloads.calibrate_spin(CPU_ITEM_SECONDS)
    contestants = {
        workload: [t for t in tools if with_parmap or t != "parmap"]
        for workload, tools in CONTESTANTS.items()
    }
    print(
        f"{repeats} interleaved repeats, W = {workers}, cpu loop size = {loop_size} "
        f"(about {CPU_ITEM_SECONDS * 1000:.0f} ms per item)",
        file=sys.stderr,
    )
    rounds = _harness.interleave(
        contestants,
        repeats,
        lambda workload, tool: run_child(tool, workload, loop_size),
        lambda seconds: f"{seconds:7.3f} s",
    )
    return {
        **_harness.report_head("core", rounds),
        "environment": {
            **_harness.machine(),
            "default_start_method": multiprocessing.get_start_method(),
            "loadavg_before": rounds.loadavg_before,
            "loadavg_after": rounds.loadavg_after,
            **_harness.provenance(),
        },
        "workloads": {
            "wait": {
                "items": WAIT_ITEMS,
                "seconds_per_item": _workloads.WAIT_SECONDS,
                "workers": WAIT_WORKERS,
            },
            "cpu": {
                "items": CPU_ITEMS,
                "loop_size": loop_size,
                "target_seconds_per_item": CPU_ITEM_SECONDS,
                "workers": workers,
                "ppe_chunksize": cpu_chunksize(workers),
            },
        },
        "raw_seconds": rounds.raw,
        "results": analyse(rounds.raw, workers, with_parmap=with_parmap),
    }


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse the command line."""
    parser = _harness.repeat_parser(__doc__, default=DEFAULT_REPEATS, quick=QUICK_REPEATS)
    parser.add_argument(
        "--no-parmap",
        action="store_true",
        help="measure only the standard-library peers (when parmap is not installed)",
    )
    parser.add_argument("--one", nargs=2, metavar=("TOOL", "WORKLOAD"), help=argparse.SUPPRESS)
    parser.add_argument("--loop-size", type=int, default=0, help=argparse.SUPPRESS)
    return _harness.parse_repeats(parser, argv, default=DEFAULT_REPEATS, quick=QUICK_REPEATS)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark (or, with ``--one``, a single measurement in this interpreter)."""
    args = parse_args(argv)
    if args.one:
        tool, workload = args.one
        if workload not in CONTESTANTS or tool not in CONTESTANTS[workload]:
            msg = f"no contestant {tool!r} for workload {workload!r}"
            raise _harness.BenchmarkError(msg)
        seconds = measure(tool, workload, args.loop_size)
        print(json.dumps({"tool": tool, "workload": workload, "seconds": seconds}))
        return 0

    with_parmap = not args.no_parmap
    if with_parmap and _harness.parmap_version() is None:
        print("parmap is not installed: pip install -e . (or pass --no-parmap)", file=sys.stderr)
        return 2
    report = run_benchmark(args.repeats, with_parmap=with_parmap)
    table = markdown_table(report["results"], report["environment"]["usable_cpus"])
    _harness.publish("core", report, table, quick_repeats=QUICK_REPEATS)
    return 0


if __name__ == "__main__":
    sys.exit(main())
