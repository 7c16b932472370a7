"""Workload functions shared by every contestant of the benchmark scripts (``bench_*.py``).

They live in their own importable module, not in the script, so that every
contestant runs the very same function object: ``ProcessPoolExecutor`` workers
unpickle functions by reference (they must be able to import this module), and
parmap ships them with cloudpickle (also by reference, for an importable module).
"""

from __future__ import annotations

import time

WAIT_SECONDS = 0.010
"""How long one item of the "wait" workload sleeps (a simulated I/O wait)."""

NAP_SECONDS = 0.001
"""How long one item of ``bench_journal.py``'s "wait" workload sleeps."""

FAIL_EVERY = 3
"""Every this many-th item of the "wait_fail" workload raises ``ValueError``."""


def wait(item: int) -> int:
    """Sleep for ``WAIT_SECONDS`` (releasing the GIL, like real I/O) and return ``item``."""
    time.sleep(WAIT_SECONDS)
    return item


def fails(item: int) -> bool:
    """Return whether ``wait_or_fail(item)`` raises: every ``FAIL_EVERY``-th item (2, 5, 8, ...)."""
    return item % FAIL_EVERY == FAIL_EVERY - 1


def wait_or_fail(item: int) -> int:
    """Like ``wait``, then raise ``ValueError`` if ``fails(item)``; otherwise return ``item``."""
    time.sleep(WAIT_SECONDS)
    if fails(item):
        msg = f"item {item}: one item in {FAIL_EVERY} fails"
        raise ValueError(msg)
    return item


def wait_or_fail_caught(item: int) -> int | Exception:
    """Return ``wait_or_fail(item)``, or the exception it raised: a user's try/except wrapper."""
    try:
        return wait_or_fail(item)
    except Exception as exc:  # noqa: BLE001 - every failure is data here, as in parmap
        return exc


def spin(loop_size: int) -> int:
    """Burn CPU in a pure-Python loop of ``loop_size`` steps; return ``sum(range(loop_size))``."""
    total = 0
    for i in range(loop_size):
        total += i
    return total


def nap(item: int) -> int:
    """Sleep for ``NAP_SECONDS`` (releasing the GIL) and return ``item``."""
    time.sleep(NAP_SECONDS)
    return item


def spin_then(loop_size: int, item: int) -> int:
    """Run ``spin(loop_size)`` and return ``item``: the same work for every item, told apart.

    ``bench_journal.py`` binds ``loop_size`` with ``functools.partial``; its items
    must all differ (each is a row of the journal) yet cost the same.
    """
    spin(loop_size)
    return item


def spin_expected(loop_size: int) -> int:
    """Return what ``spin(loop_size)`` returns, in closed form (to check results cheaply)."""
    return loop_size * (loop_size - 1) // 2


def square(item: int) -> int:
    """Return ``item * item``: a near-free item, so that per-item overhead is all that counts."""
    return item * item


def squares_sum(count: int) -> int:
    """Return ``sum(square(i) for i in range(count))`` in closed form, to check results cheaply."""
    return (count - 1) * count * (2 * count - 1) // 6


def calibrate_spin(target_seconds: float) -> int:
    """Return a loop size for which ``spin`` takes about ``target_seconds`` on this machine.

    The fastest of 25 timed runs of a probe loop, scaled; at least 1000 steps. The
    fastest, not the median: on a busy machine most runs wait for a CPU, and a loop
    sized from them would be far shorter than ``target_seconds`` on an idle CPU.
    """
    probe = 100_000
    spin(probe)  # warm up
    timings = []
    for _ in range(25):
        start = time.perf_counter()
        spin(probe)
        timings.append(time.perf_counter() - start)
    return max(1000, round(probe * target_seconds / min(timings)))
