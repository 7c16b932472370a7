"""Whether this process is a worker of a parmap process pool (set when a worker starts)."""

from __future__ import annotations

__all__ = ["in_worker_process", "mark_worker_process"]

_in_worker_process = False


def in_worker_process() -> bool:
    """Whether this process is a worker of a parmap process pool."""
    return _in_worker_process


def mark_worker_process() -> None:
    """Say that this process is a worker: parmap calls made in it run on threads."""
    global _in_worker_process  # noqa: PLW0603 - per-process state is the point
    _in_worker_process = True
