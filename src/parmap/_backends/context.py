"""A multiprocessing context whose workers start clean and never run the caller's ``__main__``.

::

    parent ──(once)──▶ parmap's fork server: a fresh interpreter that imports what
                        workers need (parmap._worker.process, cloudpickle, the pool's worker
                        loop) and nothing of the caller's
    parent ──(per worker)──▶ fork server forks a child ──▶ ProcessPoolExecutor worker

Why not the standard contexts:

- ``fork`` copies a parent that may hold locks in other threads (the reason
  Python 3.14 stopped forking by default);
- ``spawn`` and the standard ``forkserver`` re-run the caller's main script
  in every worker, so a script without ``if __name__ == "__main__":`` would
  recurse, and its top level would run once per worker.

parmap ships the function (and anything defined in ``__main__``) by value with
cloudpickle, so its workers have no need for the main script: this context
sends workers the usual preparation data (``sys.path``, working directory,
authentication key) minus the instruction to import ``__main__``. The fork
server is parmap's own, so the standard one's settings are left alone; it
exits with the parent.
"""

from __future__ import annotations

import contextlib
import io
import multiprocessing
import os
import sys
import threading
from multiprocessing import context, forkserver, process, reduction, spawn, util
from multiprocessing.popen_forkserver import Popen as _ForkServerPopen
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["clean_context"]

#: Preparation data that would make a worker import the caller's main module.
_MAIN_KEYS = ("init_main_from_path", "init_main_from_name")

#: What every worker imports, imported once in the fork server instead of in each worker:
#: parmap's worker side (with cloudpickle), and the stock worker loop with its queues.
PRELOAD = ("parmap._worker.process", "concurrent.futures.process")

_server = forkserver.ForkServer()
_server.set_forkserver_preload(list(PRELOAD))


def start_server() -> None:
    """Start parmap's fork server now if it is not running (it boots while the caller goes on).

    Starting a worker waits for the server to be ready; starting the server
    early lets it import while the pool is being set up.
    """
    if sys.platform != "win32" and reduction.HAVE_SEND_HANDLE:
        with _start_method_untouched():
            _server.ensure_running()


def _preparation_data(name: str, *, keep_start_method: bool) -> dict[str, Any]:
    """The standard preparation data for a child, less the import of ``__main__``."""
    data: dict[str, Any] = spawn.get_preparation_data(name)
    if not keep_start_method:
        data.pop("start_method", None)
    for key in _MAIN_KEYS:
        data.pop(key, None)
    return data


@contextlib.contextmanager
def _start_method_untouched() -> Iterator[bool]:
    """Undo multiprocessing fixing its default start method as a side effect.

    ``spawn.get_preparation_data`` (called here and by the fork server)
    asks for the start method, which fixes the default one for good. When
    the caller had not chosen one yet, that is undone afterwards, so
    ``multiprocessing.set_start_method`` still works for them. Yields
    whether the caller had chosen one (then the child inherits it).
    """
    chosen = cast("str | None", multiprocessing.get_start_method(allow_none=True))
    try:
        yield chosen is not None
    finally:
        if chosen is None:
            context._default_context._actual_context = None  # type: ignore[attr-defined]  # noqa: SLF001


class _Popen(_ForkServerPopen):
    """The standard forkserver Popen, with parmap's server and without ``__main__``."""

    def _launch(self, process_obj: process.BaseProcess) -> None:
        with _start_method_untouched() as chosen:
            self._launch_untouched(process_obj, keep_start_method=chosen)

    def _launch_untouched(
        self, process_obj: process.BaseProcess, *, keep_start_method: bool
    ) -> None:
        prep_data = _preparation_data(process_obj.name, keep_start_method=keep_start_method)
        buf = io.BytesIO()
        context.set_spawning_popen(self)
        try:
            reduction.dump(prep_data, buf)
            reduction.dump(process_obj, buf)
        finally:
            context.set_spawning_popen(None)
        self.sentinel, w = _server.connect_to_new_process(self._fds)  # type: ignore[attr-defined]
        # The child watches a duplicate of the data pipe's write end to learn that we died.
        parent_w = os.dup(w)
        self.finalizer = util.Finalize(self, util.close_fds, (parent_w, self.sentinel))  # type: ignore[attr-defined]
        with open(w, "wb", closefd=True) as f:  # noqa: PTH123 - a file descriptor, not a path
            f.write(buf.getbuffer())
        self.pid = forkserver.read_signed(self.sentinel)


class _CleanProcess(process.BaseProcess):
    _start_method = "forkserver"

    @staticmethod
    def _Popen(process_obj: process.BaseProcess) -> _Popen:  # noqa: N802 - multiprocessing's name
        return _Popen(process_obj)


class _CleanContext(context.BaseContext):
    _name = "forkserver"
    Process = _CleanProcess


_lock = threading.Lock()
_context: context.BaseContext | None = None


def clean_context() -> context.BaseContext:
    """The multiprocessing context parmap's process pools use.

    On platforms without a fork server (Windows), the standard ``spawn``
    context: there, as with any process pool, the main script needs an
    ``if __name__ == "__main__":`` guard.
    """
    global _context  # noqa: PLW0603 - one context per process, made on first use
    with _lock:
        if _context is None:
            if sys.platform == "win32" or not reduction.HAVE_SEND_HANDLE:  # pragma: no cover
                _context = multiprocessing.get_context("spawn")
            else:
                _context = _CleanContext()
        return _context
