"""What a batch produces: its values, each failed item's record, and a lost item's signal."""

from __future__ import annotations

import traceback
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from types import CodeType, TracebackType

    from .timing import Measured

__all__ = ["BatchResult", "Failure", "LostItem", "Trace", "describe", "qualified_name"]


@dataclass(slots=True)
class Failure:
    """One item's exception, in a form that can travel between processes."""

    position: int
    type_name: str
    message: str
    #: The formatted text, or a `Trace` that formats it when first read (see `text`).
    traceback: str | Trace
    exception: Exception | None
    pickled: bytes | None = None
    attempts: int = 1

    @property
    def text(self) -> str:
        """The formatted traceback (made now, and kept, if it was captured as a `Trace`)."""
        if isinstance(self.traceback, Trace):
            self.traceback = self.traceback.text()
        return self.traceback


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
    """Record an exception raised by an item's call, its traceback without our frames.

    The exception keeps no traceback objects afterwards (its chained causes
    neither). A traceback object keeps every frame of the call alive, and
    through them the whole batch the call was part of; over a long run that
    would add up. What the text needs of the frames (each one's code, line
    and instruction) is captured in a `Trace`, which formats the text when
    it is first read: formatting costs ~50 µs per failure, capturing ~2 µs.
    Exceptions whose text needs more of the frames (the "Did you mean"
    of a `NameError` or `AttributeError` reads their variables) are
    formatted at once.
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
    text: str | Trace | None = Trace.capture(exc, frames)
    if text is None:
        try:
            text = "".join(traceback.TracebackException(type(exc), exc, frames).format())
        except Exception:  # noqa: BLE001 - likewise for a broken __str__ met while formatting
            text = f"{qualified_name(type(exc))}: {message}\n"
    del tb, frames
    if exc.__cause__ is None and exc.__context__ is None:
        exc.__traceback__ = None
    else:
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


#: Exceptions whose formatted text reads more of the frames than a `Trace` keeps: the
#: "Did you mean" of a name or attribute looks at the frame's variables; a group holds
#: tracebacks of its own.
_FORMAT_AT_ONCE = (NameError, AttributeError, ImportError, SyntaxError, BaseExceptionGroup)


#: One level of a traceback without its frame: the code, module globals, instruction, line.
_Level = tuple["CodeType", dict[str, object], int, int]


def _light(tb: TracebackType | None) -> list[_Level]:
    """What the traceback module reads of `tb`, level by level, keeping no frame alive."""
    levels: list[_Level] = []
    while tb is not None:
        frame = tb.tb_frame
        levels.append((frame.f_code, frame.f_globals, tb.tb_lasti, tb.tb_lineno))
        tb = tb.tb_next
    return levels


class _Frame:
    """A frame as the traceback module reads it: its code and (for linecache) globals."""

    __slots__ = ("f_code", "f_globals")

    def __init__(self, code: CodeType, module: dict[str, object]) -> None:
        self.f_code = code
        self.f_globals = module


class _Link:
    """A level of a traceback as the traceback module reads it, made from a `_Level`."""

    __slots__ = ("tb_frame", "tb_lasti", "tb_lineno", "tb_next")

    def __init__(self, level: _Level, after: _Link | None) -> None:
        code, module, self.tb_lasti, self.tb_lineno = level
        self.tb_frame = _Frame(code, module)
        self.tb_next = after


def _relink(levels: list[_Level]) -> _Link | None:
    head: _Link | None = None
    for level in reversed(levels):
        head = _Link(level, head)
    return head


@dataclass(slots=True)
class _Node:
    """One exception of a chain as it was when captured: its traceback, links and notes."""

    exc: BaseException
    tb: list[_Level]
    notes: list[str] | None
    suppress: bool
    cause: _Node | None = None
    context: _Node | None = None


class Trace:
    """An exception's traceback, captured without its frames; the text is made when first read.

    The text is what `traceback.TracebackException(...).format()` gives at
    the moment of capture: the chain of causes and contexts, and the notes,
    are taken as they were then (re-raising the exception later changes
    neither).
    """

    __slots__ = ("_root",)

    def __init__(self, root: _Node) -> None:
        """Hold the captured chain (see `capture`)."""
        self._root = root

    @classmethod
    def capture(cls, exc: BaseException, tb: TracebackType | None) -> Trace | None:
        """Capture `exc`, raised at `tb`; ``None`` if it must be formatted now."""
        root = _node(exc, tb)
        if root is None:
            return None
        if exc.__cause__ is None and exc.__context__ is None:  # the usual case
            return cls(root)
        seen = {id(exc)}
        pending = [root]
        while pending:  # in the order TracebackException walks the chain
            node = pending.pop()
            for is_cause, chained in ((True, node.exc.__cause__), (False, node.exc.__context__)):
                if chained is None or id(chained) in seen:
                    continue
                seen.add(id(chained))
                captured = _node(chained, chained.__traceback__)
                if captured is None:
                    return None
                if is_cause:
                    node.cause = captured
                else:
                    node.context = captured
                pending.append(captured)
        return cls(root)

    def text(self) -> str:
        """The formatted traceback, chained exceptions included."""
        try:
            return "".join(_rebuild(self._root).format())
        except Exception:  # noqa: BLE001 - a broken __str__, say: the text must not raise
            exc = self._root.exc
            try:
                message = str(exc)
            except Exception:  # noqa: BLE001 - as in describe
                message = f"<{type(exc).__qualname__} whose str() raised>"
            return f"{qualified_name(type(exc))}: {message}\n"


def _node(exc: BaseException, tb: TracebackType | None) -> _Node | None:
    if isinstance(exc, _FORMAT_AT_ONCE):
        return None
    notes = getattr(exc, "__notes__", None)
    if notes is not None:
        notes = list(notes) if isinstance(notes, list) else notes
    return _Node(exc, _light(tb), notes, exc.__suppress_context__)


def _rebuild(root: _Node) -> traceback.TracebackException:
    """The `TracebackException` of a captured chain, as it was when captured."""
    built: dict[int, traceback.TracebackException] = {}
    pending = [root]
    while pending:
        node = pending.pop()
        built[id(node)] = _formatted(node)
        pending.extend(n for n in (node.cause, node.context) if n is not None)
    stack = [root]
    while stack:
        node = stack.pop()
        te = built[id(node)]
        te.__cause__ = built[id(node.cause)] if node.cause is not None else None
        te.__context__ = built[id(node.context)] if node.context is not None else None
        stack.extend(n for n in (node.cause, node.context) if n is not None)
    return built[id(root)]


def _formatted(node: _Node) -> traceback.TracebackException:
    te = traceback.TracebackException(
        type(node.exc),
        node.exc,
        _relink(node.tb),  # type: ignore[arg-type]  # read the way a traceback is read
        compact=True,
    )
    te.__notes__ = node.notes
    te.__suppress_context__ = node.suppress
    return te
