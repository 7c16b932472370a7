"""``rate=``: item starts spaced evenly, shared by every worker of a run, threads or processes.

A `Pacer` hands out start times ``1/rate`` seconds apart (a virtual
schedule: each start takes the next free slot, never one in the past), so
any one-second window holds at most ``rate`` starts, plus one at its edges.
The schedule lives in a small file (in ``/dev/shm`` where there is one),
guarded by ``flock``: worker processes share it whatever started them and
however the pacer reached them (pickled with the job, by path), and the
clock is ``CLOCK_MONOTONIC``, which is the same for every process of the
machine. Threads of one process also take a lock of their own, since
``flock`` does not tell threads apart.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import struct
import tempfile
import threading
import time
from pathlib import Path
from typing import Final

__all__ = ["Pacer"]

_SLOT: Final = struct.Struct("d")  # the monotonic time of the next free start


class Pacer:
    """Spaces the starts of one run's items ``1/rate`` seconds apart, across processes.

    Made by the calling process, which also `close`s it (removing the file);
    it travels to worker processes by pickling, as its path and rate.

    Examples:
        >>> pacer = Pacer(1000.0)
        >>> first = pacer.wait()
        >>> second = pacer.wait()
        >>> second - first >= 0.001 - 1e-9
        True
        >>> pacer.close()
    """

    def __init__(self, rate: float, *, path: str | None = None) -> None:
        """Start a schedule of `rate` starts per second (a new file unless `path` is given)."""
        self.rate = rate
        self._interval = 1.0 / rate
        if path is None:
            folder = "/dev/shm" if Path("/dev/shm").is_dir() else None  # noqa: S108 - memory
            fd, path = tempfile.mkstemp(prefix="parmap-rate-", dir=folder)
            os.write(fd, _SLOT.pack(0.0))
            os.close(fd)
            self._owner = True
        else:
            self._owner = False
        self.path = path
        self._fd: int | None = None
        self._lock = threading.Lock()

    def __reduce__(self) -> tuple[object, ...]:
        return (_attach, (self.rate, self.path))

    def wait(self) -> float:
        """Wait for this start's turn; return its scheduled (monotonic) time."""
        start = self.reserve()
        delay = start - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        return start

    def reserve(self) -> float:
        """Take the next free start time (monotonic), without waiting for it."""
        with self._lock:
            fd = self._open()
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                now = time.monotonic()
                (free,) = _SLOT.unpack(os.pread(fd, _SLOT.size, 0))
                start: float = max(now, free)
                os.pwrite(fd, _SLOT.pack(start + self._interval), 0)
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        return start

    def _open(self) -> int:
        if self._fd is None:
            self._fd = os.open(self.path, os.O_RDWR | os.O_NOFOLLOW)
        return self._fd

    def __del__(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)

    def close(self) -> None:
        """Release the file; the process that made the schedule also removes it."""
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
            if self._owner:
                with contextlib.suppress(FileNotFoundError):
                    Path(self.path).unlink()
                self._owner = False


def _attach(rate: float, path: str) -> Pacer:
    """A worker's handle on the schedule made by the calling process."""
    return Pacer(rate, path=path)
