"""parmap: make a slow for-loop concurrent with one call, and see what happened to every item.

Examples:
    >>> from parmap import parmap
    >>> summary = parmap(str.upper, ["a", "b", "c"])
    >>> summary.results
    ['A', 'B', 'C']
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from ._amap import amap as amap
from ._api import imap as imap
from ._api import parmap as parmap
from ._decorators import MapOptions as MapOptions
from ._decorators import Parallel as Parallel
from ._decorators import each as each
from ._decorators import parallel as parallel
from ._errors import ArgumentError as ArgumentError
from ._errors import ParmapError as ParmapError
from ._errors import RemoteError as RemoteError
from ._errors import TransportError as TransportError
from ._errors import UnpicklableFunctionError as UnpicklableFunctionError
from ._errors import WorkerDiedError as WorkerDiedError
from ._options import Kind as Kind
from ._summary import ItemError as ItemError
from ._summary import Outcome as Outcome
from ._summary import Summary as Summary

__all__ = [
    "ArgumentError",
    "ItemError",
    "Kind",
    "MapOptions",
    "Outcome",
    "Parallel",
    "ParmapError",
    "RemoteError",
    "Summary",
    "TransportError",
    "UnpicklableFunctionError",
    "WorkerDiedError",
    "__version__",
    "amap",
    "each",
    "imap",
    "parallel",
    "parmap",
]

if TYPE_CHECKING:
    __version__: str


def __getattr__(name: str) -> str:
    """``__version__``, read from the package metadata when first asked for.

    Lazily, because ``importlib.metadata`` costs more to import than parmap
    itself, and every worker process imports parmap.
    """
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version  # noqa: PLC0415

        try:
            return version("parmap")
        except PackageNotFoundError:  # pragma: no cover - a source tree that is not installed
            return "0+unknown"
    msg = f"module 'parmap' has no attribute {name!r}"
    raise AttributeError(msg)


for _name in __all__:
    if _name == "__version__":
        continue
    _obj = globals()[_name]
    if hasattr(_obj, "__module__") and not isinstance(_obj, str):
        with contextlib.suppress(AttributeError, TypeError):  # e.g. typing aliases
            _obj.__module__ = "parmap"
del _name, _obj
