"""`Summary.rerun_failed`: run a summary's failed items again, and merge the two runs.

::

    summary (its Origin: the run's options, this module's rerun_failed, its clock)
        │ options = the run's, replaced by those given; checked by make_plan
        ▼
    run_plan(fn, failed items) ─▶ Collector(track=…) ─▶ the re-run's Summary
        │ merge: by position in the re-run ↔ index in the original
        ▼
    a new Summary over the original items (its own Origin, so calls chain)

The runner reaches `Summary` through the Origin the collector gives it, so
`parmap._report` never imports anything that runs.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any, TypeVar

from parmap._report.items import ItemError
from parmap._report.summary import Origin, Summary

from .collect import Collector
from .execute import run_plan
from .plan import make_plan
from .timing import TimingLog

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

__all__ = ["merge", "rerun_failed"]

T = TypeVar("T")
R = TypeVar("R")

#: What `Collector.accounted` says of an item of the re-run.
_RAN, _RESTORED = 1, 2


def rerun_failed(
    original: Summary[T, R], fn: Callable[[T], Any], options: Mapping[str, object]
) -> Summary[T, Any]:
    """Run `fn` on the failed items of `original`, with its run's options replaced by `options`.

    Raises:
        ArgumentError: An option is invalid (before anything runs).
        BaseException: A ``KeyboardInterrupt`` or ``SystemExit``, carrying the
            merged summary so far as ``.summary``.
    """
    origin = original._origin  # noqa: SLF001 - the run's own record, set by the collector
    chosen = {**(origin.options if origin is not None else {}), **options}
    items = original.failed_items()
    plan = make_plan(fn, items, chosen, entry="rerun_failed")
    collector: Collector[T, Any] = Collector(
        keep_results=plan.keep_results, options=chosen, rerun=rerun_failed, track=len(items)
    )
    accounted = collector.accounted
    assert accounted is not None  # noqa: S101 - asked for with track=
    if not items:
        return merge(original, collector.summary(), accounted)
    runs = run_plan(fn, items, plan, collector.log)
    max_failures = plan.limits.max_failures
    try:
        for done in runs:
            collector.add(done)
            if max_failures is not None and collector.failed >= max_failures:
                collector.log.notes.append(
                    f"stopped early: {collector.failed} items failed again, which reached "
                    f"max_failures={max_failures}; the items not yet run keep their errors"
                )
                break
        return merge(original, collector.summary(), accounted)
    except BaseException as exc:
        with contextlib.suppress(AttributeError):  # an exception type without __dict__
            exc.summary = merge(  # type: ignore[attr-defined]
                original, collector.summary(), accounted, interrupted=True
            )
        raise
    finally:
        runs.close()


def merge(
    original: Summary[T, R],
    again: Summary[T, Any],
    accounted: Sequence[int],
    *,
    interrupted: bool = False,
) -> Summary[T, Any]:
    """`original` with the outcome of its re-run, `again`, over its failed items.

    Item ``p`` of the re-run is ``original.errors[p]``'s item; ``accounted[p]``
    says whether the re-run ran it (1), restored it from the checkpoint (2), or
    never reached it (0), in which case its original error stands.
    """
    failed = original.errors
    renewed = {error.index: error for error in again.errors}
    kept = bool(again.results)  # the re-run kept results (keep_results=False: it did not)
    results: list[Any] = list(original.results)
    errors: list[ItemError[T]] = []
    fixed = restored = 0
    for position, error in enumerate(failed):
        state = accounted[position] if position < len(accounted) else 0
        if state == _RAN and position in renewed:
            new = renewed[position]
            errors.append(
                ItemError(
                    index=error.index,
                    item=error.item,
                    exception=new.exception,
                    type_name=new.type_name,
                    message=new.message,
                    traceback=new.traceback,
                    attempts=error.attempts + new.attempts,
                )
            )
            continue
        if state not in {_RAN, _RESTORED}:
            errors.append(error)
            continue
        if state == _RAN:
            fixed += 1
        else:
            restored += 1
        if results:
            if len(results) <= error.index:
                results.extend([None] * (error.index + 1 - len(results)))
            results[error.index] = (
                again.results[position] if kept and position < len(again.results) else None
            )
    clock = _clock(original, again, [error.index for error in failed])
    elapsed = original.elapsed + again.elapsed
    timing = clock.timing(elapsed) if clock is not None else None
    merged: Summary[T, Any] = Summary(
        results=results,
        errors=errors,
        total=original.total,
        succeeded=original.succeeded + fixed,
        failed=len(errors),
        skipped=original.skipped + restored,
        elapsed=elapsed,
        backend=_backend(original.backend, again.backend),
        notes=(
            *original.notes,
            *(f"re-run: {note}" for note in again.notes),
            _note(len(failed), fixed, restored, len(errors), accounted, interrupted=interrupted),
        ),
        timing=timing or again.timing or original.timing,
    )
    origin = again._origin  # noqa: SLF001 - set by the re-run's collector
    if origin is not None:
        object.__setattr__(merged, "_origin", Origin(origin.options, origin.rerun, clock))
    return merged


def _clock(
    original: Summary[Any, Any], again: Summary[Any, Any], indexes: list[int]
) -> TimingLog | None:
    """Both runs' raw durations, merged; ``None`` when either run kept none."""
    first = original._origin.clock if original._origin is not None else None  # noqa: SLF001
    second = again._origin.clock if again._origin is not None else None  # noqa: SLF001
    if not isinstance(first, TimingLog) or not isinstance(second, TimingLog):
        return None
    return first.merged(second, indexes)


def _backend(original: str, again: str) -> str:
    if not again or again == original or original.endswith(f"re-run on {again}"):
        return original
    return f"{original}, re-run on {again}" if original else again


def _note(
    count: int,
    fixed: int,
    restored: int,
    still: int,
    accounted: Sequence[int],
    *,
    interrupted: bool,
) -> str:
    """What the re-run did, for `Summary.notes`."""
    if not count:
        return "re-run: no item had failed, so nothing was run"
    noun = "item" if count == 1 else "items"
    parts = [f"{fixed} fixed"]
    if restored:
        parts.append(f"{restored} restored from the checkpoint")
    reached = sum(1 for state in accounted if state)
    parts.append(f"{still - (count - reached)} still failing")
    if reached < count:
        why = "interrupted" if interrupted else "stopped early"
        parts.append(f"{count - reached} not run again ({why})")
    return f"re-run of {count} failed {noun}: {', '.join(parts)}"
