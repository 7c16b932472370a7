"""Benchmark parmap on a Dask cluster against Dask's own ``client.map`` + ``client.gather``.

One workload: 400 items of about 5 ms of pure-Python CPU work each (the loop of
``bench_core.py``, calibrated once per run on this machine), on a
``distributed.LocalCluster`` of 2 worker processes with 1 thread each. Ideal wall
time is 400 × the calibrated item time / 2 workers. Contestants:

* ``parmap(fn, items, executor=client)``: batches sized by ``batch_size="auto"``
  (~100 ms of work per Dask task), input read through parmap's bounded window;
* ``client.map(fn, items, pure=False)`` then ``client.gather``: one Dask task
  per item, every item submitted at once (Dask's own way, and the peer);
* ``parmap(..., batch_size=1)``: one task per item through parmap, to show what
  batching buys.

All contestants run in this one process against the one cluster, started once
and warmed up (every contestant runs once, untimed) before the clock starts.
Each measurement times from the call to the last result in hand, checked
against the expected list. Repeats are interleaved, the order rotating each
round, so that noise on a shared machine hits all contestants alike; the ratios
within one run are what count, not absolute times.

Run from the repository root, with ``pip install -e ".[dask]"``::

    python benchmarks/bench_dask.py            # 7 repeats, about a minute on 2 cores
    python benchmarks/bench_dask.py --quick    # 3 repeats

It prints a Markdown table and writes ``benchmarks/results/dask.json`` and
``benchmarks/results/dask.md``.
"""

from __future__ import annotations

import importlib.metadata
import statistics
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

HERE: Final = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import _harness  # noqa: E402  (these two need HERE on sys.path first)
import _workloads  # noqa: E402

if TYPE_CHECKING:
    from collections.abc import Sequence

    from distributed import Client

ITEMS: Final = 400
ITEM_SECONDS: Final = 0.005
WORKERS: Final = 2
DEFAULT_REPEATS: Final = 7
QUICK_REPEATS: Final = 3

CONTESTANTS: Final[dict[str, tuple[str, ...]]] = {
    "cpu": ("parmap", "client.map", "parmap-batch1"),
}
PEER: Final = "client.map"
LABELS: Final[dict[str, str]] = {
    "parmap": "parmap(fn, items, executor=client)",
    "client.map": "client.gather(client.map(fn, items, pure=False))",
    "parmap-batch1": "parmap(fn, items, executor=client, batch_size=1)",
}


def calibrate(target_seconds: float = ITEM_SECONDS) -> tuple[int, float]:
    """Return a loop size for which ``_workloads.spin`` takes about ``target_seconds``.

    Also returns the measured seconds per item at that size (for the ideal time).
    """
    probe = 100_000
    _workloads.spin(probe)  # warm up
    typical = statistics.median(_timed(probe) for _ in range(25))
    loop_size = max(1000, round(probe * target_seconds / typical))
    return loop_size, statistics.median(_timed(loop_size) for _ in range(25))


def _timed(loop_size: int) -> float:
    start = time.perf_counter()
    _workloads.spin(loop_size)
    return time.perf_counter() - start


def measure(client: Client, tool: str, items: list[int], expected: list[int]) -> float:
    """Run one contestant once on the cluster; return its wall time in seconds."""
    from parmap import parmap  # noqa: PLC0415 - imported (and warmed up) before any clock

    start = time.perf_counter()
    if tool == "client.map":
        futures = client.map(_workloads.spin, items, pure=False)
        results: list[Any] = client.gather(futures)  # type: ignore[no-untyped-call]
    else:
        batch_size: Any = 1 if tool == "parmap-batch1" else "auto"
        summary = parmap(_workloads.spin, items, executor=client, batch_size=batch_size)
        results = list(summary.results)
    elapsed = time.perf_counter() - start
    if results != expected:
        msg = f"{tool}: wrong results"
        raise _harness.BenchmarkError(msg)
    return elapsed


def markdown_table(analysis: dict[str, Any], ideal: float, per_item: float) -> str:
    """Render the analysis as a Markdown table (one row per contestant)."""
    rows = [
        "| Contestant | Median (s) | Min\u2013max (s) | \u00d7 ideal | this / client.map |",
        "|---|--:|--:|--:|--:|",
        (
            f"| *ideal* ({ITEMS} x {per_item * 1000:.2f} ms / {WORKERS} workers) "
            f"| {ideal:.3f} | | 1.00 | |"
        ),
    ]
    for tool, stats in analysis["stats"].items():
        ratio = analysis["vs_peer"].get(tool)
        rows.append(
            f"| {LABELS[tool]} | {stats['median']:.3f} "
            f"| {stats['min']:.3f}\u2013{stats['max']:.3f} "
            f"| {stats['median'] / ideal:.2f} | {ratio['ratio_of_medians']:.2f} |"
        )
    rows.append("")
    rows.append(
        f"A LocalCluster of {WORKERS} worker processes × 1 thread, started once; times are "
        "wall seconds from the call to the last result, every contestant warmed up first. "
        '"this / client.map" is the ratio of medians (below 1 means faster than Dask\'s own '
        "client.map)."
    )
    return "\n".join(rows)


def run_benchmark(repeats: int) -> dict[str, Any]:
    """Start the cluster, run every contestant `repeats` times interleaved, return the report."""
    from distributed import Client, LocalCluster  # noqa: PLC0415 - the dask extra

    loop_size, per_item = calibrate()
    items = [loop_size + k for k in range(ITEMS)]
    expected = [_workloads.spin_expected(n) for n in items]
    ideal = ITEMS * per_item / WORKERS
    print(
        f"{repeats} interleaved repeats, loop size {loop_size} ({per_item * 1000:.2f} ms per item)",
        file=sys.stderr,
    )
    with (
        LocalCluster(  # type: ignore[no-untyped-call]
            n_workers=WORKERS, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,  # type: ignore[no-untyped-call]
    ):
        for tool in CONTESTANTS["cpu"]:  # warm up: imports and fn on every worker
            measure(client, tool, items[:40], expected[:40])
        rounds = _harness.interleave(
            CONTESTANTS,
            repeats,
            lambda _group, tool: measure(client, tool, items, expected),
            lambda seconds: f"{seconds:7.3f} s",
        )
    times = rounds.raw["cpu"]
    analysis = {
        "stats": {tool: _harness.summarize(values) for tool, values in times.items()},
        "vs_peer": {tool: _harness.versus(values, times[PEER]) for tool, values in times.items()},
    }
    return {
        **_harness.report_head("dask", rounds),
        "environment": {
            **_harness.machine(),
            "loadavg_before": rounds.loadavg_before,
            "loadavg_after": rounds.loadavg_after,
            "distributed_version": importlib.metadata.version("distributed"),
            **_harness.provenance(),
        },
        "workload": {
            "items": ITEMS,
            "loop_size": loop_size,
            "seconds_per_item": per_item,
            "workers": WORKERS,
            "threads_per_worker": 1,
            "ideal_seconds": ideal,
        },
        "raw_seconds": rounds.raw,
        "results": analysis,
        "table": markdown_table(analysis, ideal, per_item),
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and publish its results."""
    parser = _harness.repeat_parser(__doc__, default=DEFAULT_REPEATS, quick=QUICK_REPEATS)
    args = _harness.parse_repeats(parser, argv, default=DEFAULT_REPEATS, quick=QUICK_REPEATS)
    report = run_benchmark(args.repeats)
    _harness.publish("dask", report, report["table"], quick_repeats=QUICK_REPEATS)
    return 0


if __name__ == "__main__":
    sys.exit(main())
