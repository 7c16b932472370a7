"""parmap: make a slow for-loop concurrent with one call, and see what happened to every item.

Examples:
    >>> from parmap import parmap
    >>> summary = parmap(str.upper, ["a", "b", "c"])
    >>> summary.results
    ['A', 'B', 'C']
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._amap import amap as amap
    from ._api import imap as imap
    from ._api import parmap as parmap
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
    from ._options import MapOptions as MapOptions
    from ._report.items import ItemError as ItemError
    from ._report.items import Outcome as Outcome
    from ._report.summary import Summary as Summary
    from ._report.timing import Timing as Timing
    from ._run.stream import Stream as Stream

__all__ = [
    "ArgumentError",
    "ItemError",
    "Kind",
    "MapOptions",
    "Outcome",
    "Parallel",
    "ParmapError",
    "RemoteError",
    "Stream",
    "Summary",
    "Timing",
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

#: Where each public name is defined. The package imports its parts when a name is
#: first used: a worker process, which imports only `parmap._worker`, never pays
#: for the rest, and neither does ``import parmap`` before a first call.
_HOMES = {
    "amap": "._amap",
    "imap": "._api",
    "parmap": "._api",
    "Parallel": "._decorators",
    "each": "._decorators",
    "parallel": "._decorators",
    "ArgumentError": "._errors",
    "ParmapError": "._errors",
    "RemoteError": "._errors",
    "TransportError": "._errors",
    "UnpicklableFunctionError": "._errors",
    "WorkerDiedError": "._errors",
    "Kind": "._options",
    "MapOptions": "._options",
    "ItemError": "._report.items",
    "Outcome": "._report.items",
    "Summary": "._report.summary",
    "Timing": "._report.timing",
    "Stream": "._run.stream",
}


def __getattr__(name: str) -> object:
    """A public name, imported from its module when first asked for.

    ``__version__`` is read from the package metadata, lazily too, because
    ``importlib.metadata`` costs more to import than parmap itself.
    """
    home = _HOMES.get(name)
    if home is not None:
        value = getattr(importlib.import_module(home, __name__), name)
        globals()[name] = value
        return value
    if name == "__test__":  # doctest: the classes' examples, found where users find them
        return {
            public: value
            for public in _HOMES
            if isinstance(value := __getattr__(public), type) and value.__module__ == __name__
        }
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version  # noqa: PLC0415

        try:
            return version("parmap")
        except PackageNotFoundError:  # pragma: no cover - a source tree that is not installed
            return "0+unknown"
    msg = f"module 'parmap' has no attribute {name!r}"
    raise AttributeError(msg)


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
