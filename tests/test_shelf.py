"""The shelf of one idle pool: its reaper shuts the pool down on time, woken only when needed."""

from __future__ import annotations

import threading

import pytest

from parmap._backends.shelf import Shelf


class FakePool:
    """A pool that records its shut-down."""

    def __init__(self) -> None:
        self.down = threading.Event()

    def reusable(self) -> bool:
        return not self.down.is_set()

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:  # noqa: FBT001, FBT002 - Executor's signature
        del wait, cancel_futures
        self.down.set()


class CountingCondition(threading.Condition):
    """A condition that counts how often it was notified, and tells when someone waits on it."""

    notified = 0

    def __init__(self, lock: threading.Lock) -> None:
        super().__init__(lock)
        self.waiting = threading.Event()

    def notify(self, n: int = 1) -> None:
        self.notified += 1
        super().notify(n)

    def wait(self, timeout: float | None = None) -> bool:
        self.waiting.set()
        return super().wait(timeout)


def counting(shelf: Shelf[FakePool]) -> CountingCondition:
    """Swap the shelf's condition (over the same lock) for one that counts its notifications."""
    wake = CountingCondition(shelf._lock)  # noqa: SLF001 - the reaper's own condition
    shelf._wake = wake  # noqa: SLF001
    return wake


@pytest.mark.timeout(30)
def test_a_later_deadline_does_not_wake_the_reaper() -> None:
    shelf: Shelf[FakePool] = Shelf("test-reaper", lambda: 60.0)
    wake = counting(shelf)
    pool = FakePool()
    shelf.give_back(pool)  # starts the reaper
    try:
        assert wake.waiting.wait(10)  # it waits for the pool's deadline
        for _ in range(20):  # a loop of calls: each leases the pool and gives it back
            assert shelf.lease(lambda _: True) is pool
            shelf.give_back(pool)
        assert wake.notified == 0
    finally:
        shelf.close()
    assert pool.down.is_set()


@pytest.mark.timeout(30)
def test_an_earlier_deadline_wakes_the_reaper_and_the_pool_goes_on_time() -> None:
    timeouts = iter([60.0, 0.05])
    shelf: Shelf[FakePool] = Shelf("test-reaper", lambda: next(timeouts))
    first, second = FakePool(), FakePool()
    shelf.give_back(first)  # idle for 60 s
    assert shelf.lease(lambda _: True) is first
    try:
        shelf.give_back(second)  # idle for 0.05 s: the reaper must not sleep on until the first's
        assert second.down.wait(10)
        assert not first.down.is_set()  # leased, never given back: not the shelf's to stop
    finally:
        shelf.close()
