"""The thread that writes a journal's rows, committing at least every `COMMIT_SECONDS`."""

from __future__ import annotations

import queue
import sqlite3
import threading
import time
from typing import TYPE_CHECKING, Final

from .identity import label

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

__all__ = ["COMMIT_ROWS", "COMMIT_SECONDS", "Row", "Writer"]

#: Finished items are committed at least this often (and at the end of the run).
COMMIT_SECONDS: Final = 0.5
#: ... or when this many rows are waiting.
COMMIT_ROWS: Final = 20_000


#: A row on its way to the writer: identity, pickled result or None, item, error or None.
Row = tuple[bytes, bytes | None, object, str | None]


class Writer:
    """The thread that writes a journal's rows: MACs, labels, SQLite, commits.

    It commits at least every `COMMIT_SECONDS` while rows arrive, each
    commit one transaction, on a connection of its own; `close` writes the
    rest. A daemon thread: a program that ends without closing the journal
    loses at most its last uncommitted rows, never the journal's integrity.
    """

    def __init__(self, path: Path, mac: Callable[[bytes, bytes, bytes], bytes]) -> None:
        """Start the thread, which writes to the journal at `path` and signs rows with `mac`."""
        self._path = path
        self._mac = mac
        self._queue: queue.SimpleQueue[list[Row] | None] = queue.SimpleQueue()
        self._error: BaseException | None = None
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="parmap-journal", daemon=True)
        self._thread.start()

    def put(self, rows: list[Row]) -> None:
        if self._error is not None:
            raise self._failed()
        self._queue.put(rows)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._queue.put(None)
            self._thread.join()
        if self._error is not None:
            raise self._failed()

    def _failed(self) -> OSError:
        error = self._error
        self._error = None
        msg = (
            f"the checkpoint journal {str(self._path)!r} could not be written: "
            f"{type(error).__name__}: {error}; the items finished since its last commit "
            "will run again next time: make sure its disk has room and the file can be "
            "written (no other program holding it), or pass another path"
        )
        failure = OSError(msg)
        failure.__cause__ = error
        return failure

    def _run(self) -> None:
        connection = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        try:
            connection.execute("PRAGMA synchronous = NORMAL")
            waiting: list[tuple[bytes, int, bytes | None, bytes, str, str | None, float]] = []
            last_commit = time.monotonic()
            finished = False
            while not finished:
                timeout = max(0.0, last_commit + COMMIT_SECONDS - time.monotonic())
                try:
                    rows = self._queue.get(timeout=timeout if waiting else None)
                except queue.Empty:
                    rows = []
                if rows is None:
                    finished = True
                elif rows:
                    now = time.time()
                    waiting.extend(
                        (
                            key,
                            int(error is None),
                            data,
                            self._mac(key, b"1" if error is None else b"0", data or b""),
                            label(item),
                            error,
                            now,
                        )
                        for key, data, item, error in rows
                    )
                due = time.monotonic() - last_commit >= COMMIT_SECONDS
                if waiting and (finished or due or len(waiting) >= COMMIT_ROWS):
                    _commit(connection, waiting)
                    waiting = []
                    last_commit = time.monotonic()
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            self._error = exc
            while self._queue.get() is not None:  # let close() finish
                pass
        finally:
            connection.close()


def _commit(
    connection: sqlite3.Connection,
    rows: list[tuple[bytes, int, bytes | None, bytes, str, str | None, float]],
) -> None:
    """Write `rows` in one transaction; a result that succeeded is never overwritten."""
    connection.execute("BEGIN IMMEDIATE")
    try:
        connection.executemany(
            "INSERT INTO items (key, ok, result, mac, label, error, finished) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET "
            "ok = excluded.ok, result = excluded.result, mac = excluded.mac, "
            "label = excluded.label, error = excluded.error, finished = excluded.finished "
            "WHERE items.ok = 0",
            rows,
        )
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    connection.execute("COMMIT")
