"""Whom a checkpoint journal trusts: the user's own secret key, and files only the user controls.

Unpickling runs code, so a journal's results are loaded only from a file the
user owns and nobody else can write (as ssh treats its key files), marked
with a key kept in the user's configuration directory
(``$XDG_CONFIG_HOME/parmap/journal.key``, by default under ``~/.config``):
a 0600 file in a 0700 directory, made on first use.
"""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

from ._errors import ArgumentError

__all__ = ["check_private", "key_path", "secret_key"]


def _config_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "parmap"


def secret_key() -> bytes:
    """This user's journal key, made on first use (a 0600 file in a 0700 directory).

    Raises:
        ArgumentError: The key file exists but others could read or change it.
    """
    folder = _config_dir()
    path = folder / "journal.key"
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        check_private(path, "the journal key file", secret=True)
        return path.read_bytes()
    except OSError as exc:
        msg = (
            f"checkpoint= needs a key file of its own, and {path} could not be created "
            f"({exc.strerror}); set XDG_CONFIG_HOME to a directory you can write"
        )
        raise ArgumentError(msg) from exc
    key = secrets.token_bytes(32)
    with os.fdopen(fd, "wb") as f:
        f.write(key)
    return key


def check_private(path: Path, what: str, *, secret: bool = False) -> None:
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
