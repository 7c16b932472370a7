"""checkpoint=PATH: a SQLite journal; a re-run skips what succeeded and restores its results."""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
from typing import TYPE_CHECKING, Any

import psutil
import pytest

from parmap import ArgumentError, TransportError, imap, parmap
from parmap._journal.identity import identity

if TYPE_CHECKING:
    from pathlib import Path


@pytest.fixture(autouse=True)
def own_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test gets a journal key of its own, in a fresh configuration directory."""
    config = tmp_path / "config"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(config))
    return config


def fail_on_sevens(x: int) -> int:
    if x % 7 == 0:
        raise ValueError(x)
    return x * 10


class Calls:
    """Counts calls by item, from any thread."""

    def __init__(self, fn: Any) -> None:
        self.fn = fn
        self.items: list[Any] = []
        self._lock = threading.Lock()

    def __call__(self, item: Any) -> Any:
        with self._lock:
            self.items.append(item)
        return self.fn(item)


def test_rerun_skips_successes_restores_results_and_retries_failures(
    tmp_path: Path,
    kind: Any,
) -> None:
    journal = tmp_path / "run.db"
    first = parmap(fail_on_sevens, range(100), kind=kind, checkpoint=journal)
    assert (first.succeeded, first.failed, first.skipped) == (85, 15, 0)

    calls = Calls(fail_on_sevens)
    second = parmap(calls, range(100), checkpoint=str(journal))
    assert sorted(calls.items) == list(range(0, 100, 7))  # only the failed ones ran again
    assert (second.succeeded, second.failed, second.skipped) == (0, 15, 85)
    assert second.total == second.succeeded + second.failed + second.skipped == 100
    assert second.results == first.results
    assert [error.index for error in second.errors] == list(range(0, 100, 7))


def test_failed_items_that_now_succeed_are_skipped_the_time_after(tmp_path: Path) -> None:
    journal = tmp_path / "run.db"
    parmap(fail_on_sevens, range(20), checkpoint=journal)
    fixed = parmap(lambda x: x * 10, range(20), checkpoint=journal)
    assert (fixed.succeeded, fixed.failed, fixed.skipped) == (3, 0, 17)
    calls = Calls(fail_on_sevens)
    third = parmap(calls, range(20), checkpoint=journal)
    assert calls.items == []
    assert third.skipped == 20
    assert third.results == [x * 10 for x in range(20)]


def test_new_items_in_a_rerun_run(tmp_path: Path) -> None:
    journal = tmp_path / "run.db"
    parmap(fail_on_sevens, range(1, 7), checkpoint=journal)
    calls = Calls(fail_on_sevens)
    summary = parmap(calls, range(1, 13), checkpoint=journal)
    assert sorted(calls.items) == list(range(7, 13))
    assert summary.skipped == 6
    assert summary.results[:6] == [10, 20, 30, 40, 50, 60]


def test_the_journal_is_a_private_sqlite_database(tmp_path: Path) -> None:
    journal = tmp_path / "run.db"
    parmap(fail_on_sevens, range(10), checkpoint=journal)
    assert journal.stat().st_mode & 0o777 == 0o600
    with sqlite3.connect(journal) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        rows = db.execute("SELECT label, ok, error FROM items ORDER BY label").fetchall()
    db.close()
    assert ("0", 0, "ValueError: 0") in rows
    assert ("1", 1, None) in rows
    assert len(rows) == 10


def test_dict_items_by_key_and_by_default(tmp_path: Path) -> None:
    rows = [{"id": n, "payload": [n, n]} for n in range(10)]
    first = parmap(lambda row: row["id"], rows, checkpoint=tmp_path / "a.db", key=lambda r: r["id"])
    again = parmap(lambda _row: -1, rows, checkpoint=tmp_path / "a.db", key=lambda r: r["id"])
    assert again.skipped == 10
    assert again.results == first.results == list(range(10))
    by_value = parmap(lambda row: row["id"], rows, checkpoint=tmp_path / "b.db")
    assert by_value.ok
    assert parmap(lambda _row: -1, rows, checkpoint=tmp_path / "b.db").skipped == 10


class Record:
    def __init__(self, n: int) -> None:
        self.n = n


def test_items_without_a_stable_identity_fail_with_what_to_do(tmp_path: Path) -> None:
    records = [Record(n) for n in range(3)]
    calls = Calls(lambda record: record.n)
    summary = parmap(calls, records, checkpoint=tmp_path / "run.db")
    assert summary.failed == 3
    assert calls.items == []  # not run: they could never be skipped
    assert "pass key=" in summary.errors[0].message
    keyed = parmap(calls, records, checkpoint=tmp_path / "run.db", key=lambda r: r.n)
    assert keyed.ok
    assert keyed.results == [0, 1, 2]


def test_a_key_that_raises_fails_its_item(tmp_path: Path) -> None:
    def key(x: int) -> int:
        if x == 2:
            raise LookupError("no id")
        return x

    summary = parmap(fail_on_sevens, [1, 2, 3], checkpoint=tmp_path / "run.db", key=key)
    assert (summary.succeeded, summary.failed) == (2, 1)
    assert summary.errors[0].index == 1
    assert "key= raised LookupError: no id" in summary.errors[0].message


def test_a_result_that_cannot_be_stored_fails_its_item_and_runs_again(tmp_path: Path) -> None:
    def lock_for(x: int) -> object:
        return threading.Lock() if x == 1 else x

    journal = tmp_path / "run.db"
    summary = parmap(lock_for, [0, 1, 2], checkpoint=journal)
    assert (summary.succeeded, summary.failed) == (2, 1)
    error = summary.errors[0]
    assert isinstance(error.exception, TransportError)
    assert "could not be stored in the checkpoint" in error.message
    assert summary.results[1] is None
    calls = Calls(lambda x: x)
    assert parmap(calls, [0, 1, 2], checkpoint=journal).skipped == 2
    assert calls.items == [1]


def test_imap_yields_restored_outcomes_in_order(tmp_path: Path) -> None:
    journal = tmp_path / "run.db"
    parmap(fail_on_sevens, range(30), checkpoint=journal)
    outcomes = list(imap(fail_on_sevens, range(30), checkpoint=journal))
    assert [o.index for o in outcomes] == list(range(30))
    assert [o.value for o in outcomes if o.ok] == [x * 10 for x in range(30) if x % 7]


def test_an_interrupted_run_keeps_what_finished(tmp_path: Path) -> None:
    journal = tmp_path / "run.db"

    def stop_at_five(x: int) -> int:
        if x == 5:
            raise KeyboardInterrupt
        return x

    with pytest.raises(KeyboardInterrupt):
        parmap(stop_at_five, range(10), workers=1, batch_size=1, checkpoint=journal)
    calls = Calls(lambda x: x)
    summary = parmap(calls, range(10), checkpoint=journal)
    assert summary.skipped == 5
    assert sorted(calls.items) == [5, 6, 7, 8, 9]


# ------------------------------------------------------------------ bad journals


def test_not_a_journal_is_refused(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("hello, this is not a database\n" * 10)
    text.chmod(0o600)
    with pytest.raises(ArgumentError, match="is not a parmap journal"):
        parmap(fail_on_sevens, [1], checkpoint=text)
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as db:
        db.execute("CREATE TABLE t (x)")
    db.close()
    other.chmod(0o600)
    with pytest.raises(ArgumentError, match="is not a parmap journal"):
        parmap(fail_on_sevens, [1], checkpoint=other)
    assert text.read_text().startswith("hello")  # left as it was


def test_a_directory_or_an_unwritable_place_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ArgumentError, match="is not a file"):
        parmap(fail_on_sevens, [1], checkpoint=tmp_path)
    with pytest.raises(ArgumentError, match="cannot be created"):
        parmap(fail_on_sevens, [1], checkpoint=tmp_path / "missing" / "run.db")


def test_a_journal_others_can_write_is_refused(tmp_path: Path) -> None:
    journal = tmp_path / "run.db"
    parmap(fail_on_sevens, range(3), checkpoint=journal)
    journal.chmod(0o666)
    with pytest.raises(ArgumentError, match="can be changed by other users"):
        parmap(fail_on_sevens, range(3), checkpoint=journal)


def test_a_journal_from_another_key_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    journal = tmp_path / "run.db"
    parmap(fail_on_sevens, range(3), checkpoint=journal)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "someone-else"))
    with pytest.raises(ArgumentError, match="was not written by your parmap"):
        parmap(fail_on_sevens, range(3), checkpoint=journal)


def test_a_tampered_result_is_never_unpickled(tmp_path: Path) -> None:
    journal = tmp_path / "run.db"
    parmap(fail_on_sevens, range(3), checkpoint=journal)
    with sqlite3.connect(journal) as db:
        db.execute("UPDATE items SET result = ? WHERE label = '1'", (b"\x80\x04K\x07.",))
    db.close()
    with pytest.raises(ArgumentError, match="MAC does not match"):
        parmap(fail_on_sevens, range(3), checkpoint=journal)


@pytest.mark.parametrize("bad", [42, object()])
def test_checkpoint_must_be_a_path(bad: object) -> None:
    with pytest.raises(ArgumentError, match="checkpoint must be a path"):
        parmap(fail_on_sevens, [1], checkpoint=bad)  # type: ignore[call-overload]


def test_key_needs_a_checkpoint() -> None:
    with pytest.raises(ArgumentError, match="no checkpoint= was given"):
        parmap(fail_on_sevens, [1], key=str)


def test_identity_is_stable_across_interpreters() -> None:
    value = {"name": "ünïcode", "parts": [1, 2.5, None, True, b"\x00"], "pair": ("a", "b")}
    code = f"from parmap._journal.identity import identity; print(identity({value!r}).hex())"
    seeds = []
    for seed in ("1", "2"):
        out = subprocess.run(
            [sys.executable, "-c", code],
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        ).stdout.strip()
        seeds.append(out)
    assert seeds[0] == seeds[1] == identity(value).hex()


# ------------------------------------------------------------------ kill -9


def _in_group(process: psutil.Process, group: int) -> bool:
    try:
        return os.getpgid(process.pid) == group
    except (ProcessLookupError, PermissionError):
        return False


VICTIM = """
import os, sys, threading, time
from parmap import parmap

def work(x):
    time.sleep(0.01)  # part of the work: the run lasts long enough for commits to happen
    if x == 150:
        os.write(1, b"ready\\n")
        threading.Event().wait()  # never returns: the program is killed meanwhile
    return x * 3

parmap(work, range(400), kind=sys.argv[1], workers=2, batch_size=1, checkpoint=sys.argv[2])
"""


@pytest.mark.timeout(90)
def test_kill_9_leaves_a_whole_journal_and_the_rerun_finishes(
    tmp_path: Path,
    kind: Any,
) -> None:
    script = tmp_path / "victim.py"
    script.write_text(textwrap.dedent(VICTIM))
    journal = tmp_path / "run.db"
    victim = subprocess.Popen(
        [sys.executable, str(script), kind, str(journal)],
        stdout=subprocess.PIPE,
        start_new_session=True,
        env={**os.environ},
    )
    try:
        assert victim.stdout is not None
        assert victim.stdout.readline() == b"ready\n"
        os.kill(victim.pid, signal.SIGKILL)  # the program, as `kill -9 PID` does
        victim.wait(30)
        # its workers, fork server and resource tracker notice and go (cleaning up)
        survivors = [p for p in psutil.process_iter(["pid"]) if _in_group(p, victim.pid)]
        _, alive = psutil.wait_procs(survivors, timeout=20)
        assert not alive, alive
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(victim.pid, signal.SIGKILL)
        victim.wait(30)
        if victim.stdout is not None:
            victim.stdout.close()
    with sqlite3.connect(journal) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        done = {int(label) for (label,) in db.execute("SELECT label FROM items WHERE ok = 1")}
    db.close()
    assert done  # some commits happened before the kill
    assert 150 not in done

    calls = Calls(lambda x: x * 3)
    summary = parmap(calls, range(400), checkpoint=journal)
    assert summary.ok
    assert summary.skipped == len(done)
    assert not done & set(calls.items)  # nothing recorded as done ran again
    assert summary.succeeded + summary.skipped == summary.total == 400
    assert summary.results == [x * 3 for x in range(400)]


def test_a_journal_key_others_can_read_is_refused(tmp_path: Path, own_key: Path) -> None:
    parmap(fail_on_sevens, range(3), checkpoint=tmp_path / "run.db")
    key_file = own_key / "parmap" / "journal.key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    key_file.chmod(0o644)
    with pytest.raises(ArgumentError, match="can be read by other users"):
        parmap(fail_on_sevens, range(3), checkpoint=tmp_path / "run.db")


def test_kind_auto_resumes_too(tmp_path: Path) -> None:
    journal = tmp_path / "run.db"
    first = parmap(fail_on_sevens, range(500), kind="auto", checkpoint=journal)
    assert (first.succeeded, first.failed) == (428, 72)
    again = parmap(fail_on_sevens, range(500), kind="auto", checkpoint=journal)
    assert (again.succeeded, again.failed, again.skipped) == (0, 72, 428)
    assert again.results == first.results
    third = parmap(times_ten, range(500), kind="auto", checkpoint=journal)
    assert (third.succeeded, third.skipped) == (72, 428)
    assert third.results == [x * 10 for x in range(500)]
    fourth = parmap(times_ten, range(500), kind="auto", checkpoint=journal)
    assert fourth.skipped == 500
    assert any("done in an earlier run" in note for note in fourth.notes)


def times_ten(x: int) -> int:
    return x * 10


def test_an_interrupt_inside_a_batch_with_restored_items_keeps_the_counts(tmp_path: Path) -> None:
    journal = tmp_path / "run.db"
    parmap(times_ten, [1, 2, 3], batch_size=4, checkpoint=journal)

    def stop_at_four(x: int) -> int:
        if x == 4:
            raise KeyboardInterrupt
        return x * 10

    with pytest.raises(KeyboardInterrupt) as caught:
        parmap(stop_at_four, [1, 2, 3, 4, 5], batch_size=5, workers=1, checkpoint=journal)
    summary = caught.value.summary  # type: ignore[attr-defined]
    assert (summary.succeeded, summary.failed, summary.skipped) == (0, 0, 3)
    assert summary.total == 3
    assert summary.results == [10, 20, 30]


def test_an_empty_key_file_is_refused_not_used(tmp_path: Path, own_key: Path) -> None:
    key_file = own_key / "parmap" / "journal.key"
    key_file.parent.mkdir(parents=True, mode=0o700)
    key_file.touch(mode=0o600)
    with pytest.raises(ArgumentError, match="holds 0 bytes, not a key"):
        parmap(fail_on_sevens, range(3), checkpoint=tmp_path / "run.db")


def test_rows_copied_from_another_journal_are_refused(tmp_path: Path) -> None:
    one, two = tmp_path / "one.db", tmp_path / "two.db"
    parmap(fail_on_sevens, range(3), checkpoint=one)
    parmap(lambda _x: 0, range(3), checkpoint=two)
    with sqlite3.connect(two) as db:
        db.execute("ATTACH DATABASE ? AS one", (str(one),))
        db.execute("DELETE FROM items")
        db.execute("INSERT INTO items SELECT * FROM one.items")
    db.close()
    with pytest.raises(ArgumentError, match="MAC does not match"):
        parmap(fail_on_sevens, range(3), checkpoint=two)


def test_a_key_returning_no_plain_data_says_what_it_returned(tmp_path: Path) -> None:
    summary = parmap(
        times_ten, [1, 2], checkpoint=tmp_path / "run.db", key=lambda x: ("id", Record(x))
    )
    assert summary.failed == 2
    message = summary.errors[0].message
    assert "key= returned ('id', <" in message
    assert "(a Record inside it)" in message


def test_an_item_twice_in_one_batch_is_restored_twice(tmp_path: Path) -> None:
    journal = tmp_path / "run.db"
    parmap(times_ten, [1, 2], checkpoint=journal)
    calls = Calls(times_ten)
    summary = parmap(calls, [1, 2, 1, 3], batch_size=4, checkpoint=journal)
    assert calls.items == [3]
    assert summary.results == [10, 20, 10, 30]
    assert summary.skipped == 3
