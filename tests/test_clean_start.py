"""Worker processes start clean: scripts run as users write them, each in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

#: Seconds a whole script may take; it needs about one.
SCRIPT_TIMEOUT = 120


def run_script(directory: Path, source: str, name: str = "script.py") -> str:
    """Run `source` as a script in `directory`, return its stdout; fail on a non-zero exit."""
    path = directory / name
    path.write_text(textwrap.dedent(source))
    env = {**os.environ, "PYTHONPATH": ""}
    proc = subprocess.run(
        [sys.executable, str(path)],
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=SCRIPT_TIMEOUT,
        env=env,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_script_without_main_guard_runs_its_top_level_once(tmp_path: Path) -> None:
    """A script without a `__main__` guard works with kind="cpu"; its top level runs once."""
    out = run_script(
        tmp_path,
        """
        import os
        from parmap import parmap
        print("top level", flush=True)
        summary = parmap(lambda x: (x * x, os.getpid()), range(20), kind="cpu", workers=2)
        print("results", [value for value, _ in summary.results])
        print("in parent", any(pid == os.getpid() for _, pid in summary.results))
        """,
    )
    assert out.count("top level") == 1
    assert f"results {[x * x for x in range(20)]}" in out
    assert "in parent False" in out


def test_main_module_functions_classes_and_closures(tmp_path: Path) -> None:
    """Lambdas, closures, local functions calling local helpers and __main__ classes all work."""
    out = run_script(
        tmp_path,
        """
        from parmap import parmap

        class Point:
            def __init__(self, x):
                self.x = x

        def helper(p):
            return Point(p.x + 1)

        def make_closure(offset):
            def local(p):
                return helper(p).x + offset
            return local

        summary = parmap(make_closure(100), [Point(i) for i in range(5)], kind="cpu")
        print("closure", summary.results)
        back = parmap(helper, [Point(1)], kind="cpu").results[0]
        print("class round trip", type(back) is Point, back.x)
        """,
    )
    assert "closure [101, 102, 103, 104, 105]" in out
    assert "class round trip True 2" in out


def test_function_from_sibling_module(tmp_path: Path) -> None:
    """A script calling a function from a module beside it works with kind='cpu'."""
    (tmp_path / "shapes.py").write_text("def area(side):\n    return side * side\n")
    out = run_script(
        tmp_path,
        """
        from parmap import parmap
        import shapes
        print(parmap(shapes.area, range(6), kind="cpu").results)
        """,
    )
    assert "[0, 1, 4, 9, 16, 25]" in out


def test_workers_are_not_forked_from_the_caller(tmp_path: Path) -> None:
    """Workers are children of parmap's fork server, not fork()s of the calling process."""
    out = run_script(
        tmp_path,
        """
        import os, threading
        from parmap import parmap
        lock = threading.Lock()
        lock.acquire()  # a lock held in the parent: a forked child would inherit it held
        parents = parmap(lambda _: os.getppid(), range(4), kind="cpu").results
        print("forked from caller", any(p == os.getpid() for p in parents))
        """,
    )
    assert "forked from caller False" in out


def test_errors_from_main_module_exceptions(tmp_path: Path) -> None:
    """An exception class defined in the script comes back as that class, with the traceback."""
    out = run_script(
        tmp_path,
        """
        from parmap import parmap

        class ApiError(Exception):
            pass

        def call(x):
            if x == 2:
                raise ApiError(f"item {x} refused")
            return x

        summary = parmap(call, range(4), kind="cpu")
        error = summary.errors[0]
        print("type", type(error.exception) is ApiError, error.type_name)
        print("traceback mentions call", "in call" in error.traceback)
        """,
    )
    assert "type True __main__.ApiError" in out
    assert "traceback mentions call True" in out


def test_callers_start_method_is_left_alone(tmp_path: Path) -> None:
    """After a cpu run, the caller can still choose multiprocessing's start method."""
    out = run_script(
        tmp_path,
        """
        import multiprocessing
        from parmap import parmap
        print(parmap(abs, [-1, -2], kind="cpu").results)
        multiprocessing.set_start_method("spawn")
        print("start method", multiprocessing.get_start_method())
        """,
    )
    assert "[1, 2]" in out
    assert "start method spawn" in out
