"""A killed caller leaves no worker process behind (the victim runs in a subprocess)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from typing import TYPE_CHECKING

import psutil

if TYPE_CHECKING:
    from pathlib import Path

SCRIPT = """
import os, threading
from parmap import parmap

def stuck(x):
    os.write(1, f"started {os.getpid()}\\n".encode())
    threading.Event().wait(120)
    return x

parmap(stuck, range(4), kind="cpu", workers=2, batch_size=1)
"""


def test_workers_exit_when_the_caller_is_killed(tmp_path: Path) -> None:
    """kill -9 of the calling process: its busy workers exit on their own within seconds."""
    script = tmp_path / "victim.py"
    script.write_text(textwrap.dedent(SCRIPT))
    proc = subprocess.Popen(
        [sys.executable, str(script)],
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": ""},
    )
    try:
        assert proc.stdout is not None
        pids = [int(proc.stdout.readline().split()[1]) for _ in range(2)]
        workers = [psutil.Process(pid) for pid in pids]
        family = psutil.Process(proc.pid).children(recursive=True)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        _, alive = psutil.wait_procs(workers, timeout=10)
        assert alive == []
        _, helpers = psutil.wait_procs(family, timeout=10)  # fork server, resource tracker
        assert helpers == []
    finally:
        proc.kill()
        if proc.stdout is not None:
            proc.stdout.close()
