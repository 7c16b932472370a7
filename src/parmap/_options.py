"""The options' one typed definition: `MapOptions` and each entry point's share of it.

`parmap`, `imap`, `amap`, `Summary.rerun_failed` and the decorators all take
``**options`` typed by these; `parmap._run.plan` checks their values. A leaf of
the import graph, so that every layer may name the options.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Generic, Literal, TypedDict, TypeVar

from parmap._public import public

if TYPE_CHECKING:
    import os
    from collections.abc import Callable
    from concurrent.futures import Executor

    from distributed import Client

__all__ = [
    "ACCEPTED",
    "ELSEWHERE",
    "Entry",
    "ImapOptions",
    "Kind",
    "MapOptions",
    "ParmapOptions",
]

Kind = Literal["io", "cpu", "auto"]
"""Where the work runs: ``"io"`` threads, ``"cpu"`` processes, ``"auto"`` measured and picked."""


T = TypeVar("T")


class _SharedOptions(TypedDict, Generic[T], total=False):
    """The options every entry point takes (see `parmap` for what each means).

    Generic in the item type `T`, so that ``key=`` is checked against the items.
    """

    kind: Kind
    workers: int | None
    batch_size: int | Literal["auto"]
    executor: Executor | Client | None
    retries: int
    retry_on: type[Exception] | tuple[type[Exception], ...]
    backoff: float
    timeout: float | None
    max_failures: int | None
    rate: float | None
    progress: bool
    checkpoint: str | os.PathLike[str] | None
    key: Callable[[T], object] | None


class ParmapOptions(_SharedOptions[T], total=False):
    """The options of `parmap` and `amap`: the shared ones, and ``keep_results``."""

    keep_results: bool


class ImapOptions(_SharedOptions[T], total=False):
    """The options of `imap`: the shared ones, and ``ordered``."""

    ordered: bool


class MapOptions(_SharedOptions[Any], total=False):
    """The options `parallel` and `each` accept: those of `parmap` and `imap`.

    A ``TypedDict``, so that options gathered in a dict of their own are
    checked by type checkers too.

    Examples:
        >>> from parmap import MapOptions, parallel
        >>> polite: MapOptions = {"workers": 4, "retries": 2, "rate": 100}
        >>> @parallel(**polite)
        ... def shout(word: str) -> str:
        ...     return word.upper()
        >>> shout.map(["a", "b"]).results
        ['A', 'B']
    """

    keep_results: bool
    ordered: bool


#: Which entry point options are for: ``"map"`` is a decorator's, for both parmap and imap;
#: ``"rerun_failed"`` is `Summary.rerun_failed`'s, which takes those of `parmap`.
Entry = Literal["parmap", "amap", "imap", "map", "rerun_failed"]

_SHARED = frozenset(_SharedOptions.__annotations__)
ACCEPTED: dict[str, frozenset[str]] = {
    "parmap": _SHARED | {"keep_results"},
    "amap": _SHARED | {"keep_results"},
    "rerun_failed": _SHARED | {"keep_results"},
    "imap": _SHARED | {"ordered"},
    "map": _SHARED | {"keep_results", "ordered"},
}
#: What an option given to the entry point that does not take it is told.
ELSEWHERE = {
    "ordered": (
        "ordered= is an option of imap(), which yields outcomes as they come; {entry}() "
        "returns a Summary whose results are always in input order: leave out ordered="
    ),
    "keep_results": (
        "keep_results= is an option of parmap(), which keeps results in its Summary; imap() "
        "yields each outcome and keeps none: leave out keep_results="
    ),
}


public(MapOptions)
