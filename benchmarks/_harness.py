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
* the ``--repeats`` and ``--quick`` options (``repeat_parser``, ``parse_repeats``);
* for the scripts that also measure memory (``bench_stream.py``, ``bench_peers.py``):
  a fresh interpreter that waits for a go-ahead (``await_go``) while its parent
  takes the baseline of the RSS of its whole process tree and samples it from a
  thread (``TreeRssSampler``, ``run_fresh_sampled``), then checks that no worker
  outlived it.

``bench_crash.py`` uses only ``run_fresh``.

It imports no module at its top that ``bench_core.py`` and ``bench_stream.py`` do not
import themselves, so their measured children load the same modules as without it
(psutil, tempfile and threading are imported by the parent-side functions that need them).
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


# ------------------------------------------------- fresh interpreters, memory sampled

READY: Final = "ready"
"""What a measured child prints when it is ready to start the clock."""
GO: Final = "go"
"""What the parent answers, once it has taken the baseline and started sampling."""

SAMPLE_SECONDS: Final = 0.010
"""How often the sampler reads the RSS of every process of the tree."""
RESCAN_EVERY: Final = 5
"""The sampler looks for new descendants every this many samples (~50 ms).

Listing descendants walks all of ``/proc`` (about 1 ms of CPU, taken from the
contestants on a small machine); reading the RSS of the processes already known
costs a few tens of µs each. A
worker found up to ~50 ms late is still measured at its peak: pool workers live
for the whole run and their RSS does not shrink.
"""
LEFTOVER_GRACE_SECONDS: Final = 3.0
"""How long a descendant may outlive the measured process before it counts as left over."""


def status_bytes(field: str) -> int | None:
    """Return a ``kB`` field of ``/proc/self/status`` (e.g. ``VmHWM``) in bytes, or None."""
    try:
        with Path("/proc/self/status").open(encoding="ascii") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def reset_peak_rss() -> bool:
    """Reset this process's RSS high-water mark (``VmHWM``, Linux 4.0+); False if impossible."""
    try:
        Path("/proc/self/clear_refs").write_text("5", encoding="ascii")
    except OSError:
        return False
    return True


def await_go(what: str) -> None:
    """In a measured child: print ``READY``, then wait for the parent's ``GO`` on stdin.

    Call it just before starting the clock, with everything imported and prepared.
    """
    print(READY, flush=True)
    if sys.stdin.readline().strip() != GO:
        msg = f"{what}: the parent did not say {GO!r}"
        raise BenchmarkError(msg)


class TreeRssSampler:
    """Samples the summed RSS of a process and all its descendants, from a daemon thread.

    It runs in the benchmark's parent process, not in the measured one: there, a
    sampling thread would have to win the GIL from the contestant's threads for
    every file it reads (each read releases it), and with 32 busy threads it got
    only a handful of samples per second.
    """

    def __init__(self, pid: int, interval: float = SAMPLE_SECONDS) -> None:
        """Prepare to sample the tree rooted at `pid`; `start` takes the baseline."""
        import threading  # noqa: PLC0415 - parent side only (see the module docstring)

        import psutil  # noqa: PLC0415 - likewise; and not in a fork server's re-import

        self._psutil = psutil
        self._interval = interval
        self._root = psutil.Process(pid)
        self._known: dict[int, psutil.Process] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)
        self.baseline = 0
        self.peak = 0
        self.samples = 0

    def sample(self, *, rescan: bool = True) -> int | None:
        """Return the summed RSS of the tree in bytes (None once the root is gone).

        With `rescan`, look for new descendants first.
        """
        psutil = self._psutil
        try:
            if rescan:
                for child in self._root.children(recursive=True):
                    self._known.setdefault(child.pid, child)
            total = self._root.memory_info().rss
        except psutil.Error:
            return None
        for pid, proc in list(self._known.items()):
            try:
                total += proc.memory_info().rss
            except psutil.Error:  # exited (or a zombie): it holds no memory any more
                del self._known[pid]
        return total

    def _record(self, rss: int | None) -> None:
        if rss is not None:
            self.peak = max(self.peak, rss)
            self.samples += 1

    def _run(self) -> None:
        tick = 0
        while not self._stop.wait(self._interval):
            tick += 1
            self._record(self.sample(rescan=tick % RESCAN_EVERY == 0))

    def start(self) -> None:
        """Take the baseline (the tree as it is now) and start sampling."""
        baseline = self.sample()
        if baseline is None:
            msg = "the measured process is gone before its baseline was taken"
            raise BenchmarkError(msg)
        self.baseline = baseline
        self._record(baseline)
        self._thread.start()

    def stop(self) -> None:
        """Stop sampling, after one last sample of the tree as it is now."""
        self._stop.set()
        self._thread.join()
        self._record(self.sample())

    def reap_leftovers(self, grace: float = LEFTOVER_GRACE_SECONDS) -> list[str]:
        """After the root has exited: kill the descendants still alive ``grace`` seconds later.

        Returns their names; an empty list means every worker the sampler saw exited
        with (or soon after) the measured process.
        """
        psutil = self._psutil
        alive = []
        for proc in self._known.values():
            try:
                if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                    alive.append(proc)
            except psutil.Error:
                continue
        _gone, still = psutil.wait_procs(alive, timeout=grace)
        names = []
        for proc in still:
            try:
                names.append(f"{proc.name()} (pid {proc.pid})")
                proc.kill()
            except psutil.Error:
                continue
        return names


def run_fresh_sampled(
    script: str | Path,
    args: Sequence[str],
    *,
    what: str,
    timeout: float = CHILD_TIMEOUT_SECONDS,
) -> dict[str, Any]:
    """Like ``run_fresh``, but sample the RSS of the child's process tree while it measures.

    The child calls ``await_go`` just before its clock starts, and prints its JSON
    record as soon as its clock stops. Added to the record: ``rss_baseline_bytes``
    and ``rss_peak_bytes`` (the tree before the go-ahead, and its sampled peak until
    the record arrived), ``samples``, ``exit_seconds`` (from the go-ahead until the
    child had exited: what a deferred shut-down costs shows there) and
    ``leftover_processes`` (descendants still alive ``LEFTOVER_GRACE_SECONDS``
    after the child exited; they are killed).
    """
    import tempfile  # noqa: PLC0415 - parent side only (see the module docstring)
    import threading  # noqa: PLC0415 - likewise

    cmd = fresh_command(script, args)
    with (
        tempfile.TemporaryFile("w+", encoding="utf-8") as stderr,
        subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr, text=True
        ) as proc,
    ):
        if proc.stdin is None or proc.stdout is None:  # pragma: no cover - PIPE was asked for
            msg = "no pipes to the child"
            raise BenchmarkError(msg)
        killer = threading.Timer(timeout, proc.kill)
        killer.daemon = True
        killer.start()
        sampler: TreeRssSampler | None = None
        try:
            line = ""
            if proc.stdout.readline().strip() == READY:
                sampler = TreeRssSampler(proc.pid)
                sampler.start()
                try:
                    go = time.perf_counter()
                    proc.stdin.write(GO + "\n")
                    proc.stdin.flush()
                    line = proc.stdout.readline()  # printed as soon as the clock stopped
                finally:
                    sampler.stop()
            rest = proc.stdout.read()
            proc.wait()
            exited = time.perf_counter()
        finally:
            killer.cancel()
        leftovers = sampler.reap_leftovers() if sampler is not None else []
        if proc.returncode != 0 or not line.strip() or sampler is None:
            stderr.seek(0)
            raise child_failed(what, proc.returncode, line + rest, stderr.read())
    record: dict[str, Any] = json.loads(line)
    record["rss_baseline_bytes"] = sampler.baseline
    record["rss_peak_bytes"] = sampler.peak
    record["samples"] = sampler.samples
    record["exit_seconds"] = exited - go
    record["leftover_processes"] = leftovers
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


def publish(
    name: str,
    report: Mapping[str, Any],
    table: str,
    *,
    quick_repeats: int,
    rerun: str | None = None,
    title: str | None = None,
) -> None:
    """Print ``table``, and write ``results/NAME.json`` (the report) and ``results/NAME.md``.

    The Markdown file is the table between a header (``title``, by default "Name
    benchmark"; date, Python, CPUs, repeats) and a line on how to run the benchmark
    again (``rerun``, by default ``rerun_command(name)``).
    """
    print(table)
    json_path, md_path = RESULTS_DIR / f"{name}.json", RESULTS_DIR / f"{name}.md"
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    header = (
        f"# {title or name.capitalize() + ' benchmark'}\n\n"
        f"{report['date']}, Python {platform.python_version()}, "
        f"{report['environment']['usable_cpus']} usable CPUs, "
        f"{report['repeats']} interleaved repeats.\n\n"
    )
    footer = (
        f"\n\nRerun with `{rerun or rerun_command(name)}` from the repository root "
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
