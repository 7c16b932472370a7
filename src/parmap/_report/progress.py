"""``progress=True``: a tqdm bar counting finished items, and the failures among them.

``tqdm.auto`` draws a widget in Jupyter and a text bar on stderr elsewhere.
The bar moves when batches finish, never when they are sent; tqdm itself
redraws at most every `MIN_INTERVAL` seconds, so a run of tiny items pays one
cheap ``update`` call per batch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from .batches import Completed

__all__ = ["ProgressBar"]

#: Seconds between redraws at most.
MIN_INTERVAL: Final = 0.2


class ProgressBar:
    """One run's bar: ``update`` with each finished batch, ``close`` on every way out."""

    def __init__(self, total: int | None) -> None:
        """Open the bar; `total` is the input's length when it has one (else it counts up)."""
        from tqdm.auto import tqdm  # noqa: PLC0415 - only runs that ask for a bar import tqdm

        self._failed = 0
        self._skipped = 0
        # no monitor thread: the bar is updated with every finished batch anyway
        bar = type("ParmapBar", (tqdm,), {"monitor_interval": 0})
        self._bar = bar(
            total=total,
            desc="parmap",
            unit="item",
            mininterval=MIN_INTERVAL,
            dynamic_ncols=True,
        )
        self._bar.set_postfix_str(self._postfix(), refresh=False)

    def update(self, done: Completed[Any]) -> None:
        """Count a finished batch: its items, and how many of them failed or were skipped."""
        result = done.result
        if result is None:
            ran, failed = len(done.items), len(done.items)
        else:
            ran, failed = len(result.values), len(result.failures)
        if failed or done.skipped:
            self._failed += failed
            self._skipped += done.skipped
            self._bar.set_postfix_str(self._postfix(), refresh=False)
        self._bar.update(ran)

    def _postfix(self) -> str:
        text = f"{self._failed} failed"
        if self._skipped:
            text += f", {self._skipped} done before"
        return text

    def close(self) -> None:
        """Draw the final state and release the bar (idempotent)."""
        self._bar.close()
