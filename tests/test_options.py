"""Unit tests for parmap._run.options and _run.cpus: option checks, worker counts, cgroup quotas."""

from __future__ import annotations

import dataclasses
import os
from concurrent.futures import Executor
from typing import TYPE_CHECKING

import pytest

import parmap
from parmap._run import cpus
from parmap._run.cpus import (
    IO_WORKERS_MIN,
    _own_cgroups,
    available_cpus,
    cgroup_cpu_quota,
    default_workers,
)
from parmap._run.options import Options, make_options

if TYPE_CHECKING:
    from pathlib import Path


class InlineExecutor(Executor):
    """An Executor that is never used to run anything: it only has to pass the type check."""


#: Keyword arguments that make_options accepts; each test overrides one of them.
GOOD: dict[str, object] = {"kind": "io", "workers": None, "batch_size": "auto", "executor": None}

BAD_VALUES: list[tuple[str, object]] = [
    ("kind", "IO"),
    ("kind", "threads"),
    ("kind", ""),
    ("kind", None),
    ("kind", 1),
    ("kind", ("io",)),
    ("workers", 0),
    ("workers", -3),
    ("workers", 1.5),
    ("workers", 8.0),
    ("workers", "8"),
    ("workers", True),
    ("workers", False),
    ("batch_size", 0),
    ("batch_size", -1),
    ("batch_size", 2.5),
    ("batch_size", "AUTO"),
    ("batch_size", "100"),
    ("batch_size", None),
    ("batch_size", True),
    ("executor", "pool"),
    ("executor", 4),
    ("executor", InlineExecutor),  # the class, not an instance
]

#: What each message must suggest passing instead.
ADVICE = {
    "kind": "kind='io'",
    "workers": "workers=8",
    "batch_size": "batch_size=100",
    "executor": "ThreadPoolExecutor",
}


def _bad_options(name: str, value: object) -> pytest.ExceptionInfo[parmap.ArgumentError]:
    with pytest.raises(parmap.ArgumentError) as info:
        make_options(**{**GOOD, name: value})
    return info


def _bad_id(case: tuple[str, object]) -> str:
    return f"{case[0]}={case[1]!r}"


# --- make_options: rejections ------------------------------------------------------------


@pytest.mark.parametrize("case", BAD_VALUES, ids=_bad_id)
def test_bad_value_raises_argument_error(case: tuple[str, object]) -> None:
    """Every bad value of kind, workers, batch_size or executor raises parmap.ArgumentError."""
    name, value = case
    info = _bad_options(name, value)
    assert type(info.value) is parmap.ArgumentError


@pytest.mark.parametrize("case", BAD_VALUES, ids=_bad_id)
def test_bad_value_is_caught_as_type_error(case: tuple[str, object]) -> None:
    """A bad option can be caught as TypeError."""
    name, value = case
    with pytest.raises(TypeError):
        make_options(**{**GOOD, name: value})


@pytest.mark.parametrize("case", BAD_VALUES, ids=_bad_id)
def test_bad_value_is_caught_as_value_error(case: tuple[str, object]) -> None:
    """A bad option can be caught as ValueError."""
    name, value = case
    with pytest.raises(ValueError, match=name):
        make_options(**{**GOOD, name: value})


@pytest.mark.parametrize("case", BAD_VALUES, ids=_bad_id)
def test_message_shows_the_value_with_repr(case: tuple[str, object]) -> None:
    """The message shows the offending value as its repr (so '8' and 8 differ)."""
    name, value = case
    info = _bad_options(name, value)
    assert repr(value) in str(info.value)


@pytest.mark.parametrize("case", BAD_VALUES, ids=_bad_id)
def test_message_names_the_argument(case: tuple[str, object]) -> None:
    """The message starts with the name of the bad argument."""
    name, value = case
    info = _bad_options(name, value)
    assert str(info.value).startswith(f"{name} must be")


@pytest.mark.parametrize("case", BAD_VALUES, ids=_bad_id)
def test_message_says_what_to_pass(case: tuple[str, object]) -> None:
    """The message suggests a value to pass instead."""
    name, value = case
    info = _bad_options(name, value)
    assert ADVICE[name] in str(info.value)


def test_executor_message_shows_the_type() -> None:
    """A bad executor's message names the type of what was given."""
    info = _bad_options("executor", 4)
    assert "got int 4" in str(info.value)


@pytest.mark.parametrize("name", ["workers", "batch_size"])
@pytest.mark.parametrize("value", [True, False])
def test_bool_is_rejected(name: str, value: bool) -> None:  # noqa: FBT001 - parametrized
    """A bool is not accepted as a count, although bool is a subclass of int."""
    with pytest.raises(parmap.ArgumentError, match=f"got {value!r}"):
        make_options(**{**GOOD, name: value})


def test_kind_is_checked_first() -> None:
    """With several bad options, the first one reported is kind."""
    with pytest.raises(parmap.ArgumentError, match=r"^kind must be"):
        make_options(kind="x", workers=0, batch_size=0, executor="x")


# --- make_options: acceptance ------------------------------------------------------------


@pytest.mark.parametrize("kind", ["io", "cpu", "auto"])
def test_good_kind_passes_through(kind: str) -> None:
    """Each valid kind comes back unchanged in the Options."""
    assert make_options(**{**GOOD, "kind": kind}).kind == kind


@pytest.mark.parametrize("workers", [None, 1, 8, 10_000])
def test_good_workers_pass_through(workers: int | None) -> None:
    """workers=None stays None (default decided later), a positive int stays that int."""
    assert make_options(**{**GOOD, "workers": workers}).workers == workers


@pytest.mark.parametrize("batch_size", ["auto", 1, 100])
def test_good_batch_size_passes_through(batch_size: int | str) -> None:
    """batch_size='auto' or a positive int comes back unchanged."""
    assert make_options(**{**GOOD, "batch_size": batch_size}).batch_size == batch_size


def test_good_executor_passes_through() -> None:
    """An Executor instance is kept as the very same object."""
    executor = InlineExecutor()
    assert make_options(**{**GOOD, "executor": executor}).executor is executor


def test_defaults_give_default_options() -> None:
    """The defaults of parmap() make the expected Options value."""
    assert make_options(**GOOD) == Options(
        kind="io", workers=None, batch_size="auto", executor=None, executor_kind=None
    )


def test_options_are_frozen() -> None:
    """An Options value cannot be changed after the checks."""
    options = make_options(**GOOD)
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.workers = 0  # type: ignore[misc]


# --- default_workers ---------------------------------------------------------------------


def test_io_default_is_at_least_32() -> None:
    """Thread runs default to at least 32 workers."""
    assert default_workers("io") >= IO_WORKERS_MIN == 32


def test_io_default_exceeds_cpu_count() -> None:
    """Thread runs default to more workers than there are usable CPUs."""
    assert default_workers("io") > available_cpus()


def test_io_default_on_a_big_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    """With 64 usable CPUs, thread runs default to cpus + 4 = 68 workers."""
    monkeypatch.setattr(cpus, "available_cpus", lambda: 64)
    assert default_workers("io") == 68


def test_cpu_default_is_available_cpus() -> None:
    """Process runs default to one worker per usable CPU."""
    assert default_workers("cpu") == available_cpus()


def test_auto_default_is_available_cpus() -> None:
    """kind='auto' defaults like processes: one worker per usable CPU."""
    assert default_workers("auto") == available_cpus()


# --- cgroup v2 ---------------------------------------------------------------------------


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


V2_OWN = {"": "/a/b"}


def test_v2_quota_is_quota_over_period(tmp_path: Path) -> None:
    """cpu.max '150000 100000' means 1.5 CPUs."""
    _write(tmp_path / "a" / "b" / "cpu.max", "150000 100000\n")
    assert cgroup_cpu_quota(tmp_path, V2_OWN) == 1.5


def test_v2_max_means_no_limit(tmp_path: Path) -> None:
    """cpu.max 'max 100000' means no quota."""
    _write(tmp_path / "a" / "b" / "cpu.max", "max 100000\n")
    assert cgroup_cpu_quota(tmp_path, V2_OWN) is None


def test_v2_no_files_means_no_limit(tmp_path: Path) -> None:
    """A cgroup tree without any cpu.max file has no quota."""
    (tmp_path / "a" / "b").mkdir(parents=True)
    assert cgroup_cpu_quota(tmp_path, V2_OWN) is None


def test_v2_tighter_ancestor_wins(tmp_path: Path) -> None:
    """A tighter limit on a parent cgroup applies to the process's own cgroup."""
    _write(tmp_path / "a" / "b" / "cpu.max", "400000 100000\n")
    _write(tmp_path / "a" / "cpu.max", "50000 100000\n")
    assert cgroup_cpu_quota(tmp_path, V2_OWN) == 0.5


def test_v2_ancestor_without_limit_does_not_lift_own_limit(tmp_path: Path) -> None:
    """'max' on a parent does not undo the process's own cgroup limit."""
    _write(tmp_path / "a" / "b" / "cpu.max", "200000 100000\n")
    _write(tmp_path / "a" / "cpu.max", "max 100000\n")
    assert cgroup_cpu_quota(tmp_path, V2_OWN) == 2.0


def test_v2_hybrid_layout_under_unified(tmp_path: Path) -> None:
    """On hybrid systems the v2 hierarchy under root/unified is read too."""
    _write(tmp_path / "unified" / "a" / "b" / "cpu.max", "250000 100000\n")
    assert cgroup_cpu_quota(tmp_path, V2_OWN) == 2.5


def test_v2_own_path_missing_falls_back_to_mount(tmp_path: Path) -> None:
    """Inside a cgroup namespace the own path is absent; the mount's own limit still counts."""
    _write(tmp_path / "cpu.max", "100000 100000\n")
    assert cgroup_cpu_quota(tmp_path, {"": "/docker/abc"}) == 1.0


def test_v2_garbage_is_ignored(tmp_path: Path) -> None:
    """An unreadable cpu.max (garbage or zero period) is treated as no limit."""
    _write(tmp_path / "a" / "b" / "cpu.max", "lots 0\n")
    _write(tmp_path / "a" / "cpu.max", "100000 0\n")
    assert cgroup_cpu_quota(tmp_path, V2_OWN) is None


def test_v2_not_read_without_v2_entry(tmp_path: Path) -> None:
    """Without a '' (v2) entry in own, cpu.max files are not consulted."""
    _write(tmp_path / "a" / "b" / "cpu.max", "150000 100000\n")
    assert cgroup_cpu_quota(tmp_path, {"memory": "/a/b"}) is None


# --- cgroup v1 ---------------------------------------------------------------------------


def _write_v1(directory: Path, quota: int, period: int = 100_000) -> None:
    _write(directory / "cpu.cfs_quota_us", f"{quota}\n")
    _write(directory / "cpu.cfs_period_us", f"{period}\n")


V1_OWN = {"cpu": "/x"}


@pytest.mark.parametrize("mount", ["cpu", "cpu,cpuacct"])
def test_v1_quota_is_quota_over_period(tmp_path: Path, mount: str) -> None:
    """cfs_quota_us / cfs_period_us gives the CPUs under either v1 mount name."""
    _write_v1(tmp_path / mount / "x", 150_000)
    assert cgroup_cpu_quota(tmp_path, V1_OWN) == 1.5


@pytest.mark.parametrize("mount", ["cpu", "cpu,cpuacct"])
def test_v1_minus_one_means_no_limit(tmp_path: Path, mount: str) -> None:
    """A cfs_quota_us of -1 means no quota."""
    _write_v1(tmp_path / mount / "x", -1)
    assert cgroup_cpu_quota(tmp_path, V1_OWN) is None


def test_v1_tighter_ancestor_wins(tmp_path: Path) -> None:
    """A tighter v1 limit on the mount root applies to the process's own cgroup."""
    _write_v1(tmp_path / "cpu" / "x", 300_000)
    _write_v1(tmp_path / "cpu", 100_000)
    assert cgroup_cpu_quota(tmp_path, V1_OWN) == 1.0


def test_v1_missing_period_is_ignored(tmp_path: Path) -> None:
    """A quota file without its period file is not a limit."""
    _write(tmp_path / "cpu" / "x" / "cpu.cfs_quota_us", "150000\n")
    assert cgroup_cpu_quota(tmp_path, V1_OWN) is None


def test_v1_and_v2_tightest_wins(tmp_path: Path) -> None:
    """With both v1 and v2 limits visible, the tightest one is kept."""
    _write_v1(tmp_path / "cpu" / "x", 300_000)
    _write(tmp_path / "unified" / "a" / "b" / "cpu.max", "75000 100000\n")
    assert cgroup_cpu_quota(tmp_path, {**V1_OWN, **V2_OWN}) == 0.75


def test_no_own_cgroups_means_no_limit(tmp_path: Path) -> None:
    """Without any known cgroup of the process there is no quota."""
    _write(tmp_path / "cpu.max", "100000 100000\n")
    assert cgroup_cpu_quota(tmp_path, {}) is None


# --- /proc/self/cgroup -------------------------------------------------------------------


def test_own_cgroups_v1_line_maps_every_controller(tmp_path: Path) -> None:
    """A v1 line 'id:cpu,cpuacct:/path' maps both controllers to the path."""
    proc = tmp_path / "cgroup"
    proc.write_text("4:cpu,cpuacct:/docker/abc\n")
    assert _own_cgroups(proc) == {"cpu": "/docker/abc", "cpuacct": "/docker/abc"}


def test_own_cgroups_v2_line_maps_empty_controller(tmp_path: Path) -> None:
    """The v2 line '0::/path' maps the controller '' to the path."""
    proc = tmp_path / "cgroup"
    proc.write_text("0::/user.slice\n")
    assert _own_cgroups(proc) == {"": "/user.slice"}


def test_own_cgroups_hybrid_file(tmp_path: Path) -> None:
    """A hybrid file yields both the v1 controllers and the v2 entry."""
    proc = tmp_path / "cgroup"
    proc.write_text("12:memory:/m\n4:cpu,cpuacct:/c\n1:name=systemd:/s\n0::/u\n")
    assert _own_cgroups(proc) == {
        "memory": "/m",
        "cpu": "/c",
        "cpuacct": "/c",
        "name=systemd": "/s",
        "": "/u",
    }


def test_own_cgroups_path_may_contain_colons(tmp_path: Path) -> None:
    """Only the first two colons split a line; the path keeps any further colons."""
    proc = tmp_path / "cgroup"
    proc.write_text("0::/pod:abc:def\n")
    assert _own_cgroups(proc) == {"": "/pod:abc:def"}


def test_own_cgroups_skips_malformed_lines(tmp_path: Path) -> None:
    """Lines without two colons are ignored."""
    proc = tmp_path / "cgroup"
    proc.write_text("garbage\n\n0::/ok\n")
    assert _own_cgroups(proc) == {"": "/ok"}


def test_own_cgroups_missing_file_is_empty(tmp_path: Path) -> None:
    """Without a /proc/self/cgroup file the process has no known cgroups."""
    assert _own_cgroups(tmp_path / "absent") == {}


# --- available_cpus ----------------------------------------------------------------------


def test_available_cpus_at_least_one() -> None:
    """On this machine, at least one CPU is available."""
    assert available_cpus() >= 1


def test_available_cpus_within_affinity() -> None:
    """On this machine, no more CPUs are available than the affinity mask allows."""
    assert available_cpus() <= len(os.sched_getaffinity(0))


def _fake_machine(
    monkeypatch: pytest.MonkeyPatch, root: Path, affinity: int, cpu_max: str | None
) -> None:
    """Pretend the process may run on `affinity` CPUs, in v2 cgroup /a with `cpu_max`."""
    monkeypatch.setattr(cpus, "_affinity_count", lambda: affinity)
    monkeypatch.setattr(cpus, "_own_cgroups", lambda: {"": "/a"})
    (root / "a").mkdir()
    if cpu_max is not None:
        (root / "a" / "cpu.max").write_text(cpu_max)


def test_half_a_cpu_quota_rounds_up_to_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A quota of 0.5 CPU counts as 1 CPU, never 0."""
    _fake_machine(monkeypatch, tmp_path, affinity=4, cpu_max="50000 100000")
    assert available_cpus(tmp_path) == 1


def test_fractional_quota_rounds_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A quota of 1.5 CPUs with 4 CPUs of affinity counts as 2 CPUs."""
    _fake_machine(monkeypatch, tmp_path, affinity=4, cpu_max="150000 100000")
    assert available_cpus(tmp_path) == 2


def test_no_quota_means_affinity(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a quota, the affinity mask sets the count."""
    _fake_machine(monkeypatch, tmp_path, affinity=4, cpu_max=None)
    assert available_cpus(tmp_path) == 4


def test_affinity_below_quota_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A quota of 8 CPUs does not lift a 2-CPU affinity mask."""
    _fake_machine(monkeypatch, tmp_path, affinity=2, cpu_max="800000 100000")
    assert available_cpus(tmp_path) == 2


def test_tiny_quota_never_zero(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Even a quota of 0.01 CPU counts as 1 CPU."""
    _fake_machine(monkeypatch, tmp_path, affinity=4, cpu_max="1000 100000")
    assert available_cpus(tmp_path) == 1


def test_default_workers_follow_the_quota(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Under a 1.5 CPU quota, process runs default to 2 workers."""
    monkeypatch.setattr(cpus, "available_cpus", lambda: available_cpus(tmp_path))
    _fake_machine(monkeypatch, tmp_path, affinity=4, cpu_max="150000 100000")
    assert default_workers("cpu") == 2
