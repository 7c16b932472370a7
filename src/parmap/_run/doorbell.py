"""Where finished batches wait for the dispatcher, which is woken once per several of them.

Waking a thread costs more than the bookkeeping of a batch: on two cores,
a hundred worker threads waking from their waits compete with the
dispatcher for the interpreter lock, and a dispatcher woken per finished
batch spends most of its time being woken. So finished futures queue up
here, and the dispatcher is rung only once `threshold` of them are in (a
few), then takes them all at once. It sets the threshold itself, never above
what is still outstanding, so the bell always rings.

A worker putting a future takes no lock (a thousand threads would queue for
it): the queue is a deque, the count an `itertools.count`, and the bell is
rung only when it is not rung already.
"""

from __future__ import annotations

import itertools
import threading
from collections import deque
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from concurrent.futures import Future

__all__ = ["Doorbell"]


class Doorbell:
    """Finished futures, handed to one waiting dispatcher in bunches.

    Examples:
        >>> from concurrent.futures import Future
        >>> bell = Doorbell()
        >>> done = Future()
        >>> done.set_result(1)
        >>> bell.put(done)
        >>> bell.take(1, timeout=1.0) == [done]
        True
        >>> bell.take(1, timeout=0.0)
        []
    """

    def __init__(self) -> None:
        """No future finished yet."""
        self._finished: deque[Future[object]] = deque()
        self._puts = itertools.count(1)  # next() is the number of futures put so far
        self._taken = 0  # futures taken so far (the dispatcher's own count)
        self._ring_at = 1  # ring once this many futures have been put in all
        self._rung = threading.Event()

    def put(self, future: Future[object]) -> None:
        """Queue a finished `future` (any thread; a done-callback); ring once enough are in."""
        self._finished.append(future)  # before counting it: a counted future is always queued
        if next(self._puts) >= self._ring_at and not self._rung.is_set():
            self._rung.set()

    def pending(self) -> bool:
        """Whether some finished future waits to be taken."""
        return bool(self._finished)

    def take(self, threshold: int, timeout: float) -> list[Future[object]]:
        """Every finished future, once `threshold` are in or `timeout` seconds passed.

        `threshold` must not exceed the futures still to finish (those not
        yet taken), or this waits for the whole `timeout`. The list is empty
        when the timeout passed with none finished, or, rarely, when a put
        that counted after an earlier take rang for a future that take had.
        """
        threshold = max(1, threshold)
        self._rung.clear()
        self._ring_at = self._taken + threshold  # a put that read the old one rings early
        if len(self._finished) < threshold:
            self._rung.wait(timeout)
        finished = self._finished
        taken = [finished.popleft() for _ in range(len(finished))]
        self._taken += len(taken)
        return taken
