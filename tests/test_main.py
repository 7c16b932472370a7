"""The built-in demo, ``python -m parmap``: it runs, explains itself, and prints the Summary."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest

from parmap.__main__ import _failure, main

if TYPE_CHECKING:
    from parmap import Kind

#: Seconds a demo run in a subprocess may take before the test fails (it needs ~2).
SUBPROCESS_TIMEOUT = 60


def _run_module(*args: str) -> subprocess.CompletedProcess[str]:
    """Run ``python -m parmap`` with `args` in a fresh interpreter, capturing its output."""
    return subprocess.run(
        [sys.executable, "-m", "parmap", *args],
        capture_output=True,
        text=True,
        encoding="utf-8",
        env={**os.environ, "PYTHONIOENCODING": "utf-8"},
        timeout=SUBPROCESS_TIMEOUT,
        check=False,
    )


def _expected_failures(items: int, kind: Kind) -> int:
    return sum(_failure(item, kind) is not None for item in range(items))


def test_io_demo_prints_the_summary(capsys: pytest.CaptureFixture[str]) -> None:
    """On threads, the demo returns 0 and prints the Summary with its failure count."""
    assert main(["--items", "40", "--workers", "20"]) == 0
    out = capsys.readouterr().out
    failed = _expected_failures(40, "io")
    assert failed > 0
    assert f"40 items: {40 - failed} ok, {failed} failed" in out
    assert "threads" in out
    assert "ConnectionError" in out
    assert "summary.errors[0].traceback" in out


def test_cpu_demo_runs_on_processes(capsys: pytest.CaptureFixture[str]) -> None:
    """With ``--kind cpu`` the demo runs its computation on worker processes."""
    assert main(["--kind", "cpu", "--items", "12", "--workers", "2"]) == 0
    out = capsys.readouterr().out
    failed = _expected_failures(12, "cpu")
    assert f"12 items: {12 - failed} ok, {failed} failed" in out
    assert "processes" in out
    assert 'kind="cpu"' in out


def test_bad_count_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    """A count below 1 is a usage error (exit status 2) that says what was expected."""
    with pytest.raises(SystemExit) as exit_info:
        main(["--items", "0"])
    assert exit_info.value.code == 2
    assert "positive whole number" in capsys.readouterr().err


def test_help_explains_the_demo() -> None:
    """``python -m parmap --help`` exits 0 and says what the demo does and what it takes."""
    done = _run_module("--help")
    assert done.returncode == 0, done.stderr
    assert "demo of parmap" in done.stdout
    assert "slow web API" in done.stdout
    for option in ("--items", "--workers", "--kind"):
        assert option in done.stdout


def test_default_run_finishes_and_prints_the_summary() -> None:
    """``python -m parmap`` with no arguments finishes, exits 0 and prints the Summary."""
    done = _run_module()
    assert done.returncode == 0, done.stderr
    failed = _expected_failures(200, "io")
    assert f"200 items: {200 - failed} ok, {failed} failed" in done.stdout
    assert "threads \N{MULTIPLICATION SIGN}50" in done.stdout
    assert "x the speed of the for-loop" in done.stdout
