"""The cost of crash recovery: a run where 5 items kill their worker, against one where none do.

Workload: 1000 items of ~5 ms of pure-Python CPU each, ``kind="cpu"`` on all
usable CPUs. In the "deaths" run, five items (spread over the input) call
``os._exit(1)`` instead of computing: parmap records each as failed, replaces
the worker and goes on. Each measurement runs in a fresh interpreter (the
clock starts just before the call, after imports); repeats are interleaved;
medians, min-max and the ratio deaths / clean are reported. Target: <= 1.3x.

Run: ``python benchmarks/bench_crash.py [--repeats N]``. Results go to
``benchmarks/results/crash.md`` and ``crash.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

from _harness import RESULTS_DIR, run_fresh

ITEMS = 1000
DEATHS = frozenset({100, 300, 500, 700, 900})


def spin_or_die(item: tuple[int, int, bool]) -> int:
    """Burn ``loop`` steps of CPU; when told to, kill the worker process instead."""
    index, loop, die = item
    if die and index in DEATHS:
        os._exit(1)
    total = 0
    for i in range(loop):
        total += i
    return total


def calibrate() -> int:
    """Loop size for ~5 ms of work on this machine."""
    loop = 20_000
    start = time.perf_counter()
    spin_or_die((0, loop, False))
    took = time.perf_counter() - start
    return max(1000, int(loop * 0.005 / took))


def one(case: str, loop: int) -> float:
    """Run one case in this interpreter; return seconds."""
    from parmap import parmap  # noqa: PLC0415 - imported before the clock starts

    die = case == "deaths"
    items = [(i, loop, die) for i in range(ITEMS)]
    start = time.perf_counter()
    summary = parmap(spin_or_die, items, kind="cpu")
    took = time.perf_counter() - start
    expected_failed = len(DEATHS) if die else 0
    if summary.failed != expected_failed or summary.total != ITEMS:
        msg = f"{case}: unexpected summary {summary!r}"
        raise SystemExit(msg)
    return took


def main() -> int:
    """Interleave fresh-interpreter runs of both cases and report medians and the ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--one", nargs=2, metavar=("CASE", "LOOP"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps({"seconds": one(args.one[0], int(args.one[1]))}))
        return 0
    loop = calibrate()
    times: dict[str, list[float]] = {"clean": [], "deaths": []}
    for _ in range(args.repeats):
        for case, values in times.items():
            record = run_fresh(__file__, ["--one", case, str(loop)], what=case, timeout=600)
            values.append(record["seconds"])
    medians = {case: statistics.median(values) for case, values in times.items()}
    ratio = medians["deaths"] / medians["clean"]
    lines = [
        "| case | median (s) | min-max (s) |",
        "|---|--:|--:|",
        *(
            f"| {case} | {medians[case]:.3f} | {min(v):.3f}-{max(v):.3f} |"
            for case, v in times.items()
        ),
        "",
        (
            f"deaths / clean = {ratio:.2f}x (target <= 1.3x); {ITEMS} items of ~5 ms, "
            f"{len(DEATHS)} worker deaths, {os.cpu_count()} CPUs, "
            f"Python {sys.version.split()[0]}."
        ),
        "Rerun: `python benchmarks/bench_crash.py`.",
    ]
    report = "\n".join(lines)
    print(report)
    RESULTS_DIR.mkdir(exist_ok=True)
    (RESULTS_DIR / "crash.md").write_text(report + "\n")
    raw = {"times": times, "medians": medians, "ratio": ratio, "loop": loop}
    (RESULTS_DIR / "crash.json").write_text(json.dumps(raw, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
