"""The options of a run as one frozen value, checked once, before any worker starts.

Also the default worker counts, and why they are what they are.
"""

from __future__ import annotations

import math
import os
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, final

from ._backends.base import is_dask_client
from ._errors import ArgumentError

if TYPE_CHECKING:
    from collections.abc import Callable

    from distributed import Client

__all__ = [
    "NO_LIMITS",
    "Kind",
    "Limits",
    "Options",
    "Tracking",
    "available_cpus",
    "default_workers",
    "make_limits",
    "make_options",
    "make_tracking",
]

Kind = Literal["io", "cpu", "auto"]
"""Where the work runs: ``"io"`` threads, ``"cpu"`` processes, ``"auto"`` measured and picked."""

_KINDS: tuple[str, ...] = ("io", "cpu", "auto")

#: Default threads for waiting work (see `default_workers`).
IO_WORKERS_MIN = 32
#: Default items awaiting at once for a coroutine function (see `default_workers`).
ASYNC_WORKERS = 100
#: Where the cgroup file system is mounted.
CGROUP_ROOT = Path("/sys/fs/cgroup")


@final
@dataclass(frozen=True, slots=True)
class Options:
    """The validated options of one run."""

    kind: Kind
    workers: int | None
    batch_size: int | Literal["auto"]
    executor: Executor | Client | None


def make_options(
    *,
    kind: object,
    workers: object,
    batch_size: object,
    executor: object,
) -> Options:
    """Check every option; raise `ArgumentError` on the first bad one.

    ``workers`` stays ``None`` when not given: its default depends on the kind
    finally chosen (`default_workers`).
    """
    if kind not in _KINDS:
        msg = (
            f"kind must be one of 'io', 'cpu' or 'auto', got {kind!r}; use kind='io' for work "
            "that waits (network, disk), kind='cpu' for work that computes in Python, "
            "kind='auto' to let parmap measure and pick"
        )
        raise ArgumentError(msg)
    checked_kind: Kind = kind  # type: ignore[assignment]  # narrowed by the membership test
    if workers is not None and (
        isinstance(workers, bool) or not isinstance(workers, int) or workers < 1
    ):
        msg = (
            f"workers must be a positive int, got {workers!r}; pass e.g. workers=8, "
            "or leave it out for the default"
        )
        raise ArgumentError(msg)
    if batch_size != "auto" and (
        isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1
    ):
        msg = (
            f"batch_size must be a positive int or 'auto', got {batch_size!r}; "
            "pass e.g. batch_size=100, or leave it out to let parmap size batches"
        )
        raise ArgumentError(msg)
    if executor is not None and not isinstance(executor, Executor):
        if not is_dask_client(executor):
            msg = (
                "executor must be a concurrent.futures.Executor or a Dask distributed.Client, "
                f"got {type(executor).__qualname__} {executor!r}; pass e.g. a "
                "ThreadPoolExecutor or ProcessPoolExecutor you created, or Client(address) to "
                "run on a Dask cluster, or leave it out and let parmap start its own workers"
            )
            raise ArgumentError(msg)
        if getattr(executor, "asynchronous", False):
            msg = (
                f"executor={executor!r} is an asynchronous Dask Client; parmap waits for its "
                "work in plain threads, so pass a synchronous one: Client(address), without "
                "asynchronous=True"
            )
            raise ArgumentError(msg)
    return Options(
        kind=checked_kind,
        workers=workers if isinstance(workers, int) else None,
        batch_size=batch_size if isinstance(batch_size, int) else "auto",
        executor=executor,
    )


def default_workers(kind: Kind | Literal["async"]) -> int:
    """The number of workers used when `workers` is not given.

    - ``"cpu"`` (and ``"auto"``): the CPUs this process may use, `available_cpus`;
      more processes than CPUs only add switching.
    - ``"io"``: ``max(32, cpus + 4)``. Waiting work barely uses a CPU, so the
      count is set by what the other side tolerates, not by the machine: 32
      requests at once is a polite load for most web APIs and file systems,
      and an idle thread costs little memory. Pass ``workers=`` to go higher.
    - ``"async"`` (a coroutine function, on the event loop): 100. An item
      awaiting on a loop costs a few kB and no thread, so the count is set
      only by what the other side tolerates; 100 is what common HTTP clients
      allow at once by default (aiohttp's connection limit, for one).

    Examples:
        >>> default_workers("io") >= 32
        True
        >>> default_workers("async")
        100
        >>> default_workers("cpu") == available_cpus()
        True
    """
    if kind == "io":
        return max(IO_WORKERS_MIN, available_cpus() + 4)
    if kind == "async":
        return ASYNC_WORKERS
    return available_cpus()


def available_cpus(cgroup_root: Path = CGROUP_ROOT) -> int:
    """The CPUs this process may actually use.

    The smallest of: the CPU affinity mask (``taskset``, ``cpuset``), and the
    CPU quota of the process's cgroup (v2 ``cpu.max`` or v1
    ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us``, as set by ``docker --cpus``
    or Kubernetes limits), rounded up. Never less than 1.

    Args:
        cgroup_root: Where the cgroup file system is mounted (for tests).

    Examples:
        >>> available_cpus() >= 1
        True
    """
    count = _affinity_count()
    quota = _quota(cgroup_root)
    if quota is not None:
        count = min(count, max(1, math.ceil(quota)))
    return max(1, count)


#: This process's cgroup quota, read once: reading it walks several files, which would
#: cost every call a fraction of a millisecond.
_QUOTAS: dict[Path, float | None] = {}


def _quota(cgroup_root: Path) -> float | None:
    if cgroup_root != CGROUP_ROOT:  # a fake tree, in tests
        return cgroup_cpu_quota(cgroup_root, _own_cgroups())
    if cgroup_root not in _QUOTAS:
        _QUOTAS[cgroup_root] = cgroup_cpu_quota(cgroup_root, _own_cgroups())
    return _QUOTAS[cgroup_root]


def _affinity_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - platforms without affinity
        return os.cpu_count() or 1


def _own_cgroups(proc_file: Path = Path("/proc/self/cgroup")) -> dict[str, str]:
    """Map each cgroup controller ("" for v2) to this process's path, from /proc/self/cgroup."""
    try:
        text = proc_file.read_text()
    except OSError:
        return {}
    paths: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:  # noqa: PLR2004 - "id:controllers:path"
            continue
        for controller in parts[1].split(","):
            paths[controller] = parts[2]
    return paths


def cgroup_cpu_quota(root: Path, own: dict[str, str]) -> float | None:
    """CPUs allowed by the cgroup quota (e.g. 1.5), or ``None`` when there is no limit.

    Walks from the process's own cgroup up to the root, since a limit on any
    ancestor applies too, and keeps the tightest.
    """
    limits: list[float] = []
    if "" in own:  # cgroup v2, mounted at the root or, on hybrid systems, at unified/
        for directory in [*_ancestors(root, own[""]), *_ancestors(root / "unified", own[""])]:
            limit = _read_v2(directory / "cpu.max")
            if limit is not None:
                limits.append(limit)
    if "cpu" in own:  # cgroup v1, mounted as cpu or cpu,cpuacct
        for mount in (root / "cpu", root / "cpu,cpuacct"):
            for directory in _ancestors(mount, own["cpu"]):
                limit = _read_v1(directory)
                if limit is not None:
                    limits.append(limit)
    return min(limits) if limits else None


def _ancestors(mount: Path, own: str) -> list[Path]:
    """The cgroup directory for `own` under `mount` and each of its parents up to `mount`."""
    relative = Path(own.lstrip("/"))
    directories = [mount / relative, *(mount / parent for parent in relative.parents)]
    return [d for d in directories if d.is_dir()]


def _read_v2(path: Path) -> float | None:
    try:
        quota, period = path.read_text().split()[:2]
    except (OSError, ValueError):
        return None
    if quota == "max":
        return None
    try:
        return int(quota) / int(period)
    except (ValueError, ZeroDivisionError):
        return None


def _read_v1(directory: Path) -> float | None:
    try:
        quota = int((directory / "cpu.cfs_quota_us").read_text())
        period = int((directory / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    if quota <= 0 or period <= 0:
        return None
    return quota / period


@final
@dataclass(frozen=True, slots=True)
class Limits:
    """The validated per-item and run-level limits of one run."""

    retries: int
    retry_on: tuple[type[Exception], ...]
    backoff: float
    timeout: float | None
    max_failures: int | None
    rate: float | None = None

    def retries_timeout(self, attempt: int) -> bool:
        """Whether a timed-out attempt number `attempt` gets another try."""
        return attempt <= self.retries and issubclass(TimeoutError, self.retry_on)


#: No retries, no timeout, no early stop.
NO_LIMITS = Limits(retries=0, retry_on=(Exception,), backoff=0.0, timeout=None, max_failures=None)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def make_limits(
    *,
    retries: object,
    retry_on: object,
    backoff: object,
    timeout: object,
    max_failures: object,
    rate: object = None,
) -> Limits:
    """Check the retry, timeout, rate and fail-fast options; raise `ArgumentError` on a bad one."""
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        msg = (
            f"retries must be an int >= 0 (extra attempts after the first), got {retries!r}; "
            "pass e.g. retries=3, or leave it out for no retries"
        )
        raise ArgumentError(msg)
    classes = retry_on if isinstance(retry_on, tuple) else (retry_on,)
    if not classes or not all(
        isinstance(cls, type) and issubclass(cls, Exception) for cls in classes
    ):
        msg = (
            f"retry_on must be an exception class or a tuple of them (subclasses of "
            f"Exception), got {retry_on!r}; pass e.g. retry_on=(ConnectionError, TimeoutError)"
        )
        raise ArgumentError(msg)
    if not _is_number(backoff) or backoff < 0:  # type: ignore[operator]
        msg = (
            f"backoff must be a number of seconds >= 0, got {backoff!r}; pass e.g. backoff=0.5 "
            "(waits grow as 0.5, 1, 2, ... s, randomised), or backoff=0 to retry at once"
        )
        raise ArgumentError(msg)
    if timeout is not None and (not _is_number(timeout) or timeout <= 0):  # type: ignore[operator]
        msg = (
            f"timeout must be a number of seconds > 0 for one attempt of one item, got "
            f"{timeout!r}; pass e.g. timeout=30, or leave it out for no time limit"
        )
        raise ArgumentError(msg)
    if max_failures is not None and (
        isinstance(max_failures, bool) or not isinstance(max_failures, int) or max_failures < 1
    ):
        msg = (
            f"max_failures must be a positive int, got {max_failures!r}; pass e.g. "
            "max_failures=10 to stop after 10 failed items, or leave it out to run every item"
        )
        raise ArgumentError(msg)
    if rate is not None and (not _is_number(rate) or rate <= 0):  # type: ignore[operator]
        msg = (
            f"rate must be a number of item starts per second > 0, got {rate!r}; pass e.g. "
            "rate=10 for at most 10 calls a second, rate=0.5 for one every 2 s, or leave it "
            "out for no limit"
        )
        raise ArgumentError(msg)
    return Limits(
        retries=retries,
        retry_on=classes,
        backoff=float(backoff),  # type: ignore[arg-type]  # checked above
        timeout=float(timeout) if timeout is not None else None,  # type: ignore[arg-type]
        max_failures=max_failures,
        rate=float(rate) if rate is not None else None,  # type: ignore[arg-type]  # checked
    )


@final
@dataclass(frozen=True, slots=True)
class Tracking:
    """What a run shows and remembers as it goes: a progress bar, a checkpoint journal."""

    progress: bool = False
    checkpoint: Path | None = None
    key: Callable[[Any], object] | None = None


def make_tracking(*, progress: object, checkpoint: object, key: object) -> Tracking:
    """Check the progress and checkpoint options; raise `ArgumentError` on a bad one."""
    if not isinstance(progress, bool):
        msg = (
            f"progress must be True or False, got {type(progress).__qualname__} {progress!r}; "
            "pass progress=True for a progress bar"
        )
        raise ArgumentError(msg)
    if checkpoint is not None and not isinstance(checkpoint, str | os.PathLike):
        msg = (
            f"checkpoint must be a path (str or pathlib.Path), got "
            f"{type(checkpoint).__qualname__} {checkpoint!r}; pass e.g. checkpoint='run.db'"
        )
        raise ArgumentError(msg)
    if key is not None and not callable(key):
        msg = (
            f"key must be a function of one item, got {type(key).__qualname__} {key!r}; "
            "pass e.g. key=lambda item: item['id']"
        )
        raise ArgumentError(msg)
    if key is not None and checkpoint is None:
        msg = (
            "key= gives items their identity in a checkpoint journal, and no checkpoint= was "
            "given; pass checkpoint='run.db' as well, or leave out key="
        )
        raise ArgumentError(msg)
    path = Path(os.fsdecode(checkpoint)) if checkpoint is not None else None
    return Tracking(progress=progress, checkpoint=path, key=key)
