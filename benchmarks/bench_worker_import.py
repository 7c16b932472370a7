"""What a worker process imports before its first batch: parmap's worker side, timed.

parmap's fork server preloads the worker side (``PRELOAD`` in
``parmap._backends.context``) and forks every worker from it, so the time those
imports take is paid once per fork server. This script imports them in fresh
interpreters with ``python -X importtime`` and reports the median total, and the
share of it that is parmap's own modules. With ``--before DIR`` (the checkout of
an earlier revision, e.g. made with ``git worktree add DIR REV``) the same is
measured for that tree in the same run, the repeats interleaved.

Run from the repository root::

    python benchmarks/bench_worker_import.py                      # this tree, 21 repeats
    python benchmarks/bench_worker_import.py --before ../old --old-module parmap._worker
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
#: What the fork server preloads today (see ``parmap._backends.context.PRELOAD``).
PRELOAD = ("parmap._worker.process", "concurrent.futures.process")


def measure(src: Path, modules: tuple[str, ...]) -> tuple[int, int]:
    """Microseconds to import `modules` from `src` in a fresh interpreter: (total, parmap's)."""
    env = {**os.environ, "PYTHONPATH": str(src)}
    code = "; ".join(f"import {module}" for module in modules)
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    total = own = 0
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line or "self [us]" in line:
            continue
        self_us, _cumulative, name = line.removeprefix("import time:").split("|")
        total += int(self_us)
        if name.strip().startswith("parmap"):
            own += int(self_us)
    return total, own


def main() -> None:
    """Measure, interleaved, and print a small table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=21)
    parser.add_argument("--before", type=Path, help="checkout of an earlier revision")
    parser.add_argument("--old-module", default="parmap._worker", help="its worker module")
    args = parser.parse_args()
    trees = {"this tree": (HERE.parent / "src", PRELOAD)}
    if args.before is not None:
        old = (args.old_module, "concurrent.futures.process")
        trees = {"before": (args.before / "src", old), **trees}
    times: dict[str, list[tuple[int, int]]] = {name: [] for name in trees}
    for _ in range(args.repeats):
        for name, (src, modules) in trees.items():
            times[name].append(measure(src, modules))
    print("| tree | modules | total import time (median) | parmap's own modules |")
    print("|---|---|---|---|")
    for name, (_, modules) in trees.items():
        total = statistics.median(t for t, _ in times[name]) / 1000
        own = statistics.median(o for _, o in times[name]) / 1000
        print(f"| {name} | {', '.join(modules)} | {total:.1f} ms | {own:.1f} ms |")


if __name__ == "__main__":
    main()
