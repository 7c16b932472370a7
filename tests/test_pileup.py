"""Idle pools never pile up: however many and however varied the calls, what stays alive is bounded.

The calls run in a fresh interpreter of their own, so that no pool or thread
left by another test counts, and a call that leaves something behind cannot
hurt the other tests.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pathlib import Path

#: 30 calls: kinds in turn io, cpu, auto; worker counts in turn 1, 2, 3, 4, 2; every
#: 7th call a kind="cpu" lambda; kind="auto" alternately on computing items (processes),
#: waiting ones (threads) and trivial ones (the calling thread). One item per batch, so
#: that every call starts all the workers it asked for. After each call the script
#: prints the live child processes (zombies not counted) and threads.
SCRIPT = """
import json
import threading
import time

import psutil

from parmap import parmap


def square(x):
    return x * x


def burn(x):
    deadline = time.thread_time() + 0.005
    while time.thread_time() < deadline:
        pass
    return x


def nap(x):
    time.sleep(0.002)
    return x


def children():
    alive = 0
    for child in psutil.Process().children(recursive=True):
        try:
            if child.status() != psutil.STATUS_ZOMBIE:
                alive += 1
        except psutil.Error:
            pass
    return alive


if __name__ == "__main__":
    kinds = ["io", "cpu", "auto"]
    counts = [1, 2, 3, 4, 2]
    autos = [burn, nap, square]
    seen = []
    for run in range(30):
        kind = kinds[run % len(kinds)]
        workers = counts[run % len(counts)]
        fn = autos[(run // len(kinds)) % len(autos)] if kind == "auto" else square
        if run % 7 == 6:
            kind, fn = "cpu", lambda x: x + 1
        items = range(12 if fn is burn else 40)
        summary = parmap(fn, items, kind=kind, workers=workers, batch_size=1)
        assert summary.ok, summary
        seen.append(
            {
                "kind": kind,
                "workers": workers,
                "backend": summary.backend,
                "children": children(),
                "threads": threading.active_count(),
                "names": sorted(t.name for t in threading.enumerate()),
            }
        )
    print(json.dumps(seen))
"""

#: Threads of parmap's own that may stay alive beside the main thread while a pool is
#: idle, whatever the number of calls: the warm pools' reaper, an idle process pool's
#: result manager, queue feeder and watchdog, with room for one more.
HELPER_THREADS = 6


@pytest.mark.timeout(150)
def test_processes_and_threads_left_alive_stay_bounded(tmp_path: Path) -> None:
    """After each of 30 mixed calls: children ≤ max(workers) + 2, and threads stop growing.

    The 2 are the fork server and the resource tracker. Threads after calls
    11 to 30 never exceed the most seen after the first 10 (which went through
    every kind and worker count), nor max(workers) + `HELPER_THREADS` (room for a
    warm thread pool, whose idle threads never outnumber the largest call's workers).
    """
    script = tmp_path / "calls.py"
    script.write_text(textwrap.dedent(SCRIPT))
    proc = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=140,
        env={**os.environ, "PYTHONPATH": ""},
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    seen = json.loads(proc.stdout)
    assert len(seen) == 30
    assert {run["kind"] for run in seen} == {"io", "cpu", "auto"}
    assert {run["backend"].split(" ")[0] for run in seen if run["kind"] == "auto"} == {
        "processes",
        "threads",
        "calling",
    }
    most = max(run["workers"] for run in seen)
    assert most == 4
    too_many = [(n, run) for n, run in enumerate(seen, 1) if run["children"] > most + 2]
    assert too_many == []
    early = max(run["threads"] for run in seen[:10])
    grown = [(n, run) for n, run in enumerate(seen, 1) if n > 10 and run["threads"] > early]
    assert grown == []
    assert max(run["threads"] for run in seen) <= most + HELPER_THREADS, seen[-1]["names"]
