"""Memory stays flat on long streams: measured in a fresh interpreter, with psutil and /proc.

Each test writes a small script to ``tmp_path`` and runs it in a fresh
interpreter, so that nothing this test session allocated blurs the numbers.
The script takes a baseline just before the call and prints one JSON line:

* ``main_growth``: the calling process's peak RSS during the call, minus its
  RSS just before. Exact where Linux lets a process reset its high-water mark
  (``/proc/self/clear_refs``, then ``VmHWM``); otherwise sampled like the tree.
* ``tree_growth``: the peak of the summed RSS of the process and all its
  descendants, sampled every 10 ms by a psutil thread, minus that sum just
  before the call. With 32 threads busy in the same process, that thread gets
  few samples; ``main_growth`` covers the calling process exactly all the same.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pathlib import Path

MB = 1_000_000
#: The most a run may grow memory by, whatever the length of its input.
LIMIT_MB = 50
#: Seconds a child script may take (each takes 1-2 s on an idle 2-CPU machine).
CHILD_TIMEOUT = 40

_PRELUDE = '''
import itertools
import json
import threading
from pathlib import Path

import psutil

from parmap import imap, parmap

MB = 1_000_000


def reset_peak():
    """Reset this process's RSS high-water mark (VmHWM); False where Linux does not allow it."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def own_peak():
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


class Memory:
    """Baseline now; peaks of this process and of its whole tree until `stop`."""

    def __init__(self):
        self.me = psutil.Process()
        self.known = {}
        self.exact = reset_peak()
        self.main_base = self.main_peak = self.me.memory_info().rss
        self.tree_base = self.tree_peak = self.tree()
        self.samples = 0
        self.done = threading.Event()
        self.thread = threading.Thread(target=self.sample_until_done, daemon=True)
        self.thread.start()

    def tree(self):
        total = self.me.memory_info().rss
        self.main_peak = max(self.main_peak, total)
        for child in self.me.children(recursive=True):
            self.known.setdefault(child.pid, child)
        for pid, proc in list(self.known.items()):
            try:
                total += proc.memory_info().rss
            except psutil.Error:
                del self.known[pid]
        return total

    def sample_until_done(self):
        while not self.done.wait(0.010):
            self.tree_peak = max(self.tree_peak, self.tree())
            self.samples += 1

    def stop(self):
        """Stop sampling; return the growths in MB."""
        self.done.set()
        self.thread.join()
        self.tree_peak = max(self.tree_peak, self.tree())
        main_peak = own_peak() if self.exact else self.main_peak
        return {
            "main_growth": (main_peak - self.main_base) / MB,
            "tree_growth": (self.tree_peak - self.tree_base) / MB,
            "main_base": self.main_base / MB,
            "exact": self.exact,
            "samples": self.samples,
        }


def report(summary, memory):
    print(json.dumps({
        "total": summary.total,
        "succeeded": summary.succeeded,
        "failed": summary.failed,
        "error_indexes": [error.index for error in summary.errors],
        "error_types": sorted({error.type_name for error in summary.errors}),
        "results": len(summary.results),
        **memory,
    }))
'''

THREAD_ITEMS = 2_000_000
THREAD_EVERY = 100_000
PROCESS_ITEMS = 400_000
PROCESS_EVERY = 20_000
IMAP_OUTCOMES = 200_000


def threads_script(*, keep_results: bool) -> str:
    """2,000,000 strings of 100 bytes on threads; 20 of them fail."""
    return f"""
        def check(s):
            if int(s[-6:]) % {THREAD_EVERY} == 7:
                raise ValueError(s[-6:])
            return len(s)

        items = (f"{{i:0100d}}" for i in range({THREAD_ITEMS}))
        memory = Memory()
        summary = parmap(check, items, kind="io", keep_results={keep_results})
        report(summary, memory.stop())
    """


def processes_script() -> str:
    """400,000 strings of 1,000 bytes on processes; 20 of them fail."""
    return f"""
        def check(s):
            if int(s[-6:]) % {PROCESS_EVERY} == 7:
                raise ValueError(s[-6:])
            return len(s)

        items = (f"{{i:01000d}}" for i in range({PROCESS_ITEMS}))
        memory = Memory()
        summary = parmap(check, items, kind="cpu", keep_results=False)
        report(summary, memory.stop())
    """


def endless_imap_script() -> str:
    """imap over itertools.count on threads, left after 200,000 outcomes."""
    return f"""
        read = 0

        def endless():
            global read
            for i in itertools.count():
                read = i + 1
                yield i

        def square(x):
            return x * x

        memory = Memory()
        consumed = wrong = 0
        for outcome in imap(square, endless(), kind="io"):
            if outcome.index != consumed or outcome.value != consumed * consumed:
                wrong += 1
            consumed += 1
            if consumed == {IMAP_OUTCOMES}:
                break
        grown = memory.stop()
        print(json.dumps({{"consumed": consumed, "wrong": wrong, "read": read, **grown}}))
    """


def run_script(tmp_path: Path, body: str, timeout: float) -> dict[str, Any]:
    """Run the prelude and `body` in a fresh interpreter; return the JSON it printed last."""
    script = tmp_path / "memory_child.py"
    script.write_text(_PRELUDE + textwrap.dedent(body), encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHONPATH": ""},
        check=False,
    )
    lines = proc.stdout.strip().splitlines()
    assert proc.returncode == 0, f"exit code {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    assert lines, f"no output\n{proc.stderr}"
    report: dict[str, Any] = json.loads(lines[-1])
    return report


def grew(report: dict[str, Any]) -> str:
    return (
        f"peak RSS grew by {report['main_growth']:.1f} MB (this process), "
        f"{report['tree_growth']:.1f} MB (process tree); limit {LIMIT_MB} MB; "
        f"child's report: {json.dumps(report)}"
    )


def expected_failures(items: int, every: int) -> list[int]:
    return list(range(7, items, every))


def test_threads_stream_without_results_keeps_memory_flat(tmp_path: Path) -> None:
    """2M items on threads with keep_results=False: exact counts and errors, tree grows < 50 MB."""
    report = run_script(tmp_path, threads_script(keep_results=False), timeout=CHILD_TIMEOUT)

    assert report["total"] == THREAD_ITEMS
    assert report["succeeded"] == THREAD_ITEMS - 20
    assert report["failed"] == 20
    assert report["error_indexes"] == expected_failures(THREAD_ITEMS, THREAD_EVERY)
    assert report["error_types"] == ["ValueError"]
    assert report["results"] == 0
    assert report["main_growth"] < LIMIT_MB, grew(report)
    assert report["tree_growth"] < LIMIT_MB, grew(report)


def test_processes_stream_without_results_keeps_parent_memory_flat(tmp_path: Path) -> None:
    """400k 1 KB items on processes, keep_results=False: exact counts, parent grows < 50 MB."""
    report = run_script(tmp_path, processes_script(), timeout=CHILD_TIMEOUT)

    assert report["total"] == PROCESS_ITEMS
    assert report["succeeded"] == PROCESS_ITEMS - 20
    assert report["failed"] == 20
    assert report["error_indexes"] == expected_failures(PROCESS_ITEMS, PROCESS_EVERY)
    assert report["error_types"] == ["ValueError"]
    assert report["results"] == 0
    assert report["main_growth"] < LIMIT_MB, grew(report)


def test_imap_over_endless_input_keeps_memory_flat(tmp_path: Path) -> None:
    """imap over an endless generator: 200k outcomes in order, parent grows < 50 MB, then stops."""
    report = run_script(tmp_path, endless_imap_script(), timeout=CHILD_TIMEOUT)

    assert report["consumed"] == IMAP_OUTCOMES
    assert report["wrong"] == 0
    assert report["main_growth"] < LIMIT_MB, grew(report)


def test_a_process_run_does_not_load_openssl(tmp_path: Path) -> None:
    """A kind='cpu' run leaves `hashlib` (and OpenSSL's libcrypto, ~4 MB) unloaded in the caller."""
    script = tmp_path / "no_openssl.py"
    script.write_text(
        textwrap.dedent(
            """
            import sys

            from parmap import imap, parmap

            if __name__ == "__main__":
                assert parmap(abs, [-1, 2], kind="cpu", workers=1).results == [1, 2]
                assert [o.value for o in imap(abs, [-3], kind="cpu", workers=1)] == [3]
                print(sorted(m for m in ("hashlib", "_hashlib") if m in sys.modules))
            """
        )
    )
    done = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=CHILD_TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
