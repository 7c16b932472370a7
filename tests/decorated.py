"""Module-level decorated functions, for the decorator tests (process workers import this)."""

from __future__ import annotations

import os

from parmap import parallel


@parallel(kind="cpu", workers=2)
def square(x: int) -> int:
    """Square a number."""
    return x * x


@parallel
def where(x: int) -> tuple[int, int]:
    """The item and the process that ran it."""
    return x, os.getpid()
