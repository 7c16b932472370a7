"""Telling coroutine functions apart, and what becomes of a coroutine a plain function returns.

A coroutine function (``async def``, a `functools.partial` of one, or an
object whose ``__call__`` is one) runs on parmap's event loop (`parmap._backends.eventloop`).
This module imports no `asyncio`: `import parmap`, and every worker process,
stay light.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING

from ._errors import ArgumentError

if TYPE_CHECKING:
    from ._options import Options

__all__ = ["check_async_target", "is_async_callable"]


def is_async_callable(fn: object) -> bool:
    """Whether calling `fn` returns a coroutine, as far as can be told without calling it.

    Examples:
        >>> import functools
        >>> async def fetch(url: str, retries: int) -> str:
        ...     return url
        >>> is_async_callable(fetch), is_async_callable(functools.partial(fetch, retries=2))
        (True, True)
        >>> is_async_callable(len), is_async_callable(lambda url: fetch(url, 1))
        (False, False)
    """
    if inspect.iscoroutinefunction(fn):  # also sees through functools.partial and methods
        return True
    if inspect.isroutine(fn) or isinstance(fn, type):
        return False
    call = getattr(type(fn), "__call__", None)  # noqa: B004 - the method itself is wanted
    return inspect.iscoroutinefunction(call)


def check_async_target(fn: object, options: Options) -> None:
    """Refuse the options under which a coroutine function cannot run as asked.

    Raises:
        ArgumentError: `fn` is a coroutine function and ``kind="cpu"``, or an
            `executor` was given.
    """
    if not is_async_callable(fn):
        return
    if options.kind == "cpu":
        msg = (
            f"fn {fn!r} is a coroutine function (async def), and kind='cpu' runs plain "
            "functions in worker processes; a coroutine function waits rather than computes: "
            "leave out kind= (or pass kind='io') to run it on parmap's event loop, or, if it "
            "really computes, write it as a plain def"
        )
        raise ArgumentError(msg)
    if options.executor is not None:
        msg = (
            f"fn {fn!r} is a coroutine function (async def), which runs on parmap's event "
            f"loop, not on an executor ({type(options.executor).__name__}); leave out executor="
        )
        raise ArgumentError(msg)
