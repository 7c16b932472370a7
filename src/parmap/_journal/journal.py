"""``checkpoint=PATH``: a SQLite journal of finished items, so a re-run skips what is done.

Each finished item becomes a row: its identity (a digest of ``key(item)``, or
of the item itself, see `identity`), whether it succeeded, and its pickled
result. Rows are written by a thread of the journal's own (`writer`) as
batches finish, and committed at least every `COMMIT_SECONDS`, in WAL mode:
a program killed at any moment (even by ``kill -9``) leaves a journal that is
whole, holding every item committed before the kill. A re-run restores the
results of the items that succeeded and runs the others.

Unpickling runs code, so a journal is trusted only when it is this user's
own: the file must belong to the user and be writable by nobody else (as
ssh treats key files), and it must carry a mark made with the user's secret
key (see `trust`); each stored result carries a MAC made with that key and
the journal's salt.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import pickle
import secrets
import sqlite3
from typing import TYPE_CHECKING, Any, Final

from parmap._errors import ArgumentError, TransportError
from parmap._worker.records import BatchResult, Failure, describe

from .identity import identity, no_identity
from .trust import check_private, key_path, secret_key
from .writer import COMMIT_SECONDS, Row, Writer

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from pathlib import Path

    from parmap._report.batches import Completed

__all__ = ["COMMIT_SECONDS", "Journal", "Restored", "check_journal"]

#: ``PRAGMA application_id`` of a parmap journal ("pmj1").
APPLICATION_ID: Final = 0x706D6A31
FORMAT_VERSION: Final = 1
#: Identities looked up per query when restoring (SQLite's parameter limit is 999 or more).
LOOKUP_CHUNK: Final = 500


_SCHEMA: Final = """
CREATE TABLE meta (name TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE items (
    key BLOB PRIMARY KEY,
    ok INTEGER NOT NULL,
    result BLOB,
    mac BLOB NOT NULL,
    label TEXT NOT NULL,
    error TEXT,
    finished REAL NOT NULL
);
"""


def check_journal(path: Path) -> None:
    """Check up front that `path` can be a journal: a parmap journal of ours, or a new file.

    Raises:
        ArgumentError: What is wrong with the path, and what to do.
    """
    Journal(path, key=None, keep_results=False, write=False).close()


class Restored:
    """What a batch's earlier run left: results to restore, and items that cannot be journaled."""

    __slots__ = ("failures", "values")

    def __init__(self) -> None:
        """Nothing restored yet."""
        self.values: dict[int, object] = {}
        self.failures: list[Failure] = []


class Journal:
    """One run's journal: look up what is done, record what finishes, commit in batches."""

    def __init__(
        self,
        path: Path,
        *,
        key: Callable[[object], object] | None,
        keep_results: bool = True,
        write: bool = True,
    ) -> None:
        """Open (or create) the journal at `path`; with ``write=False``, only check it.

        Raises:
            ArgumentError: The path cannot be created or written, is not a
                parmap journal, or is not trusted (see the module's docs).
        """
        self.path = path
        self._key = key
        self._keep = keep_results
        self._secret = secret_key()
        self._connection = self._connect()
        self._pending: dict[int, list[bytes | None]] = {}
        self._any_done = write and (
            self._connection.execute("SELECT 1 FROM items WHERE ok = 1 LIMIT 1").fetchone()
            is not None
        )
        self._writer = Writer(self.path, self._mac) if write else None

    # --------------------------------------------------------------- opening

    def _connect(self) -> sqlite3.Connection:
        path = self.path
        fresh = not path.exists() or (path.is_file() and path.stat().st_size == 0)
        if path.exists() and not path.is_file():
            msg = f"checkpoint={str(path)!r} is not a file; pass the path of a journal file"
            raise ArgumentError(msg)
        if fresh:
            self._create_file(path)
        else:
            check_private(path, "the checkpoint journal")
        try:
            connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            msg = f"checkpoint={str(path)!r} could not be opened: {exc}; pass a writable path"
            raise ArgumentError(msg) from exc
        try:
            self._prepare(connection)
        except BaseException:
            connection.close()
            raise
        return connection

    @staticmethod
    def _create_file(path: Path) -> None:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
        except OSError as exc:
            msg = (
                f"checkpoint={str(path)!r} cannot be created: {exc.strerror}; pass a path in a "
                "directory you can write (the directory must exist)"
            )
            raise ArgumentError(msg) from exc
        os.fchmod(fd, 0o600)
        os.close(fd)

    def _prepare(self, connection: sqlite3.Connection) -> None:
        not_ours = (
            f"checkpoint={str(self.path)!r} is not a parmap journal; pass the path of a new "
            "file (it is created), or of a journal an earlier run wrote"
        )
        try:
            application_id = connection.execute("PRAGMA application_id").fetchone()[0]
            tables = connection.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
            if application_id == 0 and tables == 0:
                self._initialise(connection)
            elif application_id != APPLICATION_ID:
                raise ArgumentError(not_ours)
            connection.execute("PRAGMA journal_mode = WAL")
            connection.execute("PRAGMA synchronous = NORMAL")
            mark = connection.execute("SELECT value FROM meta WHERE name = 'mark'").fetchone()
            salt = connection.execute("SELECT value FROM meta WHERE name = 'salt'").fetchone()
        except sqlite3.DatabaseError as exc:
            msg = f"{not_ours} ({exc})"
            raise ArgumentError(msg) from exc
        self._salt = b"" if salt is None else salt[0]
        if mark is None or salt is None or not hmac.compare_digest(mark[0], self._mark()):
            msg = (
                f"checkpoint={str(self.path)!r} was not written by your parmap (its mark does "
                f"not match your key in {key_path()}); its results are not "
                "loaded, since unpickling runs code: pass a new path, or delete the file"
            )
            raise ArgumentError(msg)

    def _initialise(self, connection: sqlite3.Connection) -> None:
        """Create the tables and the mark in one transaction: all of it or none of it."""
        salt = secrets.token_bytes(16)
        connection.execute("PRAGMA journal_mode = WAL")
        connection.execute("BEGIN IMMEDIATE")
        try:
            if connection.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
                connection.execute("ROLLBACK")  # another run made it meanwhile
                return
            connection.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    connection.execute(statement)
            connection.executemany(
                "INSERT INTO meta (name, value) VALUES (?, ?)",
                [
                    ("format", str(FORMAT_VERSION).encode()),
                    ("salt", salt),
                    ("mark", self._mark(salt)),
                ],
            )
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")

    def _mac(self, key: bytes, ok: bytes = b"", data: bytes = b"") -> bytes:
        """A MAC over this journal's salt, an identity, a status byte and a pickled result.

        Keyed BLAKE2b: one C call. The parts cannot run into each other: the
        salt and the identity have fixed sizes, the status byte is one byte or
        none. The salt ties each row to its journal: rows copied from another
        journal are refused.
        """
        message = self._salt + key + ok + data
        return hashlib.blake2b(message, key=self._secret, digest_size=16).digest()

    def _mark(self, salt: bytes | None = None) -> bytes:
        """The mark that says a journal (by its salt) was written with this user's key."""
        message = b"parmap journal " + (self._salt if salt is None else salt)
        return hashlib.blake2b(message, key=self._secret, digest_size=16).digest()

    # --------------------------------------------------------------- reading

    def restore(self, start: int, items: Sequence[object]) -> Restored:
        """Look up a batch: the results of its items that an earlier run finished.

        The identities are kept for `record`. An item that has no identity
        (``key`` raised, or it is not plain data) fails with the reason.
        """
        restored = Restored()
        keys: list[bytes | None] = []
        for position, item in enumerate(items):
            try:
                keys.append(identity(self._key(item) if self._key is not None else item))
            except Exception as exc:  # noqa: BLE001 - that item fails, with the reason
                keys.append(None)
                restored.failures.append(describe(position, no_identity(exc, self._key)))
        self._pending[start] = keys
        if self._any_done:
            self._look_up(keys, restored)
        return restored

    def _look_up(self, keys: list[bytes | None], restored: Restored) -> None:
        where: dict[bytes, list[int]] = {}
        for position, key in enumerate(keys):
            if key is not None:
                where.setdefault(key, []).append(position)  # an item may come twice
        wanted = list(where)
        for first in range(0, len(wanted), LOOKUP_CHUNK):
            chunk = wanted[first : first + LOOKUP_CHUNK]
            marks = ",".join("?" * len(chunk))
            query = f"SELECT key, result, mac FROM items WHERE ok = 1 AND key IN ({marks})"  # noqa: S608
            rows = self._connection.execute(query, chunk).fetchall()
            for key, data, mac in rows:
                value = self._load(key, data, mac)
                if value is not _NOT_RESTORED:
                    for position in where[key]:
                        restored.values[position] = value

    def _load(self, key: bytes, data: bytes | None, mac: bytes) -> object:
        if not hmac.compare_digest(mac, self._mac(key, b"1", data or b"")):
            msg = (
                f"checkpoint={str(self.path)!r} holds a result that your parmap did not write "
                "(its MAC does not match); nothing more is loaded from it, since unpickling "
                "runs code: delete the file and run again"
            )
            raise ArgumentError(msg)
        if not self._keep:
            return None
        try:
            return pickle.loads(data) if data is not None else None  # noqa: S301 - MAC checked
        except Exception:  # noqa: BLE001 - cannot be restored (a class gone): run it again
            return _NOT_RESTORED

    # --------------------------------------------------------------- writing

    def record(self, done: Completed[Any]) -> None:
        """Hand a finished batch's items (those not restored) to the writer thread.

        Only what must be decided now happens here: a result that cannot be
        pickled fails its item, with the reason (a re-run then runs it again
        rather than losing it). MACs and the SQLite work run on the writer.

        Raises:
            OSError: The writer could not write the journal (e.g. the disk is full).
        """
        keys = self._pending.pop(done.start, None)
        if keys is None:
            return
        rows: list[Row] = []
        result = done.result
        if result is None:  # the batch failed as a whole
            error = f"{type(done.error).__name__}: {done.error}"
            rows.extend(
                (key, None, done.items[position], error)
                for position, key in enumerate(keys)
                if key is not None
            )
        else:
            failed = {failure.position: failure for failure in result.failures}
            restored = done.restored
            for position, value in enumerate(result.values):
                key = keys[position]
                if key is None or position in restored:
                    continue
                failure = failed.get(position)
                if failure is not None:
                    error = f"{failure.type_name}: {failure.message}"
                    rows.append((key, None, done.items[position], error))
                    continue
                try:
                    data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
                except Exception as exc:  # noqa: BLE001 - fails this item, see above
                    _unstorable(result, position, exc)
                    error = f"TransportError: result not stored ({type(exc).__name__})"
                    rows.append((key, None, done.items[position], error))
                    continue
                rows.append((key, data, done.items[position], None))
        if rows:
            assert self._writer is not None  # noqa: S101 - record() is for journals that write
            self._writer.put(rows)

    def close(self) -> None:
        """Write what is waiting, stop the writer and close the file (idempotent).

        Raises:
            OSError: The writer could not write the journal.
        """
        try:
            if self._writer is not None:
                self._writer.close()
        finally:
            self._connection.close()


class _NotRestored:
    """A stored result that could not be loaded: the item runs again."""


_NOT_RESTORED: Final = _NotRestored()


def _unstorable(result: BatchResult, position: int, exc: Exception) -> None:
    """Turn a finished item whose result cannot be pickled into a failure."""
    error = TransportError(
        f"the result of this item could not be stored in the checkpoint: "
        f"{type(exc).__name__}: {exc}; return plain data (numbers, strings, lists, dicts) "
        "or leave out checkpoint="
    )
    error.__cause__ = exc
    result.values[position] = None
    result.failures.append(describe(position, error))
    result.failures.sort(key=lambda failure: failure.position)
