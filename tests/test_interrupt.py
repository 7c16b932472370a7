"""Ctrl-C: SIGINT sent to a script running parmap stops it promptly, leaving no worker behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from typing import TYPE_CHECKING

import psutil
import pytest

if TYPE_CHECKING:
    from pathlib import Path

#: Seconds the script may take to stop after SIGINT ("within a few seconds").
STOP_WITHIN = 5.0

SCRIPT = """
import os, signal, sys, time
from parmap import parmap

# Ctrl-C raises KeyboardInterrupt, as in a terminal, even when the test runs with SIGINT
# ignored (a background job): the script would inherit that, and ignore the signal sent.
signal.signal(signal.SIGINT, signal.default_int_handler)

def busy(x):
    os.write(1, f"started {x}\\n".encode())  # one write: lines from threads never interleave
    end = time.monotonic() + 60
    while time.monotonic() < end:
        pass
    return x

try:
    parmap(busy, range(10), kind=sys.argv[1], workers=2, batch_size=1)
except KeyboardInterrupt as exc:
    print("interrupted; accounted for", exc.summary.total, flush=True)
    raise
"""


@pytest.mark.parametrize("group", [False, True], ids=["main-process", "process-group"])
@pytest.mark.parametrize("kind", ["cpu", "io"])
def test_sigint_stops_a_busy_run(tmp_path: Path, kind: str, group: bool) -> None:  # noqa: FBT001
    """One SIGINT (to the main process, or to the whole group as Ctrl-C does) stops a busy run."""
    script = tmp_path / "busy.py"
    script.write_text(textwrap.dedent(SCRIPT))
    with subprocess.Popen(
        [sys.executable, str(script), kind],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": ""},
        start_new_session=True,  # its own process group, as a terminal gives a program
    ) as proc:  # a script that did not stop is killed and reaped here, not in a later test
        try:
            assert proc.stdout is not None
            seen = [proc.stdout.readline(), proc.stdout.readline()]  # both workers busy
            assert all(line.startswith("started") for line in seen), seen
            family = psutil.Process(proc.pid).children(recursive=True)
            sent = time.monotonic()
            if group:
                os.killpg(proc.pid, signal.SIGINT)
            else:
                proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=30)
            took = time.monotonic() - sent
        finally:
            proc.kill()
    assert "interrupted; accounted for 0" in out
    assert "KeyboardInterrupt" in err
    assert "leaked" not in err, err
    assert proc.returncode != 0
    assert took < STOP_WITHIN, f"took {took:.1f} s to stop"
    _, alive = psutil.wait_procs(family, timeout=10)
    survivors = [p for p in alive if "forkserver" not in " ".join(p.cmdline())]
    assert survivors == []
