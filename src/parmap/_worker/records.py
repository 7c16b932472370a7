"""What a batch produces: its values, each failed item's record, and a lost item's signal."""

from __future__ import annotations

import traceback
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .timing import Measured

__all__ = ["BatchResult", "Failure", "LostItem", "describe", "qualified_name"]


@dataclass(slots=True)
class Failure:
    """One item's exception, in a form that can travel between processes."""

    position: int
    type_name: str
    message: str
    traceback: str
    exception: Exception | None
    pickled: bytes | None = None
    attempts: int = 1


@dataclass(slots=True)
class BatchResult:
    """What one batch produced.

    ``values`` has one entry per item that was run (``None`` where it failed);
    it is shorter than the batch when the batch stopped early: `fatal` holds
    the ``KeyboardInterrupt``/``SystemExit`` that stopped it, or the run was
    being cancelled. `timings` holds the items' call durations (``None``
    where none was measured).
    """

    values: list[object]
    failures: list[Failure] = field(default_factory=list)
    seconds: float = 0.0
    fatal: BaseException | None = None
    timings: Measured | None = None


class LostItem(Exception):  # noqa: N818 - an internal signal between the pool and the dispatcher
    """A batch's worker died (or was killed for a timeout) while running one of its items."""

    def __init__(
        self,
        position: int,
        attempt: int,
        exitcode: int | None,
        *,
        timed_out: bool,
        innocent: bool = False,
    ) -> None:
        """Record which item of the batch, which attempt, and how the worker ended.

        `innocent`: the worker was killed for a timeout just after the item
        that overran had finished, so no item is to blame.
        """
        super().__init__(position, attempt, exitcode, timed_out)
        self.position = position
        self.attempt = attempt
        self.exitcode = exitcode
        self.timed_out = timed_out
        self.innocent = innocent


def qualified_name(cls: type) -> str:
    """``module.Qual.Name`` of a class; builtins stay bare (``ValueError``)."""
    module = cls.__module__
    if module == "builtins":
        return cls.__qualname__
    return f"{module}.{cls.__qualname__}"


#: Modules whose frames start an item's traceback: they called `fn`, the user's code did not.
_OWN_MODULES = frozenset(
    {"parmap._worker.batch", "parmap._worker.process", "parmap._backends.eventloop"}
)


def describe(position: int, exc: Exception, attempts: int = 1) -> Failure:
    """Record an exception raised by an item's call, traceback formatted without our frames.

    The exception keeps no traceback objects afterwards (its chained causes
    neither): the text is in ``Failure.traceback``. A traceback object keeps
    every frame of the call alive, and through them the whole batch the
    call was part of; over a long run that would add up.
    """
    tb = exc.__traceback__
    frames = tb
    while frames is not None and frames.tb_frame.f_globals.get("__name__") in _OWN_MODULES:
        frames = frames.tb_next
    if frames is None:  # raised by parmap itself: show where
        frames = tb
    try:
        message = str(exc)
    except Exception:  # noqa: BLE001 - a broken __str__ must not cost the batch
        message = f"<{type(exc).__qualname__} whose str() raised>"
    try:
        text = "".join(traceback.TracebackException(type(exc), exc, frames).format())
    except Exception:  # noqa: BLE001 - likewise for a broken __str__ met while formatting
        text = f"{qualified_name(type(exc))}: {message}\n"
    del tb, frames
    _drop_tracebacks(exc)
    return Failure(
        position=position,
        type_name=qualified_name(type(exc)),
        message=message,
        traceback=text,
        exception=exc,
        attempts=attempts,
    )


def _drop_tracebacks(exc: BaseException) -> None:
    """Detach the traceback objects of `exc` and of every exception chained to it."""
    seen: set[int] = set()
    pending: list[BaseException | None] = [exc]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        current.__traceback__ = None
        pending.extend((current.__cause__, current.__context__))
