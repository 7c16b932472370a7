"""Benchmark what measuring per-item durations (``Summary.timing``) costs a run.

The target, from the issue: timing costs under 3 % on the two workloads where
parmap's own per-item and per-call costs matter most, those of
``bench_peers.py`` (W = the usable CPUs):

* ``calls``: 50 consecutive ``parmap(square, range(100), kind="cpu", workers=W)``
  calls (the first starts the warm worker processes, the others reuse them);
* ``trivial``: one ``parmap(square, range(200_000), kind="cpu", workers=W)``.

Two contestants per workload, measured in the same run:

* ``timing``: parmap as this checkout has it, durations measured: installed in
  the interpreter given with ``--candidate`` (by default the one running this
  script; give both contestants the same kind of install, since worker
  processes import parmap inside the clock of ``calls``);
* ``base``: parmap before timing existed, installed in a second virtualenv
  whose interpreter is given with ``--baseline``: the commit this work branched
  from (``git merge-base HEAD main``). Nothing else differs between the two.

Every measurement runs in a fresh interpreter (this script, re-run with the
hidden ``--one WORKLOAD`` option, by the contestant's interpreter); the clock
covers the calls only (imports are done before it), and the child checks every
result. Repeats are interleaved, the order rotating each round, and the report
gives medians, min–max, and the ratio ``timing / base`` (of the medians, and the
median of the per-round ratios).

Run from the repository root, with parmap installed, after making the baseline::

    mkdir /tmp/parmap-base
    git archive "$(git merge-base HEAD main)" | tar -x -C /tmp/parmap-base
    python3 -m venv /tmp/parmap-base-venv
    /tmp/parmap-base-venv/bin/pip install /tmp/parmap-base
    python3 -m venv /tmp/parmap-venv && /tmp/parmap-venv/bin/pip install .
    python benchmarks/bench_timing.py --baseline /tmp/parmap-base-venv/bin/python \
        --candidate /tmp/parmap-venv/bin/python
    python benchmarks/bench_timing.py --baseline ... --quick   # 3 repeats

It prints a Markdown table and writes ``benchmarks/results/timing.json`` and
``benchmarks/results/timing.md``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import _harness

HERE = Path(__file__).resolve().parent
WORKLOADS = ("calls", "trivial")
TOOLS = ("timing", "base")
CALLS, CALL_ITEMS = 50, 100
TRIVIAL_ITEMS = 200_000
TARGET = 1.03
DEFAULT_REPEATS, QUICK_REPEATS = 21, 3


def _one(workload: str) -> dict[str, Any]:
    """In a fresh interpreter: run `workload` once, check it, return its time."""
    sys.path.insert(0, str(HERE))
    from _workloads import square  # noqa: PLC0415 - the measured child only

    from parmap import parmap  # noqa: PLC0415 - likewise

    workers = _harness.usable_cpus()
    calls, count = (CALLS, CALL_ITEMS) if workload == "calls" else (1, TRIVIAL_ITEMS)
    expected = [item * item for item in range(count)]
    start = time.perf_counter()
    summaries = [parmap(square, range(count), kind="cpu", workers=workers) for _ in range(calls)]
    elapsed = time.perf_counter() - start
    for summary in summaries:
        if summary.results != expected:
            msg = f"{workload}: wrong results"
            raise _harness.BenchmarkError(msg)
    timing = getattr(summaries[-1], "timing", None)
    return {"seconds": elapsed, "timed": timing is not None}


def _measure(python: str, workload: str) -> dict[str, Any]:
    proc = subprocess.run(
        [python, str(Path(__file__).resolve()), "--one", workload],
        capture_output=True,
        text=True,
        timeout=_harness.CHILD_TIMEOUT_SECONDS,
        check=False,
        cwd=HERE.parent,
    )
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        raise _harness.child_failed(workload, proc.returncode, proc.stdout, proc.stderr)
    record: dict[str, Any] = json.loads(lines[-1])
    return record


def main(argv: list[str] | None = None) -> None:
    """Parse the options, measure, report."""
    parser = _harness.repeat_parser(__doc__, default=DEFAULT_REPEATS, quick=QUICK_REPEATS)
    parser.add_argument("--one", choices=WORKLOADS, help=argparse.SUPPRESS)
    parser.add_argument("--baseline", help="the interpreter of a virtualenv with the base parmap")
    parser.add_argument(
        "--candidate", default=sys.executable, help="the interpreter of the parmap measured"
    )
    args = _harness.parse_repeats(parser, argv, default=DEFAULT_REPEATS, quick=QUICK_REPEATS)
    if args.one:
        print(json.dumps(_one(args.one)))
        return
    if not args.baseline:
        parser.error("--baseline PYTHON is needed: see the module docstring")
    pythons = {"timing": args.candidate, "base": args.baseline}

    def measure(workload: str, tool: str) -> dict[str, Any]:
        record = _measure(pythons[tool], workload)
        if record["timed"] != (tool == "timing"):
            msg = f"{tool} on {workload}: Summary.timing present={record['timed']}, unexpected"
            raise _harness.BenchmarkError(msg)
        return record

    rounds = _harness.interleave(
        dict.fromkeys(WORKLOADS, TOOLS), args.repeats, measure, lambda r: f"{r['seconds']:.3f} s"
    )
    report: dict[str, Any] = {
        **_harness.report_head("timing", rounds),
        "environment": _harness.machine(),
        "provenance": _harness.provenance(),
        "baseline": args.baseline,
        "candidate": args.candidate,
        "target_ratio": TARGET,
        "workloads": {},
    }
    head = (
        "| workload | timing (median, min–max) | base (median, min–max) | ratio of medians "
        "| median paired ratio | target |"
    )
    rows = [head, "|---|---|---|---|---|---|"]
    for workload in WORKLOADS:
        times = {tool: [r["seconds"] for r in rounds.raw[workload][tool]] for tool in TOOLS}
        stats = {tool: _harness.summarize(times[tool]) for tool in TOOLS}
        ratio = _harness.versus(times["timing"], times["base"])
        report["workloads"][workload] = {"times": times, "stats": stats, "versus_base": ratio}
        cells = [
            f"{stats[tool]['median']:.3f} s ({stats[tool]['min']:.3f}–{stats[tool]['max']:.3f})"
            for tool in TOOLS
        ]
        met = "met" if ratio["ratio_of_medians"] < TARGET else "missed"
        rows.append(
            f"| {workload} | {cells[0]} | {cells[1]} | {ratio['ratio_of_medians']:.3f} "
            f"| {ratio['median_paired_ratio']:.3f} | < {TARGET:.2f}: {met} |"
        )
    _harness.publish(
        "timing",
        report,
        "\n".join(rows),
        quick_repeats=QUICK_REPEATS,
        rerun="python benchmarks/bench_timing.py --baseline PYTHON",
        title="Timing benchmark: what Summary.timing costs",
    )


if __name__ == "__main__":
    main()
