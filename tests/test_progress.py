"""progress=True: a tqdm bar that counts finished items and failures, and is always closed."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, ClassVar

import pytest
import tqdm.auto

from parmap import ArgumentError, imap, parmap

if TYPE_CHECKING:
    from collections.abc import Iterator


class RecordingBar(tqdm.auto.tqdm):  # type: ignore[type-arg]  # tqdm's own class
    """A tqdm that remembers every bar made, to look at its count and whether it was closed."""

    made: ClassVar[list[RecordingBar]] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        RecordingBar.made.append(self)


@pytest.fixture
def bars(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[RecordingBar]]:
    """The bars parmap makes during the test."""
    RecordingBar.made = []
    monkeypatch.setattr(tqdm.auto, "tqdm", RecordingBar)
    yield RecordingBar.made
    RecordingBar.made = []


def fail_on_sevens(x: int) -> int:
    if x % 7 == 0:
        raise ValueError(x)
    return x


def test_bar_counts_items_and_failures_on_stderr(
    kind: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    summary = parmap(fail_on_sevens, range(100), kind=kind, progress=True)
    err = capsys.readouterr().err
    assert summary.failed == 15
    assert "100/100" in err
    assert "15 failed" in err


def test_no_bar_without_progress(capsys: pytest.CaptureFixture[str]) -> None:
    parmap(fail_on_sevens, range(100))
    captured = capsys.readouterr()
    assert captured.err == ""
    assert captured.out == ""


def test_generator_gets_an_open_ended_count(bars: list[RecordingBar]) -> None:
    parmap(fail_on_sevens, (x for x in range(50)), progress=True)
    (bar,) = bars
    assert bar.total is None
    assert bar.n == 50


def test_length_is_the_total(bars: list[RecordingBar]) -> None:
    parmap(fail_on_sevens, range(30), progress=True)
    (bar,) = bars
    assert bar.total == 30
    assert bar.n == 30
    assert bar.disable  # closed: tqdm disables a bar it closed


def test_bar_moves_on_completion_not_on_submission(bars: list[RecordingBar]) -> None:
    release = threading.Event()
    started = threading.Barrier(5, timeout=20)

    def held(x: int) -> int:
        started.wait()
        assert release.wait(20)
        return x

    runner = threading.Thread(
        target=parmap,
        args=(held, range(4)),
        kwargs={"workers": 4, "batch_size": 1, "progress": True},
    )
    runner.start()
    try:
        started.wait()  # all four items are running: sent, not finished
        (bar,) = bars
        assert bar.n == 0
    finally:
        release.set()
        runner.join(20)
    assert bar.n == 4


def test_bar_closed_when_fn_raises_keyboard_interrupt(bars: list[RecordingBar]) -> None:
    def stop(x: int) -> int:
        if x == 3:
            raise KeyboardInterrupt
        return x

    with pytest.raises(KeyboardInterrupt):
        parmap(stop, range(10), workers=1, progress=True)
    (bar,) = bars
    assert bar.disable


def test_bar_closed_when_the_input_raises(bars: list[RecordingBar]) -> None:
    def items() -> Iterator[int]:
        yield 1
        raise OSError("input broke")

    with pytest.raises(OSError, match="input broke"):
        parmap(fail_on_sevens, items(), progress=True)
    (bar,) = bars
    assert bar.disable
    assert bar.n == 1


def test_bar_closed_when_imap_is_left_early(bars: list[RecordingBar]) -> None:
    outcomes = imap(fail_on_sevens, range(10_000), progress=True)
    for outcome in outcomes:
        if outcome.index == 5:
            break
    outcomes.close()
    (bar,) = bars
    assert bar.disable
    assert 6 <= bar.n < 10_000


@pytest.mark.parametrize("bad", ["yes", 1, None])
def test_progress_must_be_a_bool(bad: object) -> None:
    with pytest.raises(ArgumentError, match="progress must be True or False"):
        parmap(fail_on_sevens, [1], progress=bad)  # type: ignore[call-overload]
