"""parmap in a real Jupyter kernel: cell-defined functions in processes, asyncio, rich display.

One kernel runs every cell below once (a kernel takes a second or more to
start); each test checks the outputs of its own cells.
"""

from __future__ import annotations

import pytest

from notebook import Output, data_of, errors_of, run_cells, text_of

CELLS = {
    "setup": """
import asyncio, os
from parmap import amap, parmap
""",
    "loop": """
try:
    asyncio.get_running_loop()
    print("running loop: yes")
except RuntimeError:
    print("running loop: no")
""",
    "cpu_function": """
def risky(x):
    if x == 3:
        raise ValueError(f"bad item {x}")
    return (x * x, os.getpid())

cpu = parmap(risky, range(6), kind="cpu", workers=2)
print("results", [r and r[0] for r in cpu.results], cpu.backend)
print("in another process", os.getpid() not in {r[1] for r in cpu.results if r})
error = cpu.errors[0]
print("error", type(error).__name__, error.index, error.type_name, error.message)
print(error.traceback)
""",
    "cpu_lambda": """
lam = parmap(lambda x: 10 // x, [5, 0, 2], kind="cpu")
print("results", lam.results)
print("error", lam.errors[0].type_name, lam.errors[0].index)
print(lam.errors[0].traceback)
""",
    "io": """
io = parmap(lambda x: x + 1, range(4), kind="io")
print("results", io.results, io.backend)
""",
    "display": "cpu",
    "async_blocking": """
async def twice(x):
    await asyncio.sleep(0)
    if x == 2:
        raise KeyError(x)
    return 2 * x

blocking = parmap(twice, range(4), workers=2)
print("results", blocking.results, blocking.backend)
print("sync", parmap(abs, [-1, -2]).results)
""",
    "progress": """
tracked = parmap(lambda x: x, range(50), progress=True)
print("progress done", tracked.total)
""",
    "async_awaited": """
awaited = await amap(twice, range(4), workers=2)
print("results", awaited.results, awaited.backend)
""",
}


@pytest.fixture(scope="module")
def outputs() -> dict[str, list[Output]]:
    """Every cell's outputs, by name, from one kernel run."""
    names = list(CELLS)
    results = run_cells([CELLS[name] for name in names], timeout=90)
    return dict(zip(names, results, strict=True))


pytestmark = pytest.mark.timeout(180)


def test_kernel_cells_run_inside_an_event_loop(outputs: dict[str, list[Output]]) -> None:
    """The premise: in a kernel, a cell's code runs while an event loop is running."""
    assert errors_of(outputs["setup"]) == []
    assert text_of(outputs["loop"]).strip() == "running loop: yes"


def test_cell_defined_function_runs_in_worker_processes(outputs: dict[str, list[Output]]) -> None:
    """A function defined in a cell runs with kind='cpu' in other processes."""
    cell = outputs["cpu_function"]
    assert errors_of(cell) == []
    text = text_of(cell)
    assert "results [0, 1, 4, None, 16, 25] processes ×2" in text
    assert "in another process True" in text


def test_cell_function_error_is_an_item_error_with_worker_traceback(
    outputs: dict[str, list[Output]],
) -> None:
    """Its error comes back as an ItemError carrying the traceback from the worker."""
    text = text_of(outputs["cpu_function"])
    assert "error ItemError 3 ValueError bad item 3" in text
    assert "Traceback (most recent call last)" in text
    assert ", in risky" in text
    assert 'raise ValueError(f"bad item {x}")' in text  # the cell's own line


def test_cell_defined_lambda_runs_in_worker_processes(outputs: dict[str, list[Output]]) -> None:
    """A lambda defined in a cell runs with kind='cpu'; its error is recorded per item."""
    cell = outputs["cpu_lambda"]
    assert errors_of(cell) == []
    text = text_of(cell)
    assert "results [2, None, 5]" in text
    assert "error ZeroDivisionError 1" in text
    assert "in <lambda>" in text


def test_io_kind_in_a_notebook(outputs: dict[str, list[Output]]) -> None:
    """kind='io' works in a notebook as in a script."""
    cell = outputs["io"]
    assert errors_of(cell) == []
    assert text_of(cell).startswith("results [1, 2, 3, 4] threads ×")


def test_summary_renders_as_an_html_table(outputs: dict[str, list[Output]]) -> None:
    """A Summary as a cell's result is shown as HTML: counts, time, throughput, backend, errors."""
    html = data_of(outputs["display"], "text/html")
    assert html.startswith("<div class='parmap-summary'>")
    assert "<table>" in html
    assert "6 items: 5 ok, 1 failed in " in html
    assert " items/s)" in html
    assert "processes ×2" in html
    assert "<code>ValueError</code></td><td>1</td>" in html
    assert "3: 3" in html  # the failed item: its index and the item
    assert "bad item 3" in html
    assert data_of(outputs["display"], "text/plain").startswith("<Summary total=6")


def test_coroutine_function_as_a_blocking_call_in_a_cell(outputs: dict[str, list[Output]]) -> None:
    """In a cell (a running loop), parmap(async_fn) and parmap(sync_fn) both work."""
    cell = outputs["async_blocking"]
    assert errors_of(cell) == []
    text = text_of(cell)
    assert "results [0, 2, None, 6] asyncio ×2" in text
    assert "sync [1, 2]" in text
    assert "never awaited" not in text_of(cell, "stderr")


def test_amap_awaited_at_the_top_level_of_a_cell(outputs: dict[str, list[Output]]) -> None:
    """await amap(...) in a cell runs on the kernel's own loop."""
    cell = outputs["async_awaited"]
    assert errors_of(cell) == []
    assert "results [0, 2, None, 6] asyncio ×2 (the caller's loop)" in text_of(cell)


def test_progress_is_a_widget_in_a_notebook(outputs: dict[str, list[Output]]) -> None:
    cell = outputs["progress"]
    assert not errors_of(cell)
    assert "progress done 50" in text_of(cell)
    widgets = [
        output
        for output in cell
        if "application/vnd.jupyter.widget-view+json" in output.get("data", {})
    ]
    assert widgets, cell  # tqdm.auto drew an ipywidgets bar, not text on stderr
