"""How many workers a run gets by default: the CPUs this process may use, and why.

The CPU count respects the affinity mask and the cgroup quota (``docker
--cpus``, Kubernetes limits), read once per process.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Literal

__all__ = [
    "ASYNC_WORKERS",
    "IO_WORKERS_MIN",
    "available_cpus",
    "cgroup_cpu_quota",
    "default_workers",
]

#: Default threads for waiting work (see `default_workers`).
IO_WORKERS_MIN = 32
#: Default items awaiting at once for a coroutine function (see `default_workers`).
ASYNC_WORKERS = 100
#: Where the cgroup file system is mounted.
CGROUP_ROOT = Path("/sys/fs/cgroup")


def default_workers(kind: Literal["io", "cpu", "auto", "async"]) -> int:
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
