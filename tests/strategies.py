"""Hypothesis strategies shared by the property tests."""

from __future__ import annotations

from hypothesis import strategies as st

#: Items: small ints (the function fails on some of them), strings, None, tuples.
items = st.lists(
    st.one_of(st.integers(-50, 50), st.text(max_size=5), st.none(), st.tuples(st.integers())),
    max_size=60,
)
batch_sizes = st.one_of(st.just("auto"), st.integers(1, 20))
workers = st.integers(1, 6)
