"""Run code cells in a real Jupyter kernel started from this test run's Python; get their outputs.

    outputs = run_cells(["x = 1", "x + 1"])
    outputs[1]  # [{"output_type": "execute_result", "data": {"text/plain": "2"}, ...}]

The kernel is ``sys.executable -m ipykernel_launcher``, described by a
kernelspec written to a temporary directory: no kernelspec installed by hand
is used or needed. Cells run in order in one kernel; a cell that raises does
not stop the others (its output holds the error). The kernel is shut down
before `run_cells` returns, and every cell is bounded by `timeout`.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import nbformat
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient

if TYPE_CHECKING:
    from collections.abc import Sequence

KERNEL_NAME = "parmap-tests"

Output = dict[str, Any]


def run_cells(sources: Sequence[str], *, timeout: float = 60.0) -> list[list[Output]]:
    """Execute `sources` as the code cells of one notebook; return each cell's outputs."""
    notebook = nbformat.v4.new_notebook()  # type: ignore[no-untyped-call]
    notebook.cells = [
        nbformat.v4.new_code_cell(source)  # type: ignore[no-untyped-call]
        for source in sources
    ]
    with tempfile.TemporaryDirectory(prefix="parmap-nb-") as directory:
        kernels = Path(directory, "kernels")
        spec = kernels / KERNEL_NAME
        spec.mkdir(parents=True)
        argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
        kernel = {"argv": argv, "display_name": "parmap tests", "language": "python"}
        (spec / "kernel.json").write_text(json.dumps(kernel))
        manager = AsyncKernelManager(
            kernel_name=KERNEL_NAME,
            kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(kernels)]),
            transport="ipc",  # sockets in the temporary directory, not open TCP ports
            connection_file=str(Path(directory, "kernel.json")),
        )
        client = NotebookClient(
            notebook,
            km=manager,
            timeout=int(timeout),
            startup_timeout=int(timeout),
            allow_errors=True,
            resources={"metadata": {"path": directory}},  # the kernel's working directory
        )
        asyncio.run(client.async_execute(cleanup_kc=True))  # shuts the kernel down after
    return [list(cell.outputs) for cell in notebook.cells]


def text_of(outputs: list[Output], name: str = "stdout") -> str:
    """What a cell printed to one stream."""
    return "".join(o["text"] for o in outputs if o["output_type"] == "stream" and o["name"] == name)


def data_of(outputs: list[Output], mimetype: str) -> str:
    """The `mimetype` part of a cell's result or displayed objects, e.g. ``"text/html"``."""
    return "".join(
        o["data"].get(mimetype, "")
        for o in outputs
        if o["output_type"] in {"execute_result", "display_data"}
    )


def errors_of(outputs: list[Output]) -> list[str]:
    """The exceptions a cell raised, as ``"Name: value"``."""
    return [f"{o['ename']}: {o['evalue']}" for o in outputs if o["output_type"] == "error"]
