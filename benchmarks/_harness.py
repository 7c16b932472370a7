"""The harness the benchmark scripts share: how contestants are run, repeated and reported.

A script (``bench_core.py``, ``bench_stream.py``) knows its contestants and how
to measure one of them; this module does the rest the same way for all of them:

* run the script again in a fresh interpreter for each measurement, and read
  back the JSON record it prints last (``run_fresh``, ``fresh_command``);
* interleave the repeats, rotating the order of the contestants each round
  (``interleave``), and time the whole run and the machine's load around it;
* reduce the times to medians, min–max and ratios to a peer (``summarize``,
  ``versus``);
* describe the environment, and write ``results/NAME.json`` and
  ``results/NAME.md`` (``machine``, ``provenance``, ``report_head``, ``publish``);
* the ``--repeats`` and ``--quick`` options (``repeat_parser``, ``parse_repeats``).

``bench_crash.py`` uses only ``run_fresh``.

It imports no module that ``bench_core.py`` and ``bench_stream.py`` do not import
themselves, so their measured children load the same modules as without it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.metadata
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Generic, NamedTuple, TypeVar

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

HERE: Final = Path(__file__).resolve().parent
RESULTS_DIR: Final = HERE / "results"
CHILD_TIMEOUT_SECONDS: Final = 300
"""How long one measurement in a fresh interpreter may take before it is killed."""

R = TypeVar("R")


class BenchmarkError(RuntimeError):
    """A measurement failed, or its contestant did not do all its work correctly."""


# ------------------------------------------------------------------ fresh interpreters


def fresh_command(script: str | Path, args: Sequence[str]) -> list[str]:
    """Return the command that runs ``script`` with ``args`` in a fresh interpreter."""
    return [sys.executable, str(Path(script).resolve()), *args]


def child_failed(what: str, returncode: int | None, stdout: str, stderr: str) -> BenchmarkError:
    """Return the error for a child interpreter that failed, with everything it printed."""
    msg = (
        f"{what} failed (exit code {returncode}):\n"
        f"--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}"
    )
    return BenchmarkError(msg)


def run_fresh(
    script: str | Path,
    args: Sequence[str],
    *,
    what: str,
    timeout: float = CHILD_TIMEOUT_SECONDS,
) -> dict[str, Any]:
    """Run ``script`` with ``args`` in a fresh interpreter; return the JSON object it printed last.

    ``what`` names the measurement in the ``BenchmarkError`` raised if the child
    exits with an error or prints nothing.
    """
    proc = subprocess.run(
        fresh_command(script, args),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        raise child_failed(what, proc.returncode, proc.stdout, proc.stderr)
    record: dict[str, Any] = json.loads(lines[-1])
    return record


# ------------------------------------------------------------------ interleaved repeats


class Rounds(NamedTuple, Generic[R]):
    """What ``interleave`` measured, and how long it took."""

    raw: dict[str, dict[str, list[R]]]
    """The records, per group, per contestant, in round order."""
    repeats: int
    total_wall_seconds: float
    loadavg_before: tuple[float, float, float]
    loadavg_after: tuple[float, float, float]


def interleave(
    contestants: Mapping[str, Sequence[str]],
    repeats: int,
    measure: Callable[[str, str], R],
    describe: Callable[[R], str],
) -> Rounds[R]:
    """Measure every contestant of every group once per round, for ``repeats`` rounds.

    ``measure(group, tool)`` takes one measurement; ``describe(record)`` says what it
    found on the progress line printed to stderr after it. The order of the
    contestants of a group rotates each round, so that none always runs right
    after another and noise on a shared machine hits them all alike.
    """
    raw: dict[str, dict[str, list[R]]] = {
        group: {tool: [] for tool in tools} for group, tools in contestants.items()
    }
    width = max(len(group) for group in contestants)
    load_before = os.getloadavg()
    started = time.perf_counter()
    for round_no in range(repeats):
        for group, tools in contestants.items():
            shift = round_no % len(tools)
            for tool in [*tools[shift:], *tools[:shift]]:
                record = measure(group, tool)
                raw[group][tool].append(record)
                print(
                    f"  round {round_no + 1}: {group:{width}} {tool:15} {describe(record)}",
                    file=sys.stderr,
                )
    total = time.perf_counter() - started
    return Rounds(raw, repeats, total, load_before, os.getloadavg())


# ------------------------------------------------------------------------- statistics


def summarize(values: Sequence[float]) -> dict[str, float]:
    """Return the median, min and max of ``values``."""
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def versus(times: Sequence[float], peer_times: Sequence[float]) -> dict[str, Any]:
    """Compare one contestant's times with a peer's, measured in the same rounds.

    Returns the ratio of the medians, and the per-round ratios and their median.
    """
    per_round = [a / b for a, b in zip(times, peer_times, strict=True)]
    return {
        "ratio_of_medians": statistics.median(times) / statistics.median(peer_times),
        "median_paired_ratio": statistics.median(per_round),
        "paired_ratios": per_round,
    }


# ----------------------------------------------------------------- environment, results


def usable_cpus() -> int:
    """Return the number of CPUs this process may run on."""
    return len(os.sched_getaffinity(0))


def machine() -> dict[str, Any]:
    """Return the interpreter and the machine the benchmark runs on."""
    return {
        "python": sys.version,
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "usable_cpus": usable_cpus(),
    }


def git_revision() -> str | None:
    """Return the current git commit of the repository, if there is one."""
    try:
        proc = subprocess.run(
            ["git", "rev-parse", "HEAD"],  # noqa: S607  (git from PATH is fine here)
            capture_output=True,
            text=True,
            cwd=HERE,
            check=False,
        )
    except OSError:
        return None
    return proc.stdout.strip() if proc.returncode == 0 else None


def parmap_version() -> str | None:
    """Return the installed parmap version, or None if parmap is not installed."""
    try:
        return importlib.metadata.version("parmap")
    except importlib.metadata.PackageNotFoundError:
        return None


def provenance() -> dict[str, str | None]:
    """Return which parmap was measured: its installed version and the git commit."""
    return {"parmap_version": parmap_version(), "git_revision": git_revision()}


def rerun_command(name: str) -> str:
    """Return the command that runs the benchmark ``name`` from the repository root."""
    return f"python benchmarks/bench_{name}.py"


def report_head(name: str, rounds: Rounds[Any]) -> dict[str, Any]:
    """Return the first fields of a report: which benchmark, when, how, and how long."""
    return {
        "benchmark": name,
        "date": dt.datetime.now(tz=dt.UTC).isoformat(timespec="seconds"),
        "command": " ".join([rerun_command(name), *sys.argv[1:]]),
        "repeats": rounds.repeats,
        "total_wall_seconds": rounds.total_wall_seconds,
    }


def publish(name: str, report: Mapping[str, Any], table: str, *, quick_repeats: int) -> None:
    """Print ``table``, and write ``results/NAME.json`` (the report) and ``results/NAME.md``.

    The Markdown file is the table between a header (date, Python, CPUs, repeats)
    and a line on how to run the benchmark again.
    """
    print(table)
    json_path, md_path = RESULTS_DIR / f"{name}.json", RESULTS_DIR / f"{name}.md"
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    header = (
        f"# {name.capitalize()} benchmark\n\n"
        f"{report['date']}, Python {platform.python_version()}, "
        f"{report['environment']['usable_cpus']} usable CPUs, "
        f"{report['repeats']} interleaved repeats.\n\n"
    )
    footer = (
        f"\n\nRerun with `{rerun_command(name)}` from the repository root "
        f"(`--quick` for {quick_repeats} repeats).\n"
    )
    md_path.write_text(header + table + footer, encoding="utf-8")
    print(f"\nwrote {json_path} and {md_path}", file=sys.stderr)


# ------------------------------------------------------------------------ command line


def repeat_parser(doc: str | None, *, default: int, quick: int) -> argparse.ArgumentParser:
    """Return a parser described by the first paragraph of ``doc``, with the repeat options.

    They are ``--repeats N`` (``default`` when not given) and ``--quick`` (``quick``
    repeats, unless ``--repeats`` says otherwise).
    """
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0] if doc else None)
    parser.add_argument(
        "--repeats", type=int, default=None, help=f"interleaved repeats (default {default})"
    )
    parser.add_argument(
        "--quick", action="store_true", help=f"{quick} repeats instead of {default}"
    )
    return parser


def parse_repeats(
    parser: argparse.ArgumentParser, argv: Sequence[str] | None, *, default: int, quick: int
) -> argparse.Namespace:
    """Parse ``argv`` with a ``repeat_parser``; ``repeats`` becomes the number of repeats to run.

    Fewer than one repeat is a usage error.
    """
    args = parser.parse_args(argv)
    if args.repeats is not None and args.repeats < 1:
        parser.error("--repeats must be at least 1")
    args.repeats = args.repeats or (quick if args.quick else default)
    return args
