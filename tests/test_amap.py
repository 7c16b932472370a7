"""amap: parmap awaited from async code, on the caller's loop, cancellable."""

from __future__ import annotations

import asyncio
import threading

import pytest

from parmap import ArgumentError, amap, parmap

#: Seconds any wait in these tests may take before the test counts as hung.
WAIT = 10.0


async def double(x: int) -> int:
    await asyncio.sleep(0)
    return 2 * x


def test_amap_runs_a_coroutine_function() -> None:
    """await amap(fn, items) returns the Summary, results in input order."""

    async def main() -> list[int | None]:
        return (await amap(double, range(20), workers=3)).results

    assert asyncio.run(main()) == [2 * x for x in range(20)]


@pytest.mark.parametrize("kind", ["io", "cpu"])
def test_amap_runs_a_plain_function(kind: str) -> None:
    """A plain function runs on threads or processes, as with parmap."""

    async def main() -> tuple[list[int | None], str]:
        summary = await amap(abs, [-1, -2, 3], kind=kind)  # type: ignore[call-overload]
        return summary.results, summary.backend

    results, backend = asyncio.run(main())
    assert results == [1, 2, 3]
    assert backend.startswith("threads" if kind == "io" else "processes")


def test_amap_uses_the_callers_loop() -> None:
    """Coroutines run on the awaiting loop, so objects bound to it (here a Queue) work."""

    async def main() -> tuple[list[int | None], bool]:
        caller = asyncio.get_running_loop()
        shared: asyncio.Queue[int] = asyncio.Queue()
        loops: set[asyncio.AbstractEventLoop] = set()

        async def produce(x: int) -> int:
            loops.add(asyncio.get_running_loop())
            await shared.put(x)
            return x

        summary = await amap(produce, range(5))
        return summary.results, loops == {caller} and shared.qsize() == 5

    assert asyncio.run(main()) == ([0, 1, 2, 3, 4], True)


def test_caller_loop_keeps_running_meanwhile() -> None:
    """While amap runs, other tasks on the caller's loop make progress (no blocking)."""

    async def main() -> list[int | None]:
        ticked = asyncio.Event()

        async def ticker() -> None:
            ticked.set()

        async def wait_for_tick(x: int) -> int:
            await asyncio.wait_for(ticked.wait(), WAIT)
            return x

        task = asyncio.get_running_loop().create_task(ticker())
        summary = await amap(wait_for_tick, range(3))
        await task
        return summary.results

    assert asyncio.run(main()) == [0, 1, 2]


def test_cancelling_amap_cancels_its_coroutines_and_starts_nothing_more() -> None:
    """Cancelling the awaiting task cancels running items; no further item starts."""
    started: list[int] = []
    cancelled: list[int] = []

    async def main() -> None:
        enough = asyncio.Event()

        async def hang(x: int) -> None:
            started.append(x)
            if len(started) == 3:
                enough.set()
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                cancelled.append(x)
                raise

        task = asyncio.create_task(amap(hang, range(1000), workers=3, batch_size=1))
        await asyncio.wait_for(enough.wait(), WAIT)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert sorted(started) == [0, 1, 2]
    assert sorted(cancelled) == [0, 1, 2]  # and the leak check sees the helper thread end


def test_cancelling_amap_of_a_plain_function_stops_the_run() -> None:
    """With a plain fn on threads, the run stops reading items once cancelled."""
    release = threading.Event()
    busy = threading.Barrier(3)
    started: list[int] = []

    def block(x: int) -> int:
        started.append(x)
        if x < 2:
            busy.wait(WAIT)
        release.wait(WAIT)
        return x

    async def main() -> None:
        task = asyncio.create_task(amap(block, range(1000), workers=2, batch_size=1))
        await asyncio.to_thread(busy.wait, WAIT)  # both workers are in an item
        task.cancel()
        release.set()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert len(started) < 1000


def test_amap_checks_options_before_work() -> None:
    """A bad option or ordered= raises ArgumentError at once."""

    async def main(**options: object) -> None:
        await amap(double, [1], **options)  # type: ignore[call-overload]

    with pytest.raises(ArgumentError, match="workers"):
        asyncio.run(main(workers=0))
    with pytest.raises(ArgumentError, match="ordered="):
        asyncio.run(main(ordered=True))
    with pytest.raises(ArgumentError, match="kind='cpu'"):
        asyncio.run(main(kind="cpu"))


def test_amap_errors_and_fatal_exceptions() -> None:
    """Per-item errors land in the summary; a KeyboardInterrupt from fn propagates."""

    async def fail(x: int) -> int:
        if x == 1:
            raise ValueError("one")
        return x

    async def main() -> list[str]:
        summary = await amap(fail, range(3))
        return [e.message for e in summary.errors]

    assert asyncio.run(main()) == ["one"]

    async def interrupt(_: int) -> int:
        raise KeyboardInterrupt

    async def interrupted() -> None:
        await amap(interrupt, [1])

    with pytest.raises(KeyboardInterrupt):
        asyncio.run(interrupted())


def test_blocking_parmap_inside_an_amap_coroutine_does_not_deadlock() -> None:
    """A coroutine run by amap that calls parmap(async fn) blocking gets a loop of its own."""

    async def inner(x: int) -> int:
        return x + 1

    async def outer(x: int) -> list[object]:
        return list(parmap(inner, [x, x]).results)

    async def main() -> list[object]:
        return list((await amap(outer, [1, 2])).results)

    assert asyncio.run(main()) == [[2, 2], [3, 3]]
