"""`parallel` and `each`: parmap as decorators. The wrapped function keeps its signature."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import (
    TYPE_CHECKING,
    Any,
    Generic,
    ParamSpec,
    TypeVar,
    Unpack,
    cast,
    final,
    overload,
)

from ._api import imap, parmap
from ._errors import ArgumentError
from ._options import ACCEPTED
from ._public import public
from ._run.plan import check_options

if TYPE_CHECKING:
    from ._options import MapOptions
    from ._report.summary import Summary
    from ._run.stream import Stream

__all__ = ["Parallel", "each", "parallel"]

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")

#: The decorators' options meant for only one of `.map` and `.imap`.
_IMAP_ONLY = ACCEPTED["map"] - ACCEPTED["parmap"]
_PARMAP_ONLY = ACCEPTED["map"] - ACCEPTED["imap"]


def _checked(options: dict[str, Any]) -> dict[str, Any]:
    """Validate decorator options now, so that a typo fails where it is written."""
    check_options(options, entry="map")
    return options


@final
class Parallel(Generic[P, R]):
    """A function that runs as before when called, and can also map itself over items.

    Made by `parallel`; see there.

    Examples:
        >>> from parmap import parallel
        >>> @parallel(workers=4)
        ... def shout(word: str) -> str:
        ...     return word.upper()
        >>> shout("hi"), shout.map(["a", "b"]).results
        ('HI', ['A', 'B'])
    """

    __name__: str
    __qualname__: str

    def __init__(self, fn: Callable[P, R], options: dict[str, Any]) -> None:
        """Wrap `fn` (its name, docstring, signature and ``__wrapped__`` are kept)."""
        functools.update_wrapper(self, fn)
        self.__wrapped__: Callable[P, R] = fn
        self._options = options

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        """Call the function once, here, as if it were not decorated."""
        return self.__wrapped__(*args, **kwargs)

    def map(self, items: Iterable[Any], **overrides: Unpack[MapOptions]) -> Summary[Any, R]:
        """Run the function on every item with `parmap`; `overrides` replace decorator options."""
        options = {**self._options, **_checked(dict(overrides))}
        for name in _IMAP_ONLY:
            options.pop(name, None)
        return parmap(self.__wrapped__, items, **options)

    def imap(self, items: Iterable[Any], **overrides: Unpack[MapOptions]) -> Stream[Any, R]:
        """Stream the function over the items with `imap`; `overrides` replace decorator options."""
        options = {**self._options, **_checked(dict(overrides))}
        for name in _PARMAP_ONLY:
            options.pop(name, None)
        return imap(self.__wrapped__, items, **options)

    def __repr__(self) -> str:
        """Say what it wraps."""
        return f"<parmap.parallel {self.__wrapped__!r}>"


@overload
def parallel(fn: Callable[P, R], /) -> Parallel[P, R]: ...
@overload
def parallel(
    fn: None = None, /, **options: Unpack[MapOptions]
) -> Callable[[Callable[P, R]], Parallel[P, R]]: ...
def parallel(
    fn: Callable[P, R] | None = None, /, **options: Unpack[MapOptions]
) -> Parallel[P, R] | Callable[[Callable[P, R]], Parallel[P, R]]:
    """Decorate a function so that it can also map itself over many items.

    The function still runs once, inline, when called as before; it keeps
    its name, docstring, signature and ``__wrapped__``. It gains ``.map(items,
    **overrides)``, which returns a `Summary` like `parmap`, and
    ``.imap(items, **overrides)``, which streams `Outcome` objects like
    `imap`. Options are checked when decorating. Used bare (``@parallel``)
    or with options (``@parallel(kind="cpu", workers=4)``).

    With ``kind="cpu"`` the original function, not the wrapper, is sent to
    the worker processes (by value when needed, with cloudpickle), so
    decorated module-level functions and closures both work.

    Args:
        fn: The function, when used bare.
        **options: Any option of `parmap` or `imap` (``kind``, ``workers``,
            ``retries``, ...): the defaults of ``.map`` and ``.imap``.

    Returns:
        The decorated function, or (with options) the decorator.

    Raises:
        ArgumentError: `fn` is not callable, or an option is invalid.

    Examples:
        >>> from parmap import parallel
        >>> @parallel(workers=4)
        ... def shout(word: str) -> str:
        ...     return word.upper()
        >>> shout("hi")
        'HI'
        >>> shout.map(["a", "b"]).results
        ['A', 'B']
    """
    checked = _checked(dict(options))
    if fn is not None:
        if not callable(cast("object", fn)):
            msg = (
                f"@parallel decorates a function, got {type(fn).__qualname__} {fn!r}; write "
                "@parallel above a def, or @parallel(kind=..., workers=...) with options"
            )
            raise ArgumentError(msg)
        return Parallel(fn, checked)

    def decorate(function: Callable[P, R]) -> Parallel[P, R]:
        if not callable(cast("object", function)):
            msg = f"@parallel(...) decorates a function, got {type(function).__qualname__}"
            raise ArgumentError(msg)
        return Parallel(function, checked)

    return decorate


_MISSING: Any = object()


def each(
    items: Iterable[T] = _MISSING, /, **options: Unpack[MapOptions]
) -> Callable[[Callable[[T], R]], Summary[T, R]]:
    """Run the decorated function (a loop body) over `items` at once; bind its name to the Summary.

    For turning an existing loop into a concurrent one without moving its
    body elsewhere. The body may use variables of the enclosing scope: the
    run happens right where the decorator is, so it sees their values there.

    Args:
        items: What the loop went over.
        **options: Any option of `parmap` (``kind``, ``workers``, ``retries``, ...).

    Returns:
        A decorator that runs the loop and returns its `Summary` (which the
        decorated name is bound to).

    Raises:
        ArgumentError: No items were given, or an option is invalid.

    Examples:
        >>> from parmap import each
        >>> totals = []
        >>> @each([1, 2, 3], workers=2)
        ... def summary(n: int) -> int:
        ...     return n * 10
        >>> summary.results, summary.ok
        ([10, 20, 30], True)
    """
    if items is _MISSING or (callable(items) and not isinstance(items, Iterable)):
        msg = (
            "@each needs the items to loop over: write @each(items, kind=..., ...) above "
            "the loop body's def"
        )
        raise ArgumentError(msg)
    checked = _checked(dict(options))
    for name in _IMAP_ONLY:
        checked.pop(name, None)

    def run(body: Callable[[T], R]) -> Summary[T, R]:
        if not callable(cast("object", body)):
            msg = f"@each(...) decorates a function, got {type(body).__qualname__}"
            raise ArgumentError(msg)
        return parmap(body, items, **checked)

    return run


public(Parallel, each, parallel)
