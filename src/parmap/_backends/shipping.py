"""What travels to a worker process: the run's job pickled once, and each batch as bytes.

Shared by the process backend and the Dask backend. An item that cannot be
pickled travels as a `NotSent` placeholder and fails alone; a function that
cannot be pickled is refused before any worker starts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import cloudpickle

from parmap._errors import UnpicklableFunctionError
from parmap._worker import pickling
from parmap._worker.transport import NotSent

if TYPE_CHECKING:
    from collections.abc import Sequence

    from parmap._worker.process import Job, Shipment

__all__ = ["batch_payload", "pickle_job"]


def batch_payload(
    shipment: Shipment,
    items: Sequence[object],
    batch: int,
    prior: dict[int, int] | None,
) -> bytes:
    """The bytes `run_shipped_batch` runs; an item that cannot be pickled fails alone."""
    try:
        payload: bytes = cloudpickle.dumps((shipment, items, False, batch, prior or {}))
    except Exception:  # noqa: BLE001 - find the culprits and send placeholders
        payload = cloudpickle.dumps((shipment, _placeholders(items), True, batch, prior or {}))
    return payload


def _placeholders(items: Sequence[object]) -> list[object]:
    """`items`, with each one that cannot be pickled replaced by a `NotSent` saying why."""
    sendable: list[object] = []
    for item in items:
        try:
            cloudpickle.dumps(item)
        except Exception as exc:  # noqa: BLE001 - that item's failure, with the reason
            message = (
                f"this item could not be pickled to send it to a worker process: "
                f"{type(exc).__name__}: {exc}; pass plain data (numbers, strings, lists, "
                "dicts, dataclasses), or use kind='io', where nothing is pickled"
            )
            sendable.append(NotSent(message))
        else:
            sendable.append(item)
    return sendable


def pickle_job(job: Job) -> bytes:
    """Pickle a run's job (its `fn` and policy) for worker processes, or refuse `fn` now."""
    try:
        return pickling.dumps(job)
    except Exception as exc:
        msg = (
            f"fn {job.fn!r} cannot be sent to worker processes: {type(exc).__name__}: {exc}. "
            "Use kind='io' to run it on threads (nothing is pickled), or keep objects "
            "such as locks, open files and connections out of what fn refers to "
            "(create them inside fn instead)"
        )
        raise UnpicklableFunctionError(msg) from exc
