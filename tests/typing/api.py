"""Type-checked, never run: what an editor sees of parmap's API."""

from __future__ import annotations

from typing import assert_type

from parmap import ItemError, Summary, parmap


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
