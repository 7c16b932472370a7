"""Where finished batches wait for the dispatcher, which is woken once per several of them.

Waking a thread costs more than the bookkeeping of a batch: on two cores,
a hundred worker threads waking from their waits compete with the
dispatcher for the interpreter lock, and a dispatcher woken per finished
batch spends most of its time being woken. So finished futures queue up
here, and the dispatcher is rung only once `threshold` of them are in (a few),
then takes them all at once. It sets the threshold itself, to a fraction
of the batches in flight: the batches queued behind the running ones keep
the workers busy meanwhile, and a threshold never above what is still
outstanding means the bell always rings.
"""

from __future__ import annotations

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
        self._lock = threading.Lock()
        self._rung = threading.Event()
        self._count = 0  # futures put since the last take
        self._threshold = 1

    def put(self, future: Future[object]) -> None:
        """Queue a finished `future` (any thread; a done-callback); ring once enough are in."""
        self._finished.append(future)  # before counting it: a counted future is always queued
        with self._lock:
            self._count += 1
            if self._count >= self._threshold:
                self._rung.set()

    def pending(self) -> bool:
        """Whether some finished future waits to be taken."""
        return bool(self._finished)

    def take(self, threshold: int, timeout: float) -> list[Future[object]]:
        """Every finished future, once `threshold` are in or `timeout` seconds passed.

        `threshold` must not exceed the futures still to finish (those not
        yet taken), or this waits for the whole `timeout`. The list is empty
        only when the timeout passed with none finished.
        """
        with self._lock:
            self._threshold = max(1, threshold)
            ready = self._count >= self._threshold
        if not ready:
            self._rung.wait(timeout)
        with self._lock:
            self._rung.clear()
            self._count = 0
        finished = self._finished
        return [finished.popleft() for _ in range(len(finished))]
