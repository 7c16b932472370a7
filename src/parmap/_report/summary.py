"""What a run hands back: `Summary`, and its renderings (text, repr, notebook HTML)."""

from __future__ import annotations

import html
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar, Unpack, final, overload

from parmap._errors import ArgumentError
from parmap._public import public

from .export import ITEM_REPR, plain_count, plain_number, plain_text, timing_dict
from .items import ItemError, safe_repr, shorten
from .timing import Timing, timing_line

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping
    from typing import Self

    from parmap._options import ParmapOptions

__all__ = ["Origin", "Summary"]

T = TypeVar("T")
R = TypeVar("R")
S = TypeVar("S")


@dataclass(frozen=True, slots=True)
class Origin:
    """How a run's Summary came about, as `Summary.rerun_failed` needs it; set by the run.

    `rerun` is the function that runs the failed items again and merges the
    two summaries (`parmap._run.rerun.rerun_failed`): the run hands it down,
    so that this module never imports the machinery that runs anything.
    """

    #: The options the run was called with: a re-run's defaults.
    options: Mapping[str, object]
    rerun: Callable[[Summary[Any, Any], Callable[[Any], Any], Mapping[str, object]], Any]
    #: The run's raw durations (a `parmap._run.timing.TimingLog`), for merging with a re-run's.
    clock: object = None


#: How many error types, and examples of each, a report shows before it says "... and N more".
_REPORT_TYPES = 5
_REPORT_EXAMPLES = 3


@final
@dataclass(frozen=True, eq=False)
class Summary(Generic[T, R]):
    """What happened to every item of a run. Always returned, even when every item failed.

    Attributes:
        results: Return values in input order; a failed item's slot holds ``None``.
        errors: One `ItemError` per failed item, ordered by input index.
        total: Items accounted for: ``succeeded + failed + skipped``.
        succeeded: Items whose call returned.
        failed: Items whose call raised.
        skipped: Items done in an earlier run (per the checkpoint), not run again.
        elapsed: Wall-clock seconds of the run.
        backend: Where the work ran, e.g. ``"threads ×32"`` or ``"processes ×2"``.
        notes: Anything the run decided on its own that the user should know,
            e.g. why it ran on threads although ``kind="cpu"`` was asked, or
            what `rerun_failed` did.
        timing: How long the items' calls took where they ran (percentiles,
            the slowest items, how busy the workers were): a `Timing`, or
            ``None`` when no call was measured (e.g. every item was restored
            from a checkpoint).

    Examples:
        >>> from parmap import parmap
        >>> summary = parmap(lambda x: 10 // x, [1, 2, 0, 5], workers=2)
        >>> summary.results
        [10, 5, None, 2]
        >>> summary.ok, summary.total, summary.succeeded, summary.failed
        (False, 4, 3, 1)
        >>> summary.errors[0].type_name
        'ZeroDivisionError'
    """

    results: list[R | None]
    errors: list[ItemError[T]]
    total: int
    succeeded: int
    failed: int
    skipped: int = 0
    elapsed: float = 0.0
    backend: str = ""
    notes: tuple[str, ...] = field(default=())
    timing: Timing | None = None
    #: Set by the run that made this summary: what `rerun_failed` needs.
    _origin: Origin | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def ok(self) -> bool:
        """``True`` when no item failed."""
        return self.failed == 0

    def __getstate__(self) -> dict[str, object]:
        """What pickling keeps: everything but the run's origin, which is this process's.

        An unpickled summary reports as the original does; it has no run to
        repeat (`rerun_failed` says what to call instead).
        """
        state = dict(self.__dict__)
        state.pop("_origin", None)
        return state

    def failed_items(self) -> list[T]:
        """The items that failed, in input order: what to run again.

        They come from `errors`, so they are there with ``keep_results=False`` too.

        Added in version 0.1.

        Returns:
            One item per entry of `errors`, in the same (input) order.

        Examples:
            >>> from parmap import parmap
            >>> parmap(int, ["1", "x", "3", "y"]).failed_items()
            ['x', 'y']
        """
        return [error.item for error in self.errors]

    @overload
    def rerun_failed(
        self, fn: Callable[[T], Awaitable[S]], /, **options: Unpack[ParmapOptions[T]]
    ) -> Summary[T, R | S]: ...
    @overload
    def rerun_failed(
        self, fn: Callable[[T], S], /, **options: Unpack[ParmapOptions[T]]
    ) -> Summary[T, R | S]: ...
    def rerun_failed(
        self, fn: Callable[[T], Any], /, **options: Unpack[ParmapOptions[T]]
    ) -> Summary[T, Any]:
        """Run `fn` on the failed items only, and return this summary merged with the re-run.

        The re-run takes the options of the run that made this summary
        (``kind``, ``workers``, ``retries``, ``checkpoint``, ...); those passed
        here replace them, and are checked before anything runs, as `parmap`
        checks its own. This summary is not changed. In the summary returned:

        * `total` is unchanged; an item the re-run fixed counts as succeeded,
          and its result lands at its original index in `results` (which
          stays empty after ``keep_results=False``);
        * an item still failing keeps its original index in `errors`, with
          the new exception, and `ItemError.attempts` adding up both runs';
        * items the re-run did not reach (it was stopped early, or
          interrupted) keep their original errors;
        * `elapsed` is the two runs' time added up, `timing` covers both
          runs' calls, and `notes` gains a line saying what the re-run did.

        With ``checkpoint=`` the journal learns the items fixed. Calls chain:
        ``summary.rerun_failed(fix).rerun_failed(fix)``, each taking the
        options of the one before. A ``KeyboardInterrupt`` during the re-run
        carries the merged summary so far as ``.summary``.

        Added in version 0.1.

        Args:
            fn: Called once per failed item: the same function, or a fixed one.
            **options: Any option of `parmap`, replacing the original run's.

        Returns:
            A new `Summary` over the original run's items.

        Raises:
            ArgumentError: An option is invalid (before any work starts), or
                this summary was not returned by a run in this process (built
                by hand, or unpickled).

        Examples:
            >>> from parmap import parmap
            >>> summary = parmap(int, ["1", "2.5", "3", "x"])
            >>> summary.results
            [1, None, 3, None]
            >>> fixed = summary.rerun_failed(lambda text: round(float(text)))
            >>> fixed.results, fixed.succeeded, fixed.failed, fixed.total
            ([1, 2, 3, None], 3, 1, 4)
            >>> fixed.errors[0].index, fixed.errors[0].attempts
            (3, 2)
            >>> fixed.notes[-1]
            're-run of 2 failed items: 1 fixed, 1 still failing'
        """
        origin = self._origin
        if origin is None:
            msg = (
                "this Summary was not returned by a run in this process (it was built by hand, "
                "or unpickled), so it cannot run its failed items again; run them with "
                "parmap(fn, summary.failed_items(), ...)"
            )
            raise ArgumentError(msg)
        again: Summary[T, Any] = origin.rerun(self, fn, options)
        return again

    def to_dict(self) -> dict[str, Any]:
        """The summary as plain data, for logs and dashboards: ``json.dumps`` always takes it.

        Holds the counts, ``elapsed``, ``backend``, ``notes``, ``timing``
        (``None``, or its fields; ``slowest`` as ``{"index", "seconds"}``
        entries), and one entry per error: ``index``, ``item`` (a repr, cut
        to 200 characters), ``type`` (the qualified name), ``message``,
        ``traceback`` and ``attempts``. Results are left out. Only str, int,
        float (finite), bool, None, lists and dicts of them, whatever the
        items and exceptions were.

        Added in version 0.1.

        Returns:
            A new dict.

        Examples:
            >>> import json
            >>> from parmap import parmap
            >>> data = parmap(int, ["1", "x"]).to_dict()
            >>> data["total"], data["failed"], data["errors"][0]["item"], data["errors"][0]["type"]
            (2, 1, "'x'", 'ValueError')
            >>> json.loads(json.dumps(data))["errors"][0]["index"]
            1
        """
        timing = self.timing
        return {
            "total": plain_count(self.total),
            "succeeded": plain_count(self.succeeded),
            "failed": plain_count(self.failed),
            "skipped": plain_count(self.skipped),
            "ok": self.failed == 0,
            "elapsed": plain_number(self.elapsed),
            "backend": plain_text(self.backend),
            "notes": [plain_text(note) for note in self.notes],
            "timing": None if timing is None else timing_dict(timing),
            "errors": [
                {
                    "index": plain_count(error.index),
                    "item": safe_repr(error.item, ITEM_REPR),
                    "type": plain_text(error.type_name),
                    "message": plain_text(error.message),
                    "traceback": plain_text(error.traceback),
                    "attempts": plain_count(error.attempts),
                }
                for error in self.errors
            ],
        }

    def raise_for_errors(self) -> Self:
        """Raise the items' exceptions as one `ExceptionGroup`; return the summary if none failed.

        Each exception in the group carries a note naming its item's index and
        the item, so a traceback says which item raised what.

        Returns:
            This summary, when every item succeeded (so calls can be chained).

        Raises:
            ExceptionGroup: The original exceptions, in input order, when any item failed.

        Examples:
            >>> from parmap import parmap
            >>> parmap(abs, [1, -2]).raise_for_errors().results
            [1, 2]
            >>> parmap(int, ["1", "x"]).raise_for_errors()
            Traceback (most recent call last):
            ...
            ExceptionGroup: 1 of 2 items failed (1 sub-exception)
        """
        if self.ok:
            return self
        exceptions: list[Exception] = []
        seen: set[int] = set()
        for error in self.errors:
            if id(error.exception) in seen:  # one exception object raised for several items
                continue
            seen.add(id(error.exception))
            note = f"parmap: raised by item {error.index}: {safe_repr(error.item)}"
            if note not in getattr(error.exception, "__notes__", ()):
                error.exception.add_note(note)
            exceptions.append(error.exception)
        msg = f"{self.failed} of {self.total} items failed"
        raise ExceptionGroup(msg, exceptions)

    def _groups(self) -> list[tuple[str, int, list[ItemError[T]]]]:
        """Errors grouped by type, most frequent first: (type name, count, first examples)."""
        counts = Counter(error.type_name for error in self.errors)
        examples: dict[str, list[ItemError[T]]] = {}
        for error in self.errors:
            bucket = examples.setdefault(error.type_name, [])
            if len(bucket) < _REPORT_EXAMPLES:
                bucket.append(error)
        return [(name, count, examples[name]) for name, count in counts.most_common()]

    def _timing_line(self) -> str | None:
        if self.timing is not None:
            return timing_line(self.timing)
        if self.skipped and not self.succeeded and not self.failed:
            return "timing: no call was measured: every item was restored from the checkpoint"
        return None

    def _headline(self) -> str:
        rate = self.total / self.elapsed if self.elapsed > 0 else 0.0
        parts = [f"{self.succeeded} ok", f"{self.failed} failed"]
        if self.skipped:
            parts.append(f"{self.skipped} skipped")
        noun = "item" if self.total == 1 else "items"
        line = (
            f"{self.total} {noun}: {', '.join(parts)} in {self.elapsed:.1f} s ({rate:.1f} items/s)"
        )
        if self.backend:
            line += f" · {self.backend}"
        return line

    def __str__(self) -> str:
        """A short report: counts, time, throughput, backend, errors grouped by type.

        It stays a few lines long however many items failed.
        """
        lines = [self._headline()]
        timing = self._timing_line()
        if timing is not None:
            lines.append(f"  {timing}")
        groups = self._groups()
        for name, count, examples in groups[:_REPORT_TYPES]:
            indexes = ", ".join(str(error.index) for error in examples)
            more = ", …" if count > len(examples) else ""
            noun = "item" if count == 1 else "items"
            message = shorten(examples[0].message, 80)
            lines.append(f"  {name} ×{count} ({noun} {indexes}{more}): {message}")
        if len(groups) > _REPORT_TYPES:
            rest = sum(count for _, count, _ in groups[_REPORT_TYPES:])
            lines.append(f"  … and {rest} more errors of {len(groups) - _REPORT_TYPES} other types")
        lines.extend(f"  note: {note}" for note in self.notes)
        return "\n".join(lines)

    def __repr__(self) -> str:
        """The counts, the backend and the error types on one line; the results stay out of it.

        Examples:
            >>> from parmap import parmap
            >>> repr(parmap(int, ["1", "x", "y", None]))  # doctest: +ELLIPSIS
            "<Summary total=4 ... errors={ValueError: 2, TypeError: 1}>"
        """
        errors = ""
        if self.errors:
            groups = self._groups()
            shown = ", ".join(f"{name}: {count}" for name, count, _ in groups[:_REPORT_TYPES])
            if len(groups) > _REPORT_TYPES:
                shown += f", … {len(groups) - _REPORT_TYPES} more types"
            errors = f" errors={{{shown}}}"
        return (
            f"<Summary total={self.total} succeeded={self.succeeded} failed={self.failed} "
            f"skipped={self.skipped} elapsed={self.elapsed:.3f}s backend={self.backend!r}"
            f"{errors}>"
        )

    def _repr_html_(self) -> str:
        """An HTML table for notebooks: the headline, then one row per error type."""
        esc = html.escape
        rows = [
            "<tr><th>error</th><th>count</th><th>items</th><th>first message</th></tr>",
        ]
        groups = self._groups()
        for name, count, examples in groups[:_REPORT_TYPES]:
            items = ", ".join(f"{e.index}: {safe_repr(e.item, 40)}" for e in examples)
            if count > len(examples):
                items += ", …"
            rows.append(
                f"<tr><td><code>{esc(name)}</code></td><td>{count}</td>"
                f"<td>{esc(items)}</td><td>{esc(shorten(examples[0].message, 120))}</td></tr>"
            )
        if len(groups) > _REPORT_TYPES:
            rest = sum(count for _, count, _ in groups[_REPORT_TYPES:])
            rows.append(
                f"<tr><td colspan='4'>… and {rest} more errors of "
                f"{len(groups) - _REPORT_TYPES} other types</td></tr>"
            )
        table = f"<table>{''.join(rows)}</table>" if groups else ""
        notes = "".join(f"<p><em>note:</em> {esc(note)}</p>" for note in self.notes)
        timing = self._timing_line()
        timed = f"<p>{esc(timing)}</p>" if timing is not None else ""
        return (
            f"<div class='parmap-summary'><p><b>{esc(self._headline())}</b></p>{timed}{table}"
            f"{notes}</div>"
        )


public(Summary)
