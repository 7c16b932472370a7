"""Benchmark what parmap's checkpoint journal (``checkpoint=PATH``) costs a run.

The target, from the issue: writes are batched so that the journal costs under 5 %
on a run of 10,000 items of 1 ms. Two workloads of 10,000 items each:

* ``wait``: each item ``time.sleep(0.001)`` (``_workloads.nap``), its result the
  item (a small int), on threads: ``parmap(kind="io")`` with the default workers.
* ``cpu``: each item about 1 ms of pure-Python CPU work (``_workloads.spin_then``:
  a loop whose size is calibrated once per run on this machine, on the fastest of
  25 probes, the same for every item, bound with ``functools.partial``), its result
  the item, on processes: ``parmap(kind="cpu", workers=W)``, W = the number of
  usable CPUs.

The items are the distinct integers 0 to 9,999: each is one row of the journal.
Three contestants per workload:

* ``parmap``: no checkpoint, the reference (ratio 1.00).
* ``parmap+journal``: ``checkpoint=`` a new file in a new temporary directory; every
  finished item is written to the journal (its identity digest, ok flag, pickled
  result and HMAC), committed at least every 0.5 s.
* ``parmap+rerun``, for information: the same call on a journal that an earlier run
  (in another fresh interpreter, before the clock) completed, so every item is
  restored from it and skipped.

Every measurement runs in a fresh interpreter (this script re-run with the hidden
``--one TOOL WORKLOAD`` option). The journal's key lives in
``$XDG_CONFIG_HOME/parmap/journal.key``: the child points ``XDG_CONFIG_HOME`` to its
temporary directory (every contestant does, the same way) and makes the key before
the clock starts. The clock covers the ``parmap`` call only: opening and checking
the journal, pool start-up, all the work, the last commit and pool shut-down are
in; interpreter start-up, imports, the key and the temporary directory are not.
The child then checks that all the work was done: ``summary.total`` is 10,000,
every result is right (restored ones too), the journal holds 10,000 finished items,
and on the rerun ``summary.skipped`` is 10,000; it fails loudly otherwise. Repeats
are interleaved (every contestant once, then again, R times, the order rotating)
so that noise on a shared machine hits them all alike; the ratios of one run are
what count, not the absolute times. The check against the target gives the ratio
of the medians and how many rounds were under it by their paired ratio.

Run from the repository root, with parmap installed::

    python benchmarks/bench_journal.py            # 7 repeats, 2 to 5 minutes on 2 cores
    python benchmarks/bench_journal.py --quick    # 3 repeats
    python benchmarks/bench_journal.py --repeats 11

It prints a Markdown table and the check against the target, and writes
``benchmarks/results/journal.json`` (raw times, medians, ratios, environment) and
``benchmarks/results/journal.md`` (the table).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

HERE: Final = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import _harness  # noqa: E402  (these two need HERE on sys.path first)
import _workloads  # noqa: E402

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from parmap import Kind, Summary

ITEMS: Final = 10_000
ITEM_SECONDS: Final = 0.001
DEFAULT_REPEATS: Final = 7
QUICK_REPEATS: Final = 3
TARGET_RATIO: Final = 1.05
"""The journal must cost under 5 %: parmap+journal / parmap below this."""

PLAIN: Final = "parmap"
JOURNAL: Final = "parmap+journal"
RERUN: Final = "parmap+rerun"
CONTESTANTS: Final[dict[str, tuple[str, ...]]] = {
    "wait": (PLAIN, JOURNAL, RERUN),
    "cpu": (PLAIN, JOURNAL, RERUN),
}
"""Contestants per workload, in table order."""

LABELS: Final[dict[str, str]] = {
    f"{PLAIN}:wait": 'parmap(kind="io")',
    f"{JOURNAL}:wait": 'parmap(kind="io", checkpoint=new file)',
    f"{RERUN}:wait": 'parmap(kind="io", checkpoint=complete journal), all skipped',
    f"{PLAIN}:cpu": 'parmap(kind="cpu", workers=W)',
    f"{JOURNAL}:cpu": 'parmap(kind="cpu", workers=W, checkpoint=new file)',
    f"{RERUN}:cpu": 'parmap(kind="cpu", workers=W, checkpoint=complete journal), all skipped',
}

JOURNAL_FILE: Final = "journal.sqlite"
CONFIG_DIR: Final = "config"


# --------------------------------------------------------------------------- child side


def workload(name: str, loop_size: int) -> tuple[Callable[[int], int], Kind, int | None]:
    """Return the function, kind and workers (None: parmap's default) of workload ``name``."""
    if name == "wait":
        return _workloads.nap, "io", None
    return functools.partial(_workloads.spin_then, loop_size), "cpu", _harness.usable_cpus()


def items() -> list[int]:
    """Return the items of both workloads, which are also the expected results."""
    return list(range(ITEMS))


def use_folder(folder: Path) -> Path:
    """Keep the journal key under ``folder`` and make it now; return the journal's path.

    The key is made here, before any clock starts, and read again by parmap.
    """
    os.environ["XDG_CONFIG_HOME"] = str(folder / CONFIG_DIR)
    from parmap._journal.trust import secret_key  # noqa: PLC0415 - after XDG_CONFIG_HOME is set

    secret_key()
    return folder / JOURNAL_FILE


def journal_rows(path: Path) -> int:
    """Return how many items the journal at ``path`` holds as finished successfully."""
    connection = sqlite3.connect(path)
    try:
        count: int = connection.execute("SELECT count(*) FROM items WHERE ok = 1").fetchone()[0]
    finally:
        connection.close()
    return count


def check(what: str, summary: Summary[int, int], *, skipped: int) -> None:
    """Check that a run did all the work, with ``skipped`` items restored from the journal.

    Raises ``_harness.BenchmarkError`` otherwise.
    """
    expected = items()
    results = list(summary.results)
    if (
        not summary.ok
        or summary.total != ITEMS
        or summary.skipped != skipped
        or results != expected
    ):
        wrong = sum(1 for got, want in zip(results, expected, strict=False) if got != want)
        msg = (
            f"{what}: not all the work was done: total {summary.total} (want {ITEMS}), "
            f"skipped {summary.skipped} (want {skipped}), {len(results)} results of which "
            f"{wrong} are wrong\n{summary}\n{summary.errors!r}"
        )
        raise _harness.BenchmarkError(msg)


def fill(name: str, loop_size: int, folder: Path) -> int:
    """Complete a journal in ``folder`` for workload ``name``; return its finished rows.

    Run in a fresh interpreter of its own (``--fill``) before a rerun is measured,
    so that the measured interpreter has run nothing before its clock starts.
    """
    from parmap import parmap  # noqa: PLC0415 - as in `measure`

    path = use_folder(folder)
    fn, kind, workers = workload(name, loop_size)
    summary = parmap(fn, items(), kind=kind, workers=workers, checkpoint=path)
    check(f"{name} journal fill", summary, skipped=0)
    return journal_rows(path)


def measure(tool: str, name: str, loop_size: int) -> dict[str, Any]:
    """Run one contestant once in this interpreter; return its wall time and what it did.

    The clock covers the ``parmap`` call only. Raises ``_harness.BenchmarkError``
    if the run, or its journal, is not complete and correct.
    """
    # Imports are outside the clock: parmap (and with it the journal's sqlite3) here.
    from parmap import parmap  # noqa: PLC0415

    fn, kind, workers = workload(name, loop_size)
    work = items()
    with tempfile.TemporaryDirectory(prefix="parmap-bench-journal-") as tmp:
        folder = Path(tmp)
        path = use_folder(folder)
        if tool == RERUN:
            args = ["--fill", name, "--loop-size", str(loop_size), "--dir", str(folder)]
            _harness.run_fresh(__file__, args, what=f"{name} journal fill")
        checkpoint = None if tool == PLAIN else path

        start = time.perf_counter()
        summary = parmap(fn, work, kind=kind, workers=workers, checkpoint=checkpoint)
        elapsed = time.perf_counter() - start

        check(f"{tool}/{name}", summary, skipped=ITEMS if tool == RERUN else 0)
        rows = journal_rows(path) if checkpoint is not None else None
        if rows is not None and rows != ITEMS:
            msg = f"{tool}/{name}: the journal holds {rows} finished items, not {ITEMS}"
            raise _harness.BenchmarkError(msg)
        size = path.stat().st_size if checkpoint is not None else None
    return {
        "tool": tool,
        "workload": name,
        "seconds": elapsed,
        "skipped": summary.skipped,
        "journal_rows": rows,
        "journal_bytes": size,
    }


# -------------------------------------------------------------------------- parent side


def calibrate(target_seconds: float = ITEM_SECONDS) -> int:
    """Return a loop size for which ``_workloads.spin`` takes about ``target_seconds`` here.

    It takes the fastest of 25 probes, not the median as ``bench_core.py`` does: on
    a shared, busy machine the median includes time other processes took from the
    core, and the items came out well under 1 ms of work.
    """
    probe = 100_000
    _workloads.spin(probe)  # warm up
    fastest = min(_timed(_workloads.spin, probe) for _ in range(25))
    return max(1000, round(probe * target_seconds / fastest))


def _timed(fn: Callable[[int], int], arg: int) -> float:
    """Return how long ``fn(arg)`` takes, in seconds."""
    start = time.perf_counter()
    fn(arg)
    return time.perf_counter() - start


def run_child(tool: str, name: str, loop_size: int) -> dict[str, Any]:
    """Measure one contestant in a fresh interpreter and return its record."""
    args = ["--one", tool, name, "--loop-size", str(loop_size)]
    return _harness.run_fresh(__file__, args, what=f"{tool}/{name}")


def analyse(raw: dict[str, dict[str, list[dict[str, Any]]]]) -> dict[str, Any]:
    """Turn raw records into medians, min–max and ratios to plain parmap, per workload."""
    out: dict[str, Any] = {}
    for name, by_tool in raw.items():
        times = {tool: [r["seconds"] for r in records] for tool, records in by_tool.items()}
        stats = {tool: _harness.summarize(seconds) for tool, seconds in times.items()}
        plain = stats[PLAIN]["median"]
        out[name] = {
            "stats": stats,
            "vs_parmap": {tool: _harness.versus(times[tool], times[PLAIN]) for tool in times},
            "overhead_us_per_item": {
                tool: (s["median"] - plain) / ITEMS * 1e6 for tool, s in stats.items()
            },
        }
    return out


def targets(analysis: dict[str, Any]) -> dict[str, Any]:
    """Check parmap+journal / parmap (ratio of medians) against the target, per workload.

    Also counts the rounds whose paired ratio is under the target: on a noisy
    machine the ratio of medians alone can meet or miss it by chance.
    """
    verdicts: dict[str, Any] = {}
    for name, result in analysis.items():
        vs = result["vs_parmap"][JOURNAL]
        verdicts[name] = {
            "ratio_of_medians": vs["ratio_of_medians"],
            "median_paired_ratio": vs["median_paired_ratio"],
            "ok": vs["ratio_of_medians"] < TARGET_RATIO,
            "rounds_under_target": sum(1 for r in vs["paired_ratios"] if r < TARGET_RATIO),
            "rounds": len(vs["paired_ratios"]),
        }
    return verdicts


def markdown_table(analysis: dict[str, Any], verdicts: dict[str, Any], env: dict[str, Any]) -> str:
    """Render the analysis as a Markdown table (one row per contestant), then the target."""
    rows = [
        (
            "| Workload | Contestant | Median (s) | Min\u2013max (s) | \u00d7 parmap "
            "| Paired ratio, median (min\u2013max) | Cost per item (\u00b5s) |"
        ),
        "|---|---|--:|--:|--:|--:|--:|",
    ]
    for name, result in analysis.items():
        for tool, stats in result["stats"].items():
            vs = result["vs_parmap"][tool]
            paired = vs["paired_ratios"]
            paired_cell = (
                f"{vs['median_paired_ratio']:.3f} ({min(paired):.3f}\u2013{max(paired):.3f})"
                if tool != PLAIN
                else ""
            )
            cost = result["overhead_us_per_item"][tool]
            rows.append(
                f"| {name} | {LABELS[f'{tool}:{name}']} | {stats['median']:.3f} "
                f"| {stats['min']:.3f}\u2013{stats['max']:.3f} "
                f"| {vs['ratio_of_medians']:.3f} | {paired_cell} "
                f"| {'' if tool == PLAIN else f'{cost:+.1f}'} |"
            )
    rows.append("")
    rows.append(
        f"{ITEMS:,} items of about {ITEM_SECONDS * 1000:.0f} ms each; "
        f"W = {env['usable_cpus']} usable CPUs, default io workers = "
        f"{env['parmap_io_workers']}. Times are wall seconds of the parmap call in a fresh "
        'interpreter, pool start-up and shut-down included. "\u00d7 parmap" is the ratio of '
        "medians to the run without a checkpoint; the paired ratios compare the runs of "
        "the same round. Cost per item is the difference of the medians divided by "
        f"{ITEMS:,} (negative: faster than plain parmap)."
    )
    rows.append("")
    parts = [
        f"{name} {v['ratio_of_medians']:.3f}\u00d7 ({'met' if v['ok'] else 'missed'}; "
        f"{v['rounds_under_target']} of {v['rounds']} rounds under it)"
        for name, v in verdicts.items()
    ]
    rows.append(
        f"Target: parmap+journal / parmap < {TARGET_RATIO:.2f} (ratio of medians; the "
        "rounds are counted by their paired ratio). " + "; ".join(parts) + "."
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
    """Return what one measurement found, for its progress line."""
    return f"{record['seconds']:7.3f} s, {record['skipped']:5} skipped"


def run_benchmark(repeats: int) -> dict[str, Any]:
    """Run every contestant ``repeats`` times, interleaved, and return the full report."""
    env = environment()
    loop_size = calibrate()
    print(
        f"{repeats} interleaved repeats, {ITEMS:,} items, W = {env['usable_cpus']}, "
        f"cpu loop size = {loop_size} (about {ITEM_SECONDS * 1000:.0f} ms per item)",
        file=sys.stderr,
    )
    rounds = _harness.interleave(
        CONTESTANTS,
        repeats,
        lambda name, tool: run_child(tool, name, loop_size),
        describe,
    )
    env["loadavg_before"] = rounds.loadavg_before
    env["loadavg_after"] = rounds.loadavg_after
    analysis = analyse(rounds.raw)
    return {
        **_harness.report_head("journal", rounds),
        "environment": env,
        "workloads": {
            "wait": {
                "items": ITEMS,
                "fn": "_workloads.nap",
                "seconds_per_item": _workloads.NAP_SECONDS,
                "kind": "io",
                "workers": env["parmap_io_workers"],
            },
            "cpu": {
                "items": ITEMS,
                "fn": "functools.partial(_workloads.spin_then, loop_size)",
                "loop_size": loop_size,
                "target_seconds_per_item": ITEM_SECONDS,
                "kind": "cpu",
                "workers": env["usable_cpus"],
            },
        },
        "target": {"journal_ratio_max": TARGET_RATIO},
        "raw": rounds.raw,
        "results": analysis,
        "verdicts": targets(analysis),
    }


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse the command line."""
    parser = _harness.repeat_parser(__doc__, default=DEFAULT_REPEATS, quick=QUICK_REPEATS)
    parser.add_argument("--one", nargs=2, metavar=("TOOL", "WORKLOAD"), help=argparse.SUPPRESS)
    parser.add_argument("--fill", metavar="WORKLOAD", help=argparse.SUPPRESS)
    parser.add_argument("--dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--loop-size", type=int, default=0, help=argparse.SUPPRESS)
    return _harness.parse_repeats(parser, argv, default=DEFAULT_REPEATS, quick=QUICK_REPEATS)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark (or, with ``--one`` or ``--fill``, one step of it in this interpreter)."""
    args = parse_args(argv)
    if args.fill:
        if args.fill not in CONTESTANTS or args.dir is None:
            msg = f"--fill needs a workload (not {args.fill!r}) and --dir"
            raise _harness.BenchmarkError(msg)
        rows = fill(args.fill, args.loop_size, args.dir)
        print(json.dumps({"workload": args.fill, "journal_rows": rows}))
        return 0
    if args.one:
        tool, name = args.one
        if name not in CONTESTANTS or tool not in CONTESTANTS[name]:
            msg = f"no contestant {tool!r} for workload {name!r}"
            raise _harness.BenchmarkError(msg)
        print(json.dumps(measure(tool, name, args.loop_size)))
        return 0
    if _harness.parmap_version() is None:
        print("parmap is not installed: pip install -e .", file=sys.stderr)
        return 2
    report = run_benchmark(args.repeats)
    table = markdown_table(report["results"], report["verdicts"], report["environment"])
    _harness.publish("journal", report, table, quick_repeats=QUICK_REPEATS)
    return 0


if __name__ == "__main__":
    sys.exit(main())
