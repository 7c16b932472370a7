"""Type-checked, never run: what an editor sees of parmap's API."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, assert_type

from parmap import ItemError, Stream, Summary, Timing, each, imap, parallel, parmap


def to_length(text: str) -> int:
    return len(text)


summary = parmap(to_length, ["a", "bb"], kind="io", workers=4, batch_size="auto")
assert_type(summary, Summary[str, int])
assert_type(summary.results, list[int | None])
assert_type(summary.errors, list[ItemError[str]])
assert_type(summary.errors[0].item, str)
assert_type(summary.errors[0].exception, Exception)
assert_type(summary.ok, bool)
assert_type(summary.raise_for_errors(), Summary[str, int])

lambda_summary = parmap(lambda n: n * 2.0, range(3), kind="cpu")
assert_type(lambda_summary, Summary[int, float])

generator_summary = parmap(str, (n for n in range(3)))
assert_type(generator_summary.results, list[str | None])

outcomes = imap(to_length, iter(["a", "bb"]), ordered=False, retries=2, timeout=1.5)
assert_type(outcomes, Stream[str, int])
assert_type(outcomes.values(), Iterator[int | None])
assert_type(outcomes.errors, list[ItemError[str]])
for outcome in outcomes:
    assert_type(outcome.value, int | None)
    assert_type(outcome.error, ItemError[str] | None)
    assert_type(outcome.ok, bool)

limited = parmap(
    to_length,
    ["a"],
    retries=1,
    retry_on=(ConnectionError, TimeoutError),
    backoff=0.5,
    max_failures=3,
    keep_results=False,
)
assert_type(limited, Summary[str, int])


@parallel(kind="cpu", workers=4)
def fetch(url: str, retries: int = 0) -> bytes:
    return url.encode() * (retries + 1)


assert_type(fetch("x"), bytes)
assert_type(fetch("x", retries=2), bytes)
assert_type(fetch.map(["a", "b"]), Summary[Any, bytes])
assert_type(fetch.map(["a"]).results, list[bytes | None])
assert_type(fetch.imap(["a"], ordered=False), Stream[Any, bytes])


@parallel
def bare(n: int) -> str:
    return str(n)


assert_type(bare(1), str)


@each([1, 2, 3], workers=2)
def looped(item: int) -> float:
    return item / 2


assert_type(looped, Summary[int, float])


async def fetch_length(text: str) -> int:
    return len(text)


async_summary = parmap(fetch_length, ["a", "bb"])
assert_type(async_summary, Summary[str, int])
assert_type(async_summary.results, list[int | None])
assert_type(imap(fetch_length, ["a"]), Stream[str, int])

long_run = parmap(
    to_length,
    ["a"],
    progress=True,
    rate=2.5,
    checkpoint="run.db",
    key=lambda text: text.upper(),
)
assert_type(long_run, Summary[str, int])

assert_type(summary.failed_items(), list[str])
assert_type(summary.timing, Timing | None)
if summary.timing is not None:
    assert_type(summary.timing.p95, float)
    assert_type(summary.timing.slowest, tuple[tuple[int, float], ...])
    assert_type(summary.timing.overhead, float | None)
assert_type(summary.to_dict(), dict[str, Any])
assert_type(summary.rerun_failed(to_length), Summary[str, int])
assert_type(summary.rerun_failed(to_length, kind="cpu", retries=2), Summary[str, int])
assert_type(summary.rerun_failed(str.upper), Summary[str, int | str])
assert_type(summary.rerun_failed(fetch_length, workers=4), Summary[str, int])
assert_type(summary.rerun_failed(to_length).rerun_failed(to_length), Summary[str, int])
