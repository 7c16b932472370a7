"""Benchmark parmap on a long stream of tiny items: time, and peak memory of the process tree.

The workload: a generator of 2,000,000 integers, ``(i for i in range(2_000_000))``,
each squared (``_workloads.square``), the results dropped. Per item there is next
to no work, so what is measured is each tool's per-item overhead and whether it
reads the stream lazily (bounded memory) or not. Two groups of contestants, each
with the standard-library peer it is compared with:

* threads: ``parmap(kind="io", keep_results=False)`` with the default workers and
  with ``workers=2``, ``imap(kind="io", ordered=False)`` consumed, and the peer
  ``multiprocessing.pool.ThreadPool().imap(chunksize=1000)`` consumed.
* processes: ``parmap(kind="cpu", keep_results=False)``, ``imap(kind="cpu",
  ordered=False)`` consumed, and the peer ``multiprocessing.get_context(
  "forkserver").Pool().imap(chunksize=1000)`` consumed (parmap also starts its
  workers from a fork server, so this is the fair peer).

Every measurement runs in a fresh interpreter (this script re-run with the hidden
``--one TOOL`` option). The clock starts just before the call (or the pool's
creation) and stops after every item is processed and every worker has exited:
pool start-up and shut-down are included, interpreter start-up and imports are not.
Meanwhile a daemon thread of the benchmark's own process sums the RSS of the
measured process and all its descendants (fork servers and workers included)
every ~10 ms; the report gives the peak of that sum minus the baseline taken just
before the call (the child waits for it), and the absolute peak. The sampler runs
outside the measured process because in it, it would compete for the GIL with
the contestant's threads and get only a few samples a second. The measured
process also reports its own exact peak RSS (``VmHWM``, reset just before the
call) in the JSON, a check on what sampling every 10 ms may miss.
Each contestant must account for exactly 2,000,000 items, or the run fails loudly.
Repeats are interleaved (every contestant once, then again, R times) so that noise
on a shared machine hits all contestants alike.

Run from the repository root, with parmap and psutil installed
(``pip install -e '.[bench]'``)::

    python benchmarks/bench_stream.py            # 5 repeats
    python benchmarks/bench_stream.py --quick    # 2 repeats
    python benchmarks/bench_stream.py --repeats 9

It prints a Markdown table and writes ``benchmarks/results/stream.json`` (raw
times and memory, medians, ratios, environment) and ``benchmarks/results/stream.md``.

Every function that runs the contestants is only called from under the
``if __name__ == "__main__":`` guard: the forkserver ``Pool`` imports this script
again in its fork server (as ``__mp_main__``), where nothing may run.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import multiprocessing.pool
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
    from collections.abc import Iterator, Sequence

    from parmap import Summary

ITEMS: Final = 2_000_000
PEER_CHUNKSIZE: Final = 1000
DEFAULT_REPEATS: Final = 5
QUICK_REPEATS: Final = 2
MB: Final = 1_000_000

TARGET_RATIO: Final = 1.0
TARGET_PEAK_MB: Final = 100.0

CONTESTANTS: Final[dict[str, tuple[str, ...]]] = {
    "threads": ("parmap-io", "parmap-io-w2", "imap-io", "threadpool"),
    "processes": ("parmap-cpu", "imap-cpu", "pool-forkserver"),
}
"""Contestants per group, in table order."""

PEERS: Final[dict[str, str]] = {"threads": "threadpool", "processes": "pool-forkserver"}
"""The standard-library tool each group is compared with."""

PARMAP_TOOLS: Final = ("parmap-io", "parmap-io-w2", "imap-io", "parmap-cpu", "imap-cpu")

LABELS: Final[dict[str, str]] = {
    "parmap-io": 'parmap(kind="io", keep_results=False)',
    "parmap-io-w2": 'parmap(kind="io", workers=2, keep_results=False)',
    "imap-io": 'imap(kind="io", ordered=False), consumed',
    "threadpool": f"ThreadPool().imap(chunksize={PEER_CHUNKSIZE}), consumed",
    "parmap-cpu": 'parmap(kind="cpu", keep_results=False)',
    "imap-cpu": 'imap(kind="cpu", ordered=False), consumed',
    "pool-forkserver": f'"forkserver" Pool().imap(chunksize={PEER_CHUNKSIZE}), consumed',
}


def stream() -> Iterator[int]:
    """Return the workload's input: a generator of ``ITEMS`` integers, made lazily."""
    return (i for i in range(ITEMS))


# --------------------------------------------------------------------------- child side


def checked_total(summary: Summary[int, int]) -> int:
    """Return how many items a parmap run accounted for, after checking it kept no results."""
    if summary.failed or summary.succeeded != summary.total or summary.results:
        msg = (
            f"parmap run not clean: {summary.failed} failed, {summary.succeeded} succeeded, "
            f"{summary.total} total, {len(summary.results)} results kept\n{summary}"
        )
        raise _harness.BenchmarkError(msg)
    return summary.total


def run_contestant(tool: str) -> int:
    """Run one contestant over the whole stream; return how many items it processed."""
    from parmap import imap, parmap  # noqa: PLC0415 - imported by `measure` before the clock

    square = _workloads.square
    if tool == "parmap-io":
        return checked_total(parmap(square, stream(), kind="io", keep_results=False))
    if tool == "parmap-io-w2":
        return checked_total(parmap(square, stream(), kind="io", workers=2, keep_results=False))
    if tool == "imap-io":
        return sum(1 for _ in imap(square, stream(), kind="io", ordered=False))
    if tool == "parmap-cpu":
        return checked_total(parmap(square, stream(), kind="cpu", keep_results=False))
    if tool == "imap-cpu":
        return sum(1 for _ in imap(square, stream(), kind="cpu", ordered=False))
    pool: multiprocessing.pool.Pool
    if tool == "threadpool":
        pool = multiprocessing.pool.ThreadPool()
    elif tool == "pool-forkserver":
        pool = multiprocessing.get_context("forkserver").Pool()
    else:
        msg = f"unknown contestant {tool!r}"
        raise _harness.BenchmarkError(msg)
    with pool:  # terminate()s the pool if anything goes wrong
        count = sum(1 for _ in pool.imap(square, stream(), chunksize=PEER_CHUNKSIZE))
        pool.close()
        pool.join()  # every worker has exited, as after parmap's own shut-down
    return count


def measure(tool: str) -> dict[str, Any]:
    """Run one contestant once in this interpreter; return its wall time and more.

    Before starting the clock it prints ``READY`` and waits for ``GO`` on stdin, so
    that the parent can take the baseline of the process tree's RSS and start
    sampling it; the record is printed as soon as the call returns. This process's
    own RSS high-water mark is reset just before the call and read just after,
    an exact (not sampled) peak for this one process. Raises ``_harness.BenchmarkError``
    unless the contestant processed exactly ``ITEMS`` items.
    """
    # Imports are outside the clock for every contestant: multiprocessing's at the top
    # of this script, parmap's here.
    from parmap import parmap  # noqa: F401, PLC0415 - the name loads the package lazily

    hwm_reset = _harness.reset_peak_rss()
    own_before = _harness.status_bytes("VmRSS")
    _harness.await_go(tool)
    start = time.perf_counter()
    count = run_contestant(tool)
    elapsed = time.perf_counter() - start
    own_peak = _harness.status_bytes("VmHWM") if hwm_reset else None
    if count != ITEMS:
        msg = f"{tool}: processed {count} items, expected {ITEMS}"
        raise _harness.BenchmarkError(msg)
    return {
        "tool": tool,
        "seconds": elapsed,
        "items": count,
        "main_rss_before_bytes": own_before,
        "main_rss_peak_bytes": own_peak,
    }


# -------------------------------------------------------------------------- parent side


def run_child(tool: str) -> dict[str, Any]:
    """Measure one contestant in a fresh interpreter, sampling its tree's RSS; return its record."""
    return _harness.run_fresh_sampled(__file__, ["--one", tool], what=tool)


def analyse(raw: dict[str, dict[str, list[dict[str, Any]]]]) -> dict[str, Any]:
    """Turn raw records into medians, ranges, memory figures and ratios to the peer, per group."""
    out: dict[str, Any] = {}
    for group, by_tool in raw.items():
        peer = PEERS[group]
        peer_times = [r["seconds"] for r in by_tool[peer]]
        tools: dict[str, Any] = {}
        for tool, records in by_tool.items():
            times = [r["seconds"] for r in records]
            growth = [(r["rss_peak_bytes"] - r["rss_baseline_bytes"]) / MB for r in records]
            peak = [r["rss_peak_bytes"] / MB for r in records]
            main = [
                (r["main_rss_peak_bytes"] - r["main_rss_before_bytes"]) / MB
                for r in records
                if r["main_rss_peak_bytes"] is not None and r["main_rss_before_bytes"] is not None
            ]
            tools[tool] = {
                "seconds": _harness.summarize(times),
                "rss_growth_mb": _harness.summarize(growth),
                "rss_peak_mb": _harness.summarize(peak),
                "main_process_exact_growth_mb": _harness.summarize(main) if main else None,
                "vs_peer": _harness.versus(times, peer_times),
            }
        out[group] = {"peer": peer, "tools": tools}
    return out


def targets(analysis: dict[str, Any]) -> dict[str, Any]:
    """Check each parmap contestant against the issue's targets: time ≤ 1.0× peer, RSS < 100 MB.

    Memory is judged on the worst repeat, both the growth over the baseline
    and the absolute peak of the whole tree.
    """
    verdicts: dict[str, Any] = {}
    for result in analysis.values():
        for tool, stats in result["tools"].items():
            if tool not in PARMAP_TOOLS:
                continue
            ratio = stats["vs_peer"]["ratio_of_medians"]
            verdicts[tool] = {
                "time_ratio": ratio,
                "time_ok": ratio <= TARGET_RATIO,
                "growth_ok": stats["rss_growth_mb"]["max"] < TARGET_PEAK_MB,
                "peak_ok": stats["rss_peak_mb"]["max"] < TARGET_PEAK_MB,
            }
    return verdicts


def markdown_table(analysis: dict[str, Any], verdicts: dict[str, Any], env: dict[str, Any]) -> str:
    """Render the analysis as a Markdown table (one row per contestant), then the targets."""
    rows = [
        (
            "| Group | Contestant | Median (s) | Min\u2013max (s) | \u00d7 peer "
            "| Tree RSS growth, median (max) (MB) | Tree RSS peak, median (max) (MB) |"
        ),
        "|---|---|--:|--:|--:|--:|--:|",
    ]
    for group, result in analysis.items():
        for tool, stats in result["tools"].items():
            label = LABELS[tool] + (" *(peer)*" if tool == result["peer"] else "")
            secs, growth, peak = stats["seconds"], stats["rss_growth_mb"], stats["rss_peak_mb"]
            rows.append(
                f"| {group} | {label} | {secs['median']:.3f} "
                f"| {secs['min']:.3f}\u2013{secs['max']:.3f} "
                f"| {stats['vs_peer']['ratio_of_medians']:.2f} "
                f"| {growth['median']:.1f} ({growth['max']:.1f}) "
                f"| {peak['median']:.1f} ({peak['max']:.1f}) |"
            )
    rows.append("")
    rows.append(
        f"{ITEMS:,} items from a generator, fn = x * x, results dropped. Times are wall "
        "seconds per full run in a fresh interpreter, pool start-up and shut-down included; "
        '"\u00d7 peer" is the ratio of medians to the standard-library peer of the group '
        "(below 1 means faster). Tree RSS is the summed RSS of the process and all its "
        f"descendants, sampled every {_harness.SAMPLE_SECONDS * 1000:.0f} ms; growth is over the "
        "baseline taken just before the call; a page shared by several processes counts "
        "in each of them. "
        f"Default workers here: parmap io {env['parmap_io_workers']}, parmap cpu "
        f"{env['parmap_cpu_workers']}, ThreadPool() and Pool() {env['cpu_count']}."
    )
    rows.append("")
    met = [t for t, v in verdicts.items() if v["time_ok"] and v["growth_ok"] and v["peak_ok"]]
    missed = [
        f"{t} ("
        + ", ".join(
            part
            for part, bad in (
                (f"{v['time_ratio']:.3f}\u00d7 peer", not v["time_ok"]),
                ("RSS growth", not v["growth_ok"]),
                ("RSS peak", not v["peak_ok"]),
            )
            if bad
        )
        + ")"
        for t, v in verdicts.items()
        if t not in met
    ]
    rows.append(
        f"Targets: time \u2264 {TARGET_RATIO:.1f}\u00d7 the peer, tree RSS (growth and absolute "
        f"peak, worst repeat) under {TARGET_PEAK_MB:.0f} MB. "
        f"Met: {', '.join(met) or 'none'}. Missed: {'; '.join(missed) or 'none'}."
    )
    return "\n".join(rows)


def environment() -> dict[str, Any]:
    """Return the machine and software the benchmark runs on."""
    from parmap._run.cpus import default_workers  # noqa: PLC0415 - only the parent needs it

    return {
        **_harness.machine(),
        "parmap_io_workers": default_workers("io"),
        "parmap_cpu_workers": default_workers("cpu"),
        **_harness.provenance(),
    }


def describe(record: dict[str, Any]) -> str:
    """Return what one measurement found, for its progress line: time, tree RSS growth and peak."""
    growth = (record["rss_peak_bytes"] - record["rss_baseline_bytes"]) / MB
    return (
        f"{record['seconds']:7.3f} s "
        f"{growth:7.1f} MB growth {record['rss_peak_bytes'] / MB:7.1f} MB peak"
    )


def run_benchmark(repeats: int) -> dict[str, Any]:
    """Run every contestant ``repeats`` times, interleaved, and return the full report."""
    print(f"{repeats} interleaved repeats, {ITEMS:,} items", file=sys.stderr)
    env = environment()
    rounds = _harness.interleave(
        CONTESTANTS, repeats, lambda _group, tool: run_child(tool), describe
    )
    env["loadavg_before"] = rounds.loadavg_before
    env["loadavg_after"] = rounds.loadavg_after
    analysis = analyse(rounds.raw)
    return {
        **_harness.report_head("stream", rounds),
        "environment": env,
        "workload": {
            "items": ITEMS,
            "input": "(i for i in range(ITEMS))",
            "fn": "_workloads.square",
            "peer_chunksize": PEER_CHUNKSIZE,
            "sample_seconds": _harness.SAMPLE_SECONDS,
            "rescan_every_samples": _harness.RESCAN_EVERY,
        },
        "targets": {"time_ratio_max": TARGET_RATIO, "tree_rss_mb_max": TARGET_PEAK_MB},
        "raw": rounds.raw,
        "results": analysis,
        "verdicts": targets(analysis),
    }


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse the command line."""
    parser = _harness.repeat_parser(__doc__, default=DEFAULT_REPEATS, quick=QUICK_REPEATS)
    parser.add_argument("--one", metavar="TOOL", help=argparse.SUPPRESS)
    return _harness.parse_repeats(parser, argv, default=DEFAULT_REPEATS, quick=QUICK_REPEATS)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark (or, with ``--one``, a single measurement in this interpreter)."""
    args = parse_args(argv)
    if args.one:
        if args.one not in LABELS:
            msg = f"no contestant {args.one!r}"
            raise _harness.BenchmarkError(msg)
        print(json.dumps(measure(args.one)))
        return 0
    if _harness.parmap_version() is None:
        print("parmap is not installed: pip install -e '.[bench]'", file=sys.stderr)
        return 2
    report = run_benchmark(args.repeats)
    table = markdown_table(report["results"], report["verdicts"], report["environment"])
    _harness.publish("stream", report, table, quick_repeats=QUICK_REPEATS)
    return 0


if __name__ == "__main__":
    sys.exit(main())
