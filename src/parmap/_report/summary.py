"""What a run hands back: `Summary`, and its renderings (text, repr, notebook HTML)."""

from __future__ import annotations

import html
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Generic, TypeVar, final

from parmap._public import public

from .items import ItemError, safe_repr, shorten

if TYPE_CHECKING:
    from typing import Self

__all__ = ["Summary"]

T = TypeVar("T")
R = TypeVar("R")

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
            e.g. why it ran on threads although ``kind="cpu"`` was asked.

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

    @property
    def ok(self) -> bool:
        """``True`` when no item failed."""
        return self.failed == 0

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
        """The counts and the backend on one line; the results stay out of it."""
        return (
            f"<Summary total={self.total} succeeded={self.succeeded} failed={self.failed} "
            f"skipped={self.skipped} elapsed={self.elapsed:.3f}s backend={self.backend!r}>"
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
        return (
            f"<div class='parmap-summary'><p><b>{esc(self._headline())}</b></p>{table}{notes}</div>"
        )


public(Summary)
