"""Pickling `fn` for worker processes: cloudpickle, keeping where code sent by value came from.

cloudpickle sends a function defined in ``__main__`` or in a notebook cell
by value, and names the file of its code ``"<dynamic-code>"``, so a
traceback from a worker would say neither where the function was written
nor show its lines. Here code objects travel whole (`marshal`, same
interpreter at both ends), file name included, and with the source lines
when they are not in a file the worker could read (a notebook cell's lines
live only in the kernel's `linecache`): the worker puts them in its own
`linecache`, so its tracebacks show the cell's lines.
"""

from __future__ import annotations

import io
import linecache
import marshal
import types
from collections import ChainMap
from pathlib import Path
from typing import Any, ClassVar

import cloudpickle

__all__ = ["dumps", "load_code"]


def load_code(data: bytes, filename: str, lines: list[str]) -> types.CodeType:
    """In the worker: rebuild a code object, and make its source lines known to `linecache`."""
    if lines and filename not in linecache.cache:
        linecache.cache[filename] = (sum(map(len, lines)), None, lines, filename)
    code: types.CodeType = marshal.loads(data)  # noqa: S302 - our own bytes, from our parent
    return code


def _reduce_code(code: types.CodeType) -> tuple[Any, tuple[Any, ...]]:
    try:
        data = marshal.dumps(code)
    except ValueError:  # constants marshal cannot write (code built by hand): cloudpickle's way
        return _CLOUDPICKLE_CODE(code)  # type: ignore[no-any-return]
    filename = code.co_filename
    lines = [] if Path(filename).is_file() else linecache.getlines(filename)
    return load_code, (data, filename, lines)


_CLOUDPICKLE_CODE = cloudpickle.Pickler.dispatch_table[types.CodeType]


class _Pickler(cloudpickle.Pickler):  # type: ignore[misc]  # cloudpickle is untyped
    dispatch_table: ClassVar[ChainMap[type, Any]] = ChainMap(
        {types.CodeType: _reduce_code}, cloudpickle.Pickler.dispatch_table
    )


def dumps(obj: object) -> bytes:
    """Pickle `obj` as `cloudpickle.dumps` does, code objects with their file name and lines.

    Examples:
        >>> import pickle
        >>> square = eval("lambda x: x * x")  # code with no file
        >>> pickle.loads(dumps(square)).__code__.co_filename
        '<string>'
    """
    buffer = io.BytesIO()
    _Pickler(buffer).dump(obj)
    return buffer.getvalue()
