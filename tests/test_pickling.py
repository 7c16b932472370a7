"""Functions sent by value keep their file name and source lines in worker tracebacks."""

from __future__ import annotations

import linecache
from typing import TYPE_CHECKING

from parmap import parmap

if TYPE_CHECKING:
    from collections.abc import Callable

CELL = """
def risky(x):
    if x == 1:
        raise ValueError("bad item")  # a line only this process knows
    return x
"""


def _define_in_cell(filename: str) -> Callable[[int], int]:
    """Define a function as a notebook kernel does: code in no file, lines in linecache only."""
    lines = CELL.splitlines(keepends=True)
    linecache.cache[filename] = (len(CELL), None, lines, filename)
    namespace: dict[str, object] = {"__name__": "__main__"}
    exec(compile(CELL, filename, "exec"), namespace)  # noqa: S102 - our own source
    return namespace["risky"]  # type: ignore[return-value]


def test_worker_traceback_shows_the_cells_lines() -> None:
    """A cell-like function's worker traceback names its 'file' and shows the raising line."""
    filename = "<parmap-test-cell-1>"
    try:
        risky = _define_in_cell(filename)
        summary = parmap(risky, [0, 1], kind="cpu", workers=1)
    finally:
        linecache.cache.pop(filename, None)
    traceback = summary.errors[0].traceback
    assert f'File "{filename}", line 4, in risky' in traceback
    assert 'raise ValueError("bad item")  # a line only this process knows' in traceback


def test_script_function_traceback_names_its_file() -> None:
    """A function of this (real) file keeps its path in the worker's traceback."""

    def fail(x: int) -> int:
        raise KeyError(x)

    summary = parmap(fail, [1], kind="cpu", workers=1)
    assert f'File "{__file__}"' in summary.errors[0].traceback
    assert "raise KeyError(x)" in summary.errors[0].traceback
