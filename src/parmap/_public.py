"""Objects that `parmap` exports say they live in `parmap`, as users import them.

So reprs, tracebacks and type names read ``parmap.Summary``, not
``parmap._report.summary.Summary``, however the object was first reached (the
package itself imports its parts lazily). Pickles refer to ``parmap.Name``,
which the package resolves on first use.
"""

from __future__ import annotations

__all__ = ["public"]


def public(*objects: object) -> None:
    """Set ``__module__`` of each of `objects` to ``"parmap"``."""
    for obj in objects:
        obj.__module__ = "parmap"
