"""A whole call checked once, in one place, before any worker starts: the `Plan` a run follows.

::

    parmap / imap / amap / @parallel / @each (fn, items, **options: its share of MapOptions)
        │ make_plan: option names and values, fn, items, the checkpoint journal
        ▼
    Plan (frozen) ──▶ parmap._run.execute.run_plan ──▶ backend, dispatch, collect

Each entry point hands its options here unchanged; what comes out is a frozen
`Plan`, and nothing downstream checks an argument again.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, final

from parmap._errors import ArgumentError
from parmap._options import ACCEPTED, ELSEWHERE, Entry

from .options import (
    Limits,
    Options,
    Tracking,
    make_limits,
    make_options,
    make_tracking,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["Plan", "check_options", "is_async_callable", "make_plan"]


@final
@dataclass(frozen=True, slots=True)
class Plan:
    """Everything a run follows, checked: options, limits, tracking, and what `fn` is."""

    options: Options
    limits: Limits
    tracking: Tracking
    keep_results: bool = True
    ordered: bool = True
    #: `fn` is a coroutine function: it runs on an event loop.
    is_async: bool = False


def check_options(options: Mapping[str, object], *, entry: Entry) -> Plan:
    """Check the options of `entry` by name and value, before anything runs.

    Raises:
        ArgumentError: On the first unknown or bad option, with what to pass instead.
    """
    accepted = ACCEPTED[entry]
    for name in options:
        if name not in accepted:
            raise ArgumentError(_unknown(name, accepted, entry))
    checked = make_options(
        kind=options.get("kind", "io"),
        workers=options.get("workers"),
        batch_size=options.get("batch_size", "auto"),
        executor=options.get("executor"),
    )
    limits = make_limits(
        retries=options.get("retries", 0),
        retry_on=options.get("retry_on", (Exception,)),
        backoff=options.get("backoff", 0.0),
        timeout=options.get("timeout"),
        max_failures=options.get("max_failures"),
        rate=options.get("rate"),
    )
    tracking = make_tracking(
        progress=options.get("progress", False),
        checkpoint=options.get("checkpoint"),
        key=options.get("key"),
    )
    flags = {name: options.get(name, True) for name in ("keep_results", "ordered")}
    for name, value in flags.items():
        _check_flag(name, value)
    _check_timeout_target(limits, checked)
    return Plan(
        checked,
        limits,
        tracking,
        keep_results=bool(flags["keep_results"]),
        # parmap collects batches as they finish; its results are put in order by index
        ordered=bool(flags["ordered"]) and entry not in {"parmap", "rerun_failed"},
    )


def make_plan(fn: object, items: object, options: Mapping[str, object], *, entry: Entry) -> Plan:
    """Check a whole call: `fn`, `items`, every option, and the checkpoint journal if any.

    Raises:
        ArgumentError: On the first bad argument, before any work starts.
    """
    plan = check_options(options, entry=entry)
    _check_callable(fn)
    is_async = is_async_callable(fn)
    if is_async:
        _check_async_target(fn, plan.options)
    _check_iterable(items)
    if plan.tracking.checkpoint is not None:
        from parmap._journal.journal import check_journal  # noqa: PLC0415 - sqlite3 when used

        check_journal(plan.tracking.checkpoint)
    return dataclasses.replace(plan, is_async=is_async)


def _unknown(name: str, accepted: frozenset[str], entry: Entry) -> str:
    if name in ELSEWHERE:
        return ELSEWHERE[name].format(entry=entry)
    import difflib  # noqa: PLC0415 - only to word the error

    close = difflib.get_close_matches(name, accepted, n=1)
    hint = f"did you mean {close[0]}=? " if close else ""
    where = "the decorator" if entry == "map" else f"{entry}()"
    return (
        f"{where} got an unknown option {name}=; {hint}the options are "
        f"{', '.join(sorted(accepted))}"
    )


def _check_timeout_target(limits: Limits, options: Options) -> None:
    if limits.timeout is not None and options.executor is not None:
        msg = (
            f"timeout={limits.timeout:g} cannot be enforced on an executor you own "
            f"({type(options.executor).__name__}): parmap would have to kill its workers; "
            "leave out executor= to let parmap run its own, or leave out timeout="
        )
        raise ArgumentError(msg)
    if limits.rate is not None and options.executor_kind == "dask":
        msg = (
            f"rate={limits.rate:g} cannot be shared by the workers of a Dask cluster, which "
            "may run on other machines: leave out rate=, or pace the calls inside fn"
        )
        raise ArgumentError(msg)


def _check_flag(name: str, value: object) -> None:
    if not isinstance(value, bool):
        msg = f"{name} must be True or False, got {type(value).__qualname__} {value!r}"
        raise ArgumentError(msg)


def _check_callable(fn: object) -> None:
    if not callable(fn):
        msg = (
            f"fn must be callable, got {type(fn).__qualname__} {fn!r}; pass the function "
            "itself, e.g. parmap(process, items), not parmap(process(item), items)"
        )
        raise ArgumentError(msg)


def _check_iterable(items: object) -> None:
    if not isinstance(items, Iterable):
        try:
            iter(items)  # type: ignore[call-overload]  # old-style __getitem__ iterables
        except TypeError:
            msg = (
                f"items must be iterable, got {type(items).__qualname__} {items!r}; pass a "
                "list, a generator, a range, or any other iterable of the items to process"
            )
            raise ArgumentError(msg) from None


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


def _check_async_target(fn: object, options: Options) -> None:
    """Refuse the options under which a coroutine function (`fn`) cannot run as asked.

    Raises:
        ArgumentError: ``kind="cpu"``, or an `executor` was given.
    """
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
