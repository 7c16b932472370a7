"""Whom a checkpoint journal trusts: the user's own secret key, and files only the user controls.

Unpickling runs code, so a journal's results are loaded only from a file the
user owns and nobody else can write (as ssh treats its key files), marked
with a key kept in the user's configuration directory
(``$XDG_CONFIG_HOME/parmap/journal.key``, by default under ``~/.config``):
a 0600 file in a 0700 directory, made on first use.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
import tempfile
from pathlib import Path

from parmap._errors import ArgumentError

__all__ = ["check_private", "key_path", "secret_key"]


def _config_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "parmap"


#: Bytes of a journal key.
KEY_BYTES = 32


def secret_key() -> bytes:
    """This user's journal key, made on first use (a 0600 file in a 0700 directory).

    The key is written to a temporary file and linked into place whole, so a
    key file is never seen half written; it is read without following links,
    and checked on the open file itself.

    Raises:
        ArgumentError: The key file or its directory could be read or changed
            by others, or the key file is not a key.
    """
    folder = _config_dir()
    path = folder / "journal.key"
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        check_private(folder, "the directory of the journal key")
        if not path.exists():
            _make_key(folder, path)
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError as exc:
        msg = (
            f"checkpoint= needs a key file of its own, and {path} could not be made or read "
            f"({exc.strerror}); set XDG_CONFIG_HOME to a directory of yours that you can write"
        )
        raise ArgumentError(msg) from exc
    with os.fdopen(fd, "rb") as f:
        check_private(path, "the journal key file", secret=True, info=os.fstat(f.fileno()))
        key = f.read(KEY_BYTES + 1)
    if len(key) != KEY_BYTES:
        msg = (
            f"the journal key file {path} holds {len(key)} bytes, not a key of {KEY_BYTES}; "
            "delete it (parmap makes a new one; journals written with the old key are then "
            "refused, so run them again from scratch)"
        )
        raise ArgumentError(msg)
    return key


def _make_key(folder: Path, path: Path) -> None:
    """Write a new key to a temporary file, then link it into place (first one wins)."""
    fd, temporary = tempfile.mkstemp(prefix=".journal.key.", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(secrets.token_bytes(KEY_BYTES))
            f.flush()
            os.fsync(f.fileno())
        with contextlib.suppress(FileExistsError):  # another process made it meanwhile
            os.link(temporary, path)
    finally:
        Path(temporary).unlink()


def check_private(
    path: Path, what: str, *, secret: bool = False, info: os.stat_result | None = None
) -> None:
    """Refuse `path` unless this user owns it and nobody else can change (or, if `secret`, read) it.

    Raises:
        ArgumentError: What is wrong, and the command that would fix it.
    """
    if info is None:
        info = path.stat()
    if info.st_uid != os.getuid():
        msg = (
            f"{what} {path} belongs to another user (uid {info.st_uid}); parmap only loads "
            "results from files you own, since unpickling runs code: use a path of your own"
        )
        raise ArgumentError(msg)
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        msg = (
            f"{what} {path} can be changed by other users (mode {stat.filemode(info.st_mode)}); "
            "parmap only loads results that nobody else could have written, since "
            f"unpickling runs code: run `chmod go-w {path}` if you trust its contents"
        )
        raise ArgumentError(msg)
    if secret and info.st_mode & (stat.S_IRGRP | stat.S_IROTH):
        msg = (
            f"{what} {path} can be read by other users (mode {stat.filemode(info.st_mode)}), "
            f"who could then forge journals that parmap would trust: run `chmod 600 {path}`"
        )
        raise ArgumentError(msg)


def key_path() -> Path:
    """Where this user's journal key is kept."""
    return _config_dir() / "journal.key"
