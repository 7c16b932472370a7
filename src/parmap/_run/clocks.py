"""The clocks a kind="auto" probe reads beside wall and CPU: waiting for a CPU, and collections.

Time a sample spent waiting for a CPU (another process ran) or in the garbage
collector (set off by anything, scanning objects made long before) is not the
sample's work: the probe leaves both out.
"""

from __future__ import annotations

import gc
import os
import threading
import time
from typing import TYPE_CHECKING, Self

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["Collections", "CpuQueue", "cpu_queue_seconds"]


class CpuQueue:
    """`cpu_queue_seconds` from a file kept open: ~1 µs a reading instead of ~30 µs.

    The file is the calling thread's own, so it is read in the thread that opened it.
    """

    def __init__(self) -> None:
        """Not open until entered."""
        self._fd = -1

    def __enter__(self) -> Callable[[], float]:
        """Open this thread's schedstat file; return what reads it."""
        try:
            self._fd = os.open("/proc/thread-self/schedstat", os.O_RDONLY)
        except OSError:
            return cpu_queue_seconds
        return self._read

    def __exit__(self, *_: object) -> None:
        """Close the file."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def _read(self) -> float:
        try:
            return int(os.pread(self._fd, 128, 0).split()[1]) / 1e9
        except (OSError, IndexError, ValueError):
            return 0.0


class Collections:
    """Seconds the garbage collector has run since entering: `seconds` in all, `on` a thread.

    A collection stops every thread of the process (it holds the GIL); one set off
    by objects made long before (a young input list of 200,000 items takes ~1.5 ms
    to scan) would otherwise count as the time of the sample it fell in.
    """

    def __init__(self) -> None:
        """Nothing counted yet; counting starts when entered."""
        self.seconds = 0.0
        self._threads: dict[int, float] = {}
        self._began = 0.0

    def __enter__(self) -> Self:
        """Start counting: a callback of the collector's, until exit."""
        gc.callbacks.append(self._callback)
        return self

    def __exit__(self, *_: object) -> None:
        """Stop counting."""
        gc.callbacks.remove(self._callback)

    def _callback(self, phase: str, _info: dict[str, int]) -> None:
        if phase == "start":
            self._began = time.perf_counter()
        elif self._began:
            took = time.perf_counter() - self._began
            self.seconds += took
            ident = threading.get_ident()  # a collection runs in the thread that set it off
            self._threads[ident] = self._threads.get(ident, 0.0) + took
            self._began = 0.0

    def on(self, ident: int) -> float:
        """Seconds of collections run in the thread `ident`."""
        return self._threads.get(ident, 0.0)


def cpu_queue_seconds() -> float:
    """Seconds this thread has spent waiting for a CPU (Linux schedstat), or 0 where unknown."""
    try:
        with open("/proc/thread-self/schedstat", encoding="ascii") as f:  # noqa: PTH123
            return int(f.read().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return 0.0
