"""Running on a Dask cluster through ``executor=client``: a real LocalCluster of 2 worker processes.

Every test but the first two needs the ``dask`` extra; without it they are
skipped, saying so (see the `dask_client` fixture in conftest).
"""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import threading
from concurrent.futures import BrokenExecutor
from typing import TYPE_CHECKING, Literal, cast

import pytest

import parmap as pm
from conftest import QUIET_SCHEDULER
from parmap import imap, parallel, parmap

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from distributed import Client


def test_import_parmap_imports_no_dask() -> None:
    """``import parmap`` and a run on threads never import Dask."""
    script = (
        "import sys\n"
        "from concurrent.futures import ThreadPoolExecutor\n"
        "import parmap\n"
        "with ThreadPoolExecutor(2) as pool:\n"
        "    parmap.parmap(abs, [-1, -2], executor=pool)\n"
        "parmap.parmap(abs, [-1, -2])\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "[]"


def test_neither_executor_nor_client_is_refused() -> None:
    """Anything else as executor= gets a message naming both accepted kinds."""
    with pytest.raises(pm.ArgumentError, match=r"Executor or a Dask distributed\.Client"):
        parmap(abs, [1], executor=object())  # type: ignore[call-overload]


# --- on the cluster ------------------------------------------------------------------------


def _pid(_: object) -> int:
    return os.getpid()


def _worker_pids(client: Client) -> set[int]:
    pids: dict[str, int] = client.run(os.getpid)
    return set(pids.values())


@pytest.mark.parametrize("kind", ["io", "cpu", "auto"])
def test_work_runs_in_the_workers_processes(dask_client: Client, kind: pm.Kind) -> None:
    """Every item runs in a Dask worker process, never in the caller's, whatever `kind` says."""
    summary = parmap(_pid, range(40), executor=dask_client, kind=kind)
    assert summary.ok
    assert set(summary.results) <= _worker_pids(dask_client)
    assert os.getpid() not in summary.results
    assert summary.backend.startswith("dask ×2 at tcp://")


def test_lambdas_and_closures_travel(dask_client: Client) -> None:
    """fn may be a lambda or a closure over local data: it travels by value."""
    offset = 1000
    table = {i: i * i for i in range(10)}

    def closure(x: int) -> int:
        return table[x] + offset

    assert parmap(closure, range(10), executor=dask_client).results == [
        i * i + 1000 for i in range(10)
    ]
    assert parmap(lambda x: -x, range(5), executor=dask_client).results == [0, -1, -2, -3, -4]


def _fails_on_multiples_of_three(x: int) -> int:
    if x % 3 == 0:
        msg = f"bad item {x}"
        raise ValueError(msg)
    return x


def test_item_errors_are_recorded_with_worker_tracebacks(dask_client: Client) -> None:
    """Each failing item is recorded on its own, with its exception and the worker's traceback."""
    summary = parmap(_fails_on_multiples_of_three, range(10), executor=dask_client)
    assert summary.results == [None, 1, 2, None, 4, 5, None, 7, 8, None]
    assert [e.index for e in summary.errors] == [0, 3, 6, 9]
    error = summary.errors[1]
    assert isinstance(error.exception, ValueError)
    assert (error.type_name, error.message, error.attempts) == ("ValueError", "bad item 3", 1)
    assert "_fails_on_multiples_of_three" in error.traceback
    assert "raise ValueError(msg)" in error.traceback
    assert "_fails_on_multiples_of_three" in str(error.exception.__cause__)


def test_retries_run_on_the_worker(dask_client: Client, tmp_path: Path) -> None:
    """retries= applies on Dask as anywhere: a flaky item succeeds on its second attempt."""

    def flaky(x: int) -> int:
        try:
            (tmp_path / str(x)).touch(exist_ok=False)
        except FileExistsError:
            return x
        msg = "first attempt fails"
        raise ConnectionError(msg)

    summary = parmap(flaky, range(6), executor=dask_client, retries=1)
    assert summary.ok
    assert summary.results == list(range(6))


def test_result_that_cannot_travel_fails_only_its_item(dask_client: Client) -> None:
    """A result that cannot be pickled back fails its item alone, as with processes."""
    summary = parmap(
        lambda x: threading.Lock() if x == 2 else x, range(5), executor=dask_client, batch_size=5
    )
    assert [e.index for e in summary.errors] == [2]
    assert summary.errors[0].type_name == "parmap.TransportError"
    assert summary.results == [0, 1, None, 3, 4]


def _exits_on_two(x: int) -> int:
    if x == 2:
        sys.exit(3)
    return x


def test_system_exit_in_fn_propagates_with_its_code(dask_client: Client) -> None:
    """SystemExit raised by fn on a worker stops the run and propagates, code included."""
    with pytest.raises(SystemExit) as info:
        parmap(_exits_on_two, range(5), executor=dask_client, batch_size=5)
    assert info.value.code == 3
    assert info.value.summary.results == [0, 1]  # type: ignore[attr-defined]


def test_unpicklable_function_is_refused_before_any_work(dask_client: Client) -> None:
    """A fn that cannot be pickled fails the call at once, saying what to change."""
    lock = threading.Lock()
    with pytest.raises(pm.UnpicklableFunctionError, match="Dask cluster's workers"):
        parmap(lambda _: lock.locked(), [1], executor=dask_client)


def _tasks_run(client: Client, run: object) -> int:
    from distributed import get_task_stream  # noqa: PLC0415 - only with the extra

    with get_task_stream(client) as stream:
        assert callable(run)
        run()
    return len(stream.data)


def test_auto_batches_hold_many_items(dask_client: Client) -> None:
    """Fast items are batched: far fewer Dask tasks than items."""
    tasks = _tasks_run(dask_client, lambda: parmap(abs, range(2000), executor=dask_client))
    assert 1 < tasks < 200


def test_fixed_batch_size_gives_one_task_per_batch(dask_client: Client) -> None:
    """batch_size=n sends n items per Dask task."""
    tasks = _tasks_run(
        dask_client, lambda: parmap(abs, range(30), executor=dask_client, batch_size=3)
    )
    assert tasks == 10


def test_auto_batches_aim_at_dask_sized_tasks(dask_client: Client) -> None:
    """Auto batch sizes aim at Dask-sized tasks (~100 ms each), not at process ones (~50 ms)."""
    from parmap._backends.dask import DASK_TARGET  # noqa: PLC0415
    from parmap._run.backend import open_backend  # noqa: PLC0415
    from parmap._run.options import make_options  # noqa: PLC0415

    options = make_options(kind="io", workers=None, batch_size="auto", executor=dask_client)
    backend = open_backend(_pid, "io", 2, options)
    try:
        assert backend.batch_target == DASK_TARGET == 0.1
    finally:
        backend.close(cancel=False)


def test_input_is_read_through_a_bounded_window(dask_client: Client) -> None:
    """An endless input is read lazily: stopping early reads a bounded number of items."""
    read = itertools.count()

    def counted() -> Iterator[int]:
        for item in itertools.count():
            next(read)
            yield item

    outcomes = imap(abs, counted(), executor=dask_client)
    first = list(itertools.islice(outcomes, 100))
    outcomes.close()
    assert [o.value for o in first] == list(range(100))
    assert next(read) < 5000


@pytest.mark.parametrize("ordered", [True, False])
def test_imap_ordered_and_unordered(dask_client: Client, *, ordered: bool) -> None:
    """imap yields every outcome once: in input order when ordered, as they finish otherwise."""
    outcomes = list(
        imap(_fails_on_multiples_of_three, range(50), executor=dask_client, ordered=ordered)
    )
    indices = [o.index for o in outcomes]
    assert sorted(indices) == list(range(50))
    if ordered:
        assert indices == list(range(50))
    assert all(o.ok == (o.index % 3 != 0) for o in outcomes)


def test_client_stays_open_and_usable(dask_client: Client) -> None:
    """parmap never closes the caller's client: it runs other work afterwards."""
    parmap(abs, range(10), executor=dask_client)
    summary = parmap(abs, [-5], executor=dask_client, max_failures=1)
    assert summary.results == [5]
    assert dask_client.status == "running"
    assert dask_client.submit(abs, -3, pure=False).result(timeout=30) == 3


def test_max_failures_stops_early_and_keeps_the_client(dask_client: Client) -> None:
    """Stopping early cancels what is pending on the cluster; the client stays usable."""
    summary = parmap(
        _fails_on_multiples_of_three, range(0, 3000, 3), executor=dask_client, max_failures=3
    )
    assert summary.failed >= 3
    assert summary.total < 1000
    assert any("stopped early" in note for note in summary.notes)
    assert dask_client.submit(abs, -4, pure=False).result(timeout=30) == 4


def test_decorator_runs_on_the_cluster(dask_client: Client) -> None:
    """@parallel(executor=client) maps on the cluster too."""

    @parallel(executor=dask_client)
    def square(x: int) -> int:
        return x * x

    assert square(3) == 9
    assert square.map(range(5)).results == [0, 1, 4, 9, 16]


def test_timeout_with_a_client_is_refused(dask_client: Client) -> None:
    """A timeout cannot be enforced on the caller's cluster: say so before any work."""
    with pytest.raises(pm.ArgumentError, match="timeout=1 cannot be enforced"):
        parmap(abs, [1], executor=dask_client, timeout=1)


# --- workers that die -----------------------------------------------------------------------


def _kill_own_process() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


@pytest.mark.timeout(120)
def test_worker_killed_once_costs_nothing(dask_client: Client, tmp_path: Path) -> None:
    """A worker killed mid-run: Dask runs its batch again elsewhere, and every item succeeds."""

    def dies_once(x: int) -> int:
        if x == 5:
            try:
                (tmp_path / "died").touch(exist_ok=False)
            except FileExistsError:
                return x
            _kill_own_process()
        return x

    summary = parmap(dies_once, range(20), executor=dask_client, batch_size=4)
    assert (tmp_path / "died").exists()
    assert summary.ok
    assert summary.results == list(range(20))
    dask_client.wait_for_workers(2, timeout=60)


def _kills_on_seven(x: int) -> int:
    if x == 7:
        _kill_own_process()
    return x


@pytest.mark.timeout(120)
@pytest.mark.parametrize("batch_size", [1, 5, "auto"])
def test_item_that_kills_every_worker_fails_alone(
    dask_client: Client, batch_size: int | str
) -> None:
    """An item that kills each worker running it fails as WorkerDiedError; the others all run."""
    from distributed.scheduler import KilledWorker  # noqa: PLC0415 - only with the extra

    summary = parmap(
        _kills_on_seven,
        range(15),
        executor=dask_client,
        batch_size=cast("int | Literal['auto']", batch_size),
    )
    assert [e.index for e in summary.errors] == [7]
    error = summary.errors[0]
    assert isinstance(error.exception, pm.WorkerDiedError)
    assert isinstance(error.exception.__cause__, KilledWorker)
    assert "allowed-failures" in error.message
    assert summary.results == [*range(7), None, *range(8, 15)]
    dask_client.wait_for_workers(2, timeout=60)


@pytest.mark.timeout(60)
def test_cluster_without_workers_ends_the_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """A cluster that has no workers for too long ends the run with an error, never a hang."""
    distributed = pytest.importorskip("distributed", reason="the dask extra is not installed")
    from parmap._backends import dask as _dask  # noqa: PLC0415 - only with the extra

    monkeypatch.setattr(_dask, "NO_WORKERS_GRACE", 1.0)
    with (
        distributed.LocalCluster(
            n_workers=0, dashboard_address=None, scheduler_kwargs=QUIET_SCHEDULER
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        with pytest.raises(BrokenExecutor, match="has had no workers for 1 s") as info:
            parmap(abs, range(10), executor=client)
        summary = info.value.summary  # type: ignore[attr-defined]
        assert summary.total == 0
        assert client.status == "running"


def test_rate_is_refused_with_a_client(dask_client: Client) -> None:
    """rate= cannot be shared by workers on other machines: refused up front."""
    with pytest.raises(pm.ArgumentError, match="cannot be shared by the workers of a Dask"):
        parmap(abs, [1], executor=dask_client, rate=5)
