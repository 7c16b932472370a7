"""Focused timings of start-up and of small calls: cold start, warm pool, kind="auto" on tiny items.

Each measurement runs in a fresh interpreter (imports done before the clock);
repeats are interleaved and the medians printed, with min–max. Cases:

- ``cold``: one ``parmap(square, [1], kind="cpu")`` call: the call alone, and the
  interpreter's exit after it (which stops the warm pool's workers);
- ``cold-pool-fs``: the same with a forkserver ``multiprocessing.Pool`` (``with``
  block, so start and stop), ``cold-ppe-fs`` with a forkserver ProcessPoolExecutor;
- ``warm50``: 50 consecutive ``parmap(square, range(100), kind="cpu")`` calls;
  ``warm50-ppe``: 50 times ``with ProcessPoolExecutor() as ex: list(ex.map(...))``
  (fork, the default on Linux before 3.14);
- ``auto``: ``parmap(square, range(200_000), kind="auto")``; ``serial``: the plain loop.

Run from the repository root: ``python benchmarks/bench_warm.py [--repeats 7] [case ...]``.
This is a check of parmap's own start-up and small-call costs; the side-by-side
comparison with every peer is another script's job.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
CASES = ("cold", "cold-pool-fs", "cold-ppe-fs", "warm50", "warm50-ppe", "auto", "serial")


def _measure(case: str) -> dict[str, float]:  # noqa: C901 - one branch per case
    sys.path.insert(0, str(HERE))
    import multiprocessing  # noqa: PLC0415
    from concurrent.futures import ProcessPoolExecutor  # noqa: PLC0415

    from _workloads import square  # noqa: PLC0415

    from parmap import parmap  # noqa: PLC0415

    start = time.perf_counter()
    if case == "cold":
        assert parmap(square, [1], kind="cpu").results == [1]  # noqa: S101
    elif case == "cold-pool-fs":
        with multiprocessing.get_context("forkserver").Pool() as pool:
            assert pool.map(square, [1]) == [1]  # noqa: S101
    elif case == "cold-ppe-fs":
        with ProcessPoolExecutor(mp_context=multiprocessing.get_context("forkserver")) as executor:
            assert list(executor.map(square, [1])) == [1]  # noqa: S101
    elif case == "warm50":
        for _ in range(50):
            assert parmap(square, range(100), kind="cpu").ok  # noqa: S101
    elif case == "warm50-ppe":
        fork = multiprocessing.get_context("fork")
        for _ in range(50):
            with ProcessPoolExecutor(mp_context=fork) as executor:
                assert len(list(executor.map(square, range(100)))) == 100  # noqa: S101
    elif case == "auto":
        summary = parmap(square, range(200_000), kind="auto")
        assert summary.succeeded == 200_000  # noqa: S101
    elif case == "serial":
        results = []
        for item in range(200_000):
            results.append(square(item))  # noqa: PERF401 - the loop a user would write
    return {"call": time.perf_counter() - start}


def _fresh(case: str) -> dict[str, float]:
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, __file__, "--child", case],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    record: dict[str, float] = json.loads(proc.stdout.strip().splitlines()[-1])
    record["process"] = time.perf_counter() - started
    return record


def main() -> None:
    """Run the cases interleaved, each in a fresh interpreter, and print medians."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cases", nargs="*", default=list(CASES))
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_measure(args.child)))
        return
    records: dict[str, list[dict[str, float]]] = {case: [] for case in args.cases}
    for round_no in range(args.repeats):
        shift = round_no % len(args.cases)
        for case in [*args.cases[shift:], *args.cases[:shift]]:
            records[case].append(_fresh(case))
    print(f"{'case':14} {'call median (min-max) ms':>30} {'whole process ms':>18}")
    for case, rows in records.items():
        calls = [1000 * row["call"] for row in rows]
        procs = [1000 * row["process"] for row in rows]
        print(
            f"{case:14} {statistics.median(calls):10.1f} ({min(calls):.1f}-{max(calls):.1f})"
            f"{statistics.median(procs):18.1f}"
        )


if __name__ == "__main__":
    main()
