"""Measure how parmap's cost per item and its memory scale, beside the best peer.

Two curves, each point measured in a fresh interpreter with the RSS of its whole
process tree sampled (``_harness.run_fresh_sampled``), the repeats interleaved:

* ``items``: a generator of N trivial items (``x * x``), N = 10^3 … 10^7,
  results dropped: ``parmap(keep_results=False)`` and ``imap`` consumed, on
  threads and with ``kind="cpu"`` on W processes (W = the usable CPUs), beside
  ``ThreadPool().imap(chunksize=1000)`` and the forkserver
  ``Pool(W).imap(chunksize=1000)`` consumed, and a serial loop. Per item there is
  next to nothing to do, so time per item is overhead per item.
* ``waits``: 10 ms sleeps on 10 … 1000 threads, 20 per thread (ideal 0.20 s at
  every point): ``parmap(kind="io", workers=T)`` beside
  ``ThreadPoolExecutor(T).map`` and ``ThreadPool(T).map``. The overhead per item
  is (time − ideal) / items.

The two targets, checked at the end of the report (PASS or FAIL), on the items
curve, for every parmap contestant from 10^4 to 10^7 items:

* cost per item flat: the cost of one more item, the slope between two points
  ``(t(N2) − t(N1)) / (N2 − N1)`` (start-up, ramp and shut-down, the same in both
  runs, cancel), stays within 2× of its lowest over 10^4→10^5, 10^5→10^6 and
  10^6→10^7. (The wall time per item, t(N) / N, is reported too: a pool's start
  of 0.1 s is 10 µs per item over 10^4 items, so it cannot be flat there.)
* memory flat: the peak RSS of the process tree stays within 1.25× of its lowest
  (the input is read through a bounded window and, with ``keep_results=False``,
  nothing grows with N). Beside it, whether it still grows once the window is full
  (10^6 → 10^7 items).

Run from the repository root, with parmap and the bench extra installed
(``pip install -e '.[bench]'``)::

    python benchmarks/bench_scaling.py            # 3 repeats up to 10^7 items, ~5 min on 2 cores
    python benchmarks/bench_scaling.py --quick    # 1 repeat, up to 10^6 items, ~1 min
    python benchmarks/bench_scaling.py --redraw   # scaling.md and scaling.png from scaling.json

It writes ``benchmarks/results/scaling.json`` (raw records, summaries, targets,
environment), ``scaling.md`` (the tables) and ``scaling.png`` (the curves).

Every function that runs contestants is only called from under the
``if __name__ == "__main__":`` guard: the forkserver pool imports this script
again in its fork server (as ``__mp_main__``), where nothing may run.
"""

from __future__ import annotations

import argparse
import importlib.util
import itertools
import json
import multiprocessing
import multiprocessing.pool
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

HERE: Final = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import _harness  # noqa: E402  (these two need HERE on sys.path first)
import _workloads  # noqa: E402

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from parmap import Outcome

NAME: Final = "scaling"
DEFAULT_REPEATS: Final = 3
QUICK_REPEATS: Final = 1
MB: Final = 1_000_000

ITEM_COUNTS: Final = (1, 1_000, 10_000, 100_000, 1_000_000, 10_000_000)
"""The points of the items curve; the run over 1 item measures each contestant's fixed cost."""
QUICK_MAX_ITEMS: Final = 1_000_000
"""With ``--quick``, the items curve stops here."""
FLAT_FROM: Final = 10_000
"""The targets look at the items curve from this many items on."""
THREAD_COUNTS: Final = (10, 30, 100, 300, 1000)
WAITS_PER_THREAD: Final = 20
CHUNKSIZE: Final = 1000
"""The chunksize of the peers' ``imap`` (a stream has no length to tune it on)."""

TIME_FLAT_LIMIT: Final = 2.0
FULL_FROM: Final = 1_000_000
"""From this many items on, a run has filled its window of items in flight (its memory plateau)."""
"""Target: the highest time per item, from ``FLAT_FROM`` items on, ≤ this × the lowest."""
RSS_FLAT_LIMIT: Final = 1.25
"""Target: the highest tree RSS peak, from ``FLAT_FROM`` items on, ≤ this × the lowest."""

ITEM_TOOLS: Final = (
    "serial",
    "parmap-io",
    "imap-io",
    "parmap-cpu",
    "imap-cpu",
    "threadpool",
    "pool-forkserver",
)
WAIT_TOOLS: Final = ("parmap-io", "tpe", "threadpool")
PARMAP_TOOLS: Final = frozenset({"parmap-io", "imap-io", "parmap-cpu", "imap-cpu"})
ITEM_PEER: Final = {
    "parmap-io": "threadpool",
    "imap-io": "threadpool",
    "parmap-cpu": "pool-forkserver",
    "imap-cpu": "pool-forkserver",
}
"""The peer each parmap contestant of the items curve is set beside."""


def item_label(tool: str, workers: int) -> str:
    """Return what a contestant of the items curve runs, for the report."""
    return {
        "serial": "serial loop",
        "parmap-io": 'parmap(kind="io", keep_results=False)',
        "imap-io": "imap(fn, gen)",
        "parmap-cpu": f'parmap(kind="cpu", workers={workers}, keep_results=False)',
        "imap-cpu": f'imap(fn, gen, kind="cpu", workers={workers})',
        "threadpool": f"ThreadPool().imap(chunksize={CHUNKSIZE})",
        "pool-forkserver": f'"forkserver" Pool({workers}).imap(chunksize={CHUNKSIZE})',
    }[tool]


def wait_label(tool: str) -> str:
    """Return what a contestant of the waits curve runs (T threads), for the report."""
    return {
        "parmap-io": 'parmap(kind="io", workers=T)',
        "tpe": "ThreadPoolExecutor(T).map",
        "threadpool": "ThreadPool(T).map",
    }[tool]


def point_name(curve: str, size: int) -> str:
    """Return the name of one point of a curve: ``items=1000`` or ``threads=100``."""
    return f"{'items' if curve == 'items' else 'threads'}={size}"


def parse_point(point: str) -> tuple[str, int]:
    """Return the curve and the size of a point named by ``point_name``."""
    key, _, size = point.partition("=")
    return ("items" if key == "items" else "waits"), int(size)


# --------------------------------------------------------------------------- child side


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


def run_items(tool: str, count: int, workers: int) -> tuple[int, int]:
    """Run one contestant over a generator of ``count`` items; return (results, their sum)."""
    from parmap import imap, parmap  # noqa: PLC0415 - imported by `measure` before the clock

    fn = _workloads.square
    items = (i for i in range(count))
    if tool in {"parmap-io", "parmap-cpu"}:
        cpu = tool == "parmap-cpu"
        summary = parmap(
            fn,
            items,
            kind="cpu" if cpu else "io",
            workers=workers if cpu else None,
            keep_results=False,
        )
        if summary.failed or summary.succeeded != summary.total or summary.results:
            msg = f"parmap run not clean, or results kept: {summary}"
            raise _harness.BenchmarkError(msg)
        # keep_results=False leaves no values to sum: the count is checked, the sum assumed.
        return summary.total, _workloads.squares_sum(summary.total)
    if tool == "imap-io":
        return tally_outcomes(imap(fn, items))
    if tool == "imap-cpu":
        return tally_outcomes(imap(fn, items, kind="cpu", workers=workers))
    if tool == "serial":
        return tally(map(fn, items))
    pool: multiprocessing.pool.Pool
    if tool == "threadpool":
        pool = multiprocessing.pool.ThreadPool()
    elif tool == "pool-forkserver":
        pool = multiprocessing.get_context("forkserver").Pool(workers)
    else:
        msg = f"unknown contestant {tool!r} on the items curve"
        raise _harness.BenchmarkError(msg)
    with pool:
        counted = tally(pool.imap(fn, items, chunksize=CHUNKSIZE))
        pool.close()
        pool.join()
    return counted


def run_waits(tool: str, items: list[int], threads: int) -> list[int | None]:
    """Run one contestant of the waits curve over ``items``; return its results in order."""
    from parmap import parmap  # noqa: PLC0415 - imported by `measure` before the clock

    fn = _workloads.wait
    if tool == "parmap-io":
        summary = parmap(fn, items, kind="io", workers=threads)
        if summary.failed:
            msg = f"parmap run not clean: {summary}"
            raise _harness.BenchmarkError(msg)
        return summary.results
    if tool == "tpe":
        with ThreadPoolExecutor(threads) as executor:
            return list(executor.map(fn, items))
    if tool == "threadpool":
        with multiprocessing.pool.ThreadPool(threads) as pool:
            results: list[int | None] = list(pool.map(fn, items))
            pool.close()
            pool.join()
        return results
    msg = f"unknown contestant {tool!r} on the waits curve"
    raise _harness.BenchmarkError(msg)


def measure(point: str, tool: str) -> dict[str, Any]:
    """Run one contestant at one point in this interpreter, checked; return its record."""
    from parmap import parmap  # noqa: F401, PLC0415 - the name loads the package lazily

    curve, size = parse_point(point)
    workers = _harness.usable_cpus()
    what = f"{point}/{tool}"
    if curve == "items":
        _harness.await_go(what)
        start = time.perf_counter()
        done, total = run_items(tool, size, workers)
        elapsed = time.perf_counter() - start
        if done != size or total != _workloads.squares_sum(size):
            msg = f"{what}: {done} results summing to {total}, expected {size} items"
            raise _harness.BenchmarkError(msg)
    else:
        items = list(range(size * WAITS_PER_THREAD))
        _harness.await_go(what)
        start = time.perf_counter()
        results = run_waits(tool, items, size)
        elapsed = time.perf_counter() - start
        if results != items:
            msg = f"{what}: wrong results"
            raise _harness.BenchmarkError(msg)
        done = len(items)
    return {"point": point, "tool": tool, "seconds": elapsed, "items": done}


# -------------------------------------------------------------------------- parent side


def analyse(
    raw: dict[str, dict[str, list[dict[str, Any]]]], workers: int
) -> dict[str, dict[str, Any]]:
    """Turn raw records into medians, time and overhead per item, and memory, per point."""
    out: dict[str, dict[str, Any]] = {}
    for point, by_tool in raw.items():
        curve, size = parse_point(point)
        medians = {
            tool: statistics.median(r["seconds"] for r in records)
            for tool, records in by_tool.items()
        }
        items = next(iter(by_tool.values()))[0]["items"]
        if curve == "items":
            baseline = medians.get("serial", 0.0)
            baseline_note = "the serial loop"
        else:
            baseline = WAITS_PER_THREAD * _workloads.WAIT_SECONDS
            baseline_note = "ideal"
        fixed = fixed_seconds(raw, curve)
        tools = {}
        for tool, records in by_tool.items():
            marginal = None
            if tool in fixed and items > 1:
                marginal = (medians[tool] - fixed[tool]) / (items - 1) * 1e6
            tools[tool] = {
                "label": item_label(tool, workers) if curve == "items" else wait_label(tool),
                "seconds": _harness.summarize([r["seconds"] for r in records]),
                "us_per_item": medians[tool] / items * 1e6,
                "overhead_us_per_item": (medians[tool] - baseline) / items * 1e6,
                "marginal_us_per_item": marginal,
                "rss_peak_mb": _harness.summarize([r["rss_peak_bytes"] / MB for r in records]),
                "rss_growth_mb": _harness.summarize(
                    [(r["rss_peak_bytes"] - r["rss_baseline_bytes"]) / MB for r in records]
                ),
                "leftover_processes": sorted(
                    {name for r in records for name in r["leftover_processes"]}
                ),
            }
        out[point] = {
            "curve": curve,
            "size": size,
            "items": items,
            "baseline_seconds": baseline,
            "baseline": baseline_note,
            "tools": tools,
        }
    return out


def fixed_seconds(raw: dict[str, dict[str, list[dict[str, Any]]]], curve: str) -> dict[str, float]:
    """Return each contestant's median over 1 item (its fixed cost: start and stop), if measured."""
    one = raw.get(point_name("items", 1)) if curve == "items" else None
    if one is None:
        return {}
    return {tool: statistics.median(r["seconds"] for r in records) for tool, records in one.items()}


def curve_points(analysis: dict[str, dict[str, Any]], curve: str) -> list[dict[str, Any]]:
    """Return the points of one curve, smallest first."""
    return sorted((p for p in analysis.values() if p["curve"] == curve), key=lambda p: p["size"])


def slopes(points: list[dict[str, Any]], tool: str) -> list[float]:
    """Return the cost of one more item (µs) between consecutive points: Δ median time / Δ N."""
    found = []
    for low, high in itertools.pairwise(points):
        rise = high["tools"][tool]["seconds"]["median"] - low["tools"][tool]["seconds"]["median"]
        found.append(rise / (high["items"] - low["items"]) * 1e6)
    return found


def check_targets(analysis: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Check that parmap's cost per item and memory are flat from ``FLAT_FROM`` items on.

    Two targets per parmap contestant (``target`` True), and two figures beside
    them that are not targets: the wall time per item, and the memory once full.
    """
    points = [p for p in curve_points(analysis, "items") if p["size"] >= FLAT_FROM]
    if len(points) < 2:  # a curve needs two points
        return []
    span = f"{points[0]['size']:,} to {points[-1]['size']:,} items"
    full = [p for p in points if p["size"] >= FULL_FROM]
    verdicts = []
    for tool in sorted(PARMAP_TOOLS):
        if any(tool not in p["tools"] for p in points):
            continue
        rss = [p["tools"][tool]["rss_peak_mb"]["median"] for p in points]
        checks: list[tuple[str, list[float], float, bool, str]] = [
            (
                (
                    f"cost per item flat: cost of one more item (slope between points), "
                    f"{span}: highest ≤ {TIME_FLAT_LIMIT:.2f}× lowest"
                ),
                slopes(points, tool),
                TIME_FLAT_LIMIT,
                True,
                "µs",
            ),
            (
                f"memory flat: tree RSS peak, {span}: highest ≤ {RSS_FLAT_LIMIT:.2f}× lowest",
                rss,
                RSS_FLAT_LIMIT,
                True,
                "MB",
            ),
            (
                f"(not a target) wall time per item, t(N) / N, {span}",
                [p["tools"][tool]["us_per_item"] for p in points],
                TIME_FLAT_LIMIT,
                False,
                "µs",
            ),
        ]
        if len(full) >= 2:
            checks.append(
                (
                    (
                        "(not a target) tree RSS peak once the window is full, "
                        f"{full[0]['size']:,} to {full[-1]['size']:,} items"
                    ),
                    [p["tools"][tool]["rss_peak_mb"]["median"] for p in full],
                    RSS_FLAT_LIMIT,
                    False,
                    "MB",
                )
            )
        for what, values, limit, target, unit in checks:
            positive = all(v > 0 for v in values)
            ratio = max(values) / min(values) if positive else float("inf")
            low, high = min(values), max(values)
            verdicts.append(
                {
                    "tool": tool,
                    "label": points[0]["tools"][tool]["label"],
                    "target": what,
                    "target_kind": "target" if target else "info",
                    "value": ratio,
                    "range": (
                        f"{low:.3f}–{high:.3f} {unit}"
                        if unit == "µs"
                        else f"{low:.0f}–{high:.0f} {unit}"
                    ),
                    "limit": limit,
                    "met": positive and ratio <= limit,
                }
            )
    return verdicts


def item_cell(stats: dict[str, Any], size: int) -> str:
    """Return one cell of the items table: time per item (marginal) and memory."""
    rss = f"{stats['rss_peak_mb']['median']:.0f} MB"
    if size == 1:
        return f"{stats['seconds']['median'] * 1000:.1f} ms, {rss}"
    marginal = stats["marginal_us_per_item"]
    extra = "" if marginal is None else f" ({marginal:.3f})"
    return f"{stats['us_per_item']:.3f}{extra} µs, {rss}"


def items_table(analysis: dict[str, dict[str, Any]]) -> list[str]:
    """Return the table of the items curve: per N, time per item and memory, per contestant."""
    points = curve_points(analysis, "items")
    if not points:
        return []
    tools = list(points[0]["tools"])
    head = " | ".join(f"{p['size']:,}" for p in points)
    rows = [
        (
            "Time per item in µs (median wall time / N), in brackets the marginal time per item "
            "(the same, less the contestant's median over 1 item: pool start and stop), and the "
            "tree RSS peak in MB (median), per number of items N (over 1 item: its median time):"
        ),
        "",
        f"| Contestant | {head} |",
        "|---|" + "--:|" * len(points),
    ]
    for tool in tools:
        cells = [item_cell(p["tools"][tool], p["size"]) for p in points]
        rows.append(f"| {points[0]['tools'][tool]['label']} | {' | '.join(cells)} |")
    steps = " | ".join(f"→ {p['size']:,}" for p in points[1:])
    rows += [
        "",
        (
            "The cost of one more item in µs (the slope between a point and the one before "
            "it: Δ median time / Δ N; start-up and shut-down cancel):"
        ),
        "",
        f"| Contestant | {steps} |",
        "|---|" + "--:|" * (len(points) - 1),
    ]
    for tool in tools:
        cells = [f"{slope:.3f}" for slope in slopes(points, tool)]
        rows.append(f"| {points[0]['tools'][tool]['label']} | {' | '.join(cells)} |")
    rows += ["", "parmap's time per item as a multiple of its peer's, per number of items:", ""]
    rows += [f"| Contestant | Peer | {head} |", "|---|---|" + "--:|" * len(points)]
    for tool, peer in ITEM_PEER.items():
        if tool not in tools or peer not in tools:
            continue
        cells = [
            f"{p['tools'][tool]['seconds']['median'] / p['tools'][peer]['seconds']['median']:.2f}×"
            for p in points
        ]
        rows.append(
            f"| {points[0]['tools'][tool]['label']} | {points[0]['tools'][peer]['label']} "
            f"| {' | '.join(cells)} |"
        )
    return rows


def waits_table(analysis: dict[str, dict[str, Any]]) -> list[str]:
    """Return the table of the waits curve: per thread count, time, overhead and memory."""
    points = curve_points(analysis, "waits")
    if not points:
        return []
    rows = [
        (
            f"{WAITS_PER_THREAD} waits of {_workloads.WAIT_SECONDS * 1000:.0f} ms per thread, "
            f"T threads (ideal {WAITS_PER_THREAD * _workloads.WAIT_SECONDS:.2f} s); "
            "median seconds, overhead per item ((time − ideal) / items) and tree RSS peak:"
        ),
        "",
        (
            "| Threads (items) | Contestant | Median (s) | Overhead per item (µs) "
            "| × best peer | Tree RSS peak (MB) |"
        ),
        "|---|---|--:|--:|--:|--:|",
    ]
    for p in points:
        peers = [t for t in p["tools"] if t not in PARMAP_TOOLS]
        best = min(p["tools"][t]["seconds"]["median"] for t in peers) if peers else None
        for stats in p["tools"].values():
            median = stats["seconds"]["median"]
            vs = f"{median / best:.2f}" if best else ""
            rows.append(
                f"| {p['size']} ({p['items']:,}) | {stats['label']} | {median:.3f} "
                f"| {stats['overhead_us_per_item']:.1f} | {vs} "
                f"| {stats['rss_peak_mb']['median']:.0f} |"
            )
    return rows


SECTION_START: Final = "<!-- --8<-- [start:results] -->"
SECTION_END: Final = "<!-- --8<-- [end:results] -->"
"""Markers around the part of scaling.md that the documentation page includes."""


def markdown(report: dict[str, Any]) -> str:
    """Render the report as Markdown: the items curve, the waits curve, targets, notes."""
    analysis = report["results"]
    verdicts = report["targets"]
    env = report["environment"]
    targets = [v for v in verdicts if v.get("target_kind", "target") == "target"]
    target_rows = ["| parmap | Target | Measured | Range | Result |", "|---|---|--:|--:|:-:|"]
    target_rows += [
        f"| {v['label']} | {v['target']} | {v['value']:.2f}× | {v.get('range', '')} "
        f"| {'PASS' if v['met'] else '**FAIL**'} |"
        for v in targets
    ]
    info = [v for v in verdicts if v.get("target_kind") == "info"]
    info_rows = ["| parmap | Figure | Highest / lowest | Range |", "|---|---|--:|--:|"]
    info_rows += [
        f"| {v['label']} | {v['target'].removeprefix('(not a target) ')} | {v['value']:.2f}× "
        f"| {v.get('range', '')} |"
        for v in info
    ]
    leftovers = sorted(
        {
            f"{point}/{tool}"
            for point, p in analysis.items()
            for tool, stats in p["tools"].items()
            if stats["leftover_processes"]
        }
    )
    load = env["loadavg_before"][0], env["loadavg_after"][0]
    revision = (env.get("git_revision") or "unknown")[:12]
    notes = [
        (
            f"W = {env['workers']} worker processes (the usable CPUs); the trivial items' "
            "thread contestants use each tool's default thread count. Each measurement is one "
            "run in a fresh interpreter, timed from the call (or the pool's creation) until "
            "every result is consumed and the pool is shut down; the tree RSS peak is the "
            "summed RSS of the process and all its descendants, sampled every "
            f"{_harness.SAMPLE_SECONDS * 1000:.0f} ms. Every result is checked: the waits' "
            "values, and on the trivial items the count and, where results come back, their sum."
        ),
        (
            f"Workers left over: {', '.join(leftovers) or 'none'}. Measured: parmap "
            f"{env.get('parmap_version')} (git {revision}), Python {env['python'].split()[0]}."
        ),
        (
            f"Load average (1 min) before and after: {load[0]:.2f} and {load[1]:.2f}; "
            f"the run took {report['total_wall_seconds'] / 60:.1f} minutes."
        ),
    ]
    if report.get("note"):
        notes.append(f"**Note:** {report['note']}")
    parts = [
        SECTION_START,
        "",
        "### Trivial items",
        "",
        *items_table(analysis),
        "",
        "### Waits",
        "",
        *waits_table(analysis),
        "",
        "### Targets",
        "",
        f"{sum(v['met'] for v in targets)} of {len(targets)} PASS.",
        "",
        *target_rows,
        "",
        (
            "Beside them, not targets: the wall time per item (start-up included), and the "
            "memory once the window of items in flight is full:"
        ),
        "",
        *info_rows,
        "",
        *[line + "\n" for line in notes],
        SECTION_END,
    ]
    return "\n".join(parts)


COLOURS: Final[dict[str, str]] = {
    "serial": "#7f7f7f",
    "parmap-io": "#d62728",
    "imap-io": "#ff7f0e",
    "parmap-cpu": "#9467bd",
    "imap-cpu": "#e377c2",
    "threadpool": "#1f77b4",
    "pool-forkserver": "#2ca02c",
    "tpe": "#17becf",
}


def panel_values(
    points: list[dict[str, Any]], tool: str, key: str
) -> tuple[list[int], list[float]]:
    """Return one line of a chart panel: the sizes, and the contestant's values at them."""
    if key == "rss":
        return [p["size"] for p in points], [
            p["tools"][tool]["rss_peak_mb"]["median"] for p in points
        ]
    if key == "slope":  # from FLAT_FROM on: below it, noise in the start-up swamps the slope
        flat = [p for p in points if p["size"] >= FLAT_FROM]
        return [p["size"] for p in flat[1:]], slopes(flat, tool)
    return [p["size"] for p in points], [p["tools"][tool][key] for p in points]


def draw_chart(report: dict[str, Any], path: Path) -> bool:
    """Draw the curves (time per item, memory; per N and per thread count) into ``path``.

    Returns False (and draws nothing) when matplotlib is not installed.
    """
    if importlib.util.find_spec("matplotlib") is None:
        return False
    import matplotlib as mpl  # noqa: PLC0415 - optional, parent side only

    mpl.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    analysis = report["results"]
    fig, axes = plt.subplots(2, 3, figsize=(18, 9))
    waits_overhead = "overhead per item (µs): (time − ideal) / items"
    panels = (
        ("items", "us_per_item", "time per item (µs): wall / N", axes[0][0]),
        ("items", "marginal_us_per_item", "marginal time per item (µs)", axes[0][1]),
        ("items", "rss", "tree RSS peak (MB, median)", axes[1][0]),
        (
            "items",
            "slope",
            "cost of one more item (µs): Δ time / Δ N from the point before",
            axes[1][1],
        ),
        ("waits", "overhead_us_per_item", waits_overhead, axes[0][2]),
        ("waits", "rss", "tree RSS peak (MB, median)", axes[1][2]),
    )
    for curve, key, ylabel, ax in panels:
        points = curve_points(analysis, curve)
        if curve == "items" and key != "rss":
            points = [p for p in points if p["size"] > 1]
        if not points:
            ax.set_visible(False)
            continue
        for tool, stats in points[0]["tools"].items():
            sizes, values = panel_values(points, tool, key)
            ax.plot(
                sizes,
                values,
                marker="o",
                color=COLOURS[tool],
                label=stats["label"].replace("(T)", "").replace("=T", ""),
                linewidth=2.5 if tool in PARMAP_TOOLS else 1.2,
                linestyle="-" if tool in PARMAP_TOOLS else "--",
            )
        ax.set_xscale("log")
        if key in {"us_per_item", "marginal_us_per_item", "slope"}:
            ax.set_yscale("log")
        if curve == "items" and key != "rss":
            lo = [p for p in points if p["size"] >= FLAT_FROM]
            if lo:
                ax.axvspan(lo[0]["size"], lo[-1]["size"], color="#eeeeee", zorder=0)
        ax.set_xlabel("items (generator, x * x)" if curve == "items" else "threads (20 waits each)")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7)
    env = report["environment"]
    fig.suptitle(
        f"parmap scaling — {report['date'][:10]}, Python {env['python'].split()[0]}, "
        f"{env['usable_cpus']} CPUs, {report['repeats']} repeats (shaded: where cost per item "
        "must stay within 2×)",
        fontsize=10,
    )
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return True


def describe(record: dict[str, Any]) -> str:
    """Return what one measurement found, for its progress line."""
    return f"{record['seconds']:8.3f} s {record['rss_peak_bytes'] / MB:7.1f} MB peak" + (
        f"  LEFTOVER {record['leftover_processes']}" if record["leftover_processes"] else ""
    )


def run_benchmark(repeats: int, *, quick: bool) -> dict[str, Any]:
    """Measure every point of both curves ``repeats`` times, interleaved; return the report."""
    workers = _harness.usable_cpus()
    counts = [n for n in ITEM_COUNTS if not quick or n <= QUICK_MAX_ITEMS]
    contestants: dict[str, Sequence[str]] = {point_name("items", n): ITEM_TOOLS for n in counts}
    contestants |= {point_name("waits", t): WAIT_TOOLS for t in THREAD_COUNTS}
    print(f"{repeats} interleaved repeats, W = {workers}", file=sys.stderr)
    rounds = _harness.interleave(
        contestants,
        repeats,
        lambda point, tool: _harness.run_fresh_sampled(
            __file__, ["--one", point, tool], what=f"{point}/{tool}"
        ),
        describe,
    )
    analysis = analyse(rounds.raw, workers)
    return {
        **_harness.report_head(NAME, rounds),
        "environment": {
            **_harness.machine(),
            "workers": workers,
            "loadavg_before": rounds.loadavg_before,
            "loadavg_after": rounds.loadavg_after,
            **_harness.provenance(),
        },
        "raw": rounds.raw,
        "results": analysis,
        "targets": check_targets(analysis),
    }


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse the command line."""
    parser = _harness.repeat_parser(__doc__, default=DEFAULT_REPEATS, quick=QUICK_REPEATS)
    parser.description = (parser.description or "") + (
        f" --quick also stops the items curve at {QUICK_MAX_ITEMS:,}."
    )
    parser.add_argument(
        "--note", default="", help="a sentence about this run, printed in the report"
    )
    parser.add_argument(
        "--redraw",
        action="store_true",
        help="measure nothing: render scaling.md and scaling.png again from scaling.json",
    )
    parser.add_argument("--one", nargs=2, metavar=("POINT", "TOOL"), help=argparse.SUPPRESS)
    return _harness.parse_repeats(parser, argv, default=DEFAULT_REPEATS, quick=QUICK_REPEATS)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark (or, with ``--one``, a single measurement in this interpreter)."""
    args = parse_args(argv)
    if args.one:
        print(json.dumps(measure(*args.one)))
        return 0
    if args.redraw:
        report = json.loads((_harness.RESULTS_DIR / f"{NAME}.json").read_text(encoding="utf-8"))
        report["targets"] = check_targets(report["results"])
        report["note"] = args.note or report.get("note", "")
    elif _harness.parmap_version() is None:
        print("parmap is not installed: pip install -e '.[bench]'", file=sys.stderr)
        return 2
    else:
        report = run_benchmark(args.repeats, quick=args.quick)
        report["note"] = args.note
    _harness.publish(
        NAME, report, markdown(report), quick_repeats=QUICK_REPEATS, title="Scaling benchmark"
    )
    chart = _harness.RESULTS_DIR / f"{NAME}.png"
    if draw_chart(report, chart):
        print(f"wrote {chart}", file=sys.stderr)
    else:
        print("matplotlib is not installed: no chart drawn", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
