"""The built-in demo, run as ``python -m parmap``: a slow for-loop, then the same work with parmap.

It simulates the situation parmap was made for: a loop over many items, each
calling a slow web API (a ``time.sleep`` of 50-100 ms, the same for an item on
every run), where some calls fail. The demo first times the plain for-loop on a
few items and extrapolates to all of them, then runs
``parmap(call_api, items, kind="io", workers=50)`` on all items and prints the
time, the speed-up and the `Summary`.

With ``--kind cpu`` each item is a few milliseconds of pure-Python arithmetic
instead, run in worker processes.

Examples:
    Run it from a shell::

        python -m parmap
        python -m parmap --items 1000 --workers 100
        python -m parmap --kind cpu
"""

# The demo talks to the user on stdout: printing is its job.
# ruff: noqa: T201

from __future__ import annotations

import argparse
import random
import time
from typing import TYPE_CHECKING

from ._api import parmap

if TYPE_CHECKING:
    from collections.abc import Callable

    from ._options import Kind

__all__ = ["call_api", "crunch", "main"]

#: Items the plain for-loop is timed on, to extrapolate its time for all items.
SERIAL_SAMPLE = 10
#: Workers for ``--kind io`` when ``--workers`` is not given: waiting work, so many at once.
IO_WORKERS = 50
#: Every item divisible by this fails (and a few others, see `_failure`).
FAILING_EVERY = 17
#: Seconds one simulated API call takes, at least and at most.
CALL_SECONDS = (0.05, 0.1)
#: Loop rounds of one `crunch` call, at least and at most: about 4-7 ms of CPU.
CRUNCH_ROUNDS = (35_000, 60_000)

_DESCRIPTION = """\
A demo of parmap: a loop over many items that calls a slow web API (simulated
with time.sleep, 50-100 ms per call; some calls fail) is first run as a plain
for-loop on a few items, timed and extrapolated, then run on all items with

    summary = parmap(call_api, items, kind="io", workers=50)
    print(summary)

The report shows the speed-up, and that the failing items were recorded, with
their tracebacks, while every other item went on. With --kind cpu each item is
a few milliseconds of pure-Python arithmetic instead, run in worker processes.
"""


def _failure(item: int, kind: Kind) -> Exception | None:
    """The exception the simulated work raises for `item`, or ``None`` if it succeeds."""
    if item % FAILING_EVERY == 0:
        if kind == "cpu":
            return ArithmeticError(f"the computation did not converge for item {item}")
        return ConnectionError(f"connection reset by peer while fetching item {item}")
    if item % 41 == 7:  # noqa: PLR2004 - "a few" other items: 7, 48, 89, ...
        if kind == "cpu":
            return ValueError(f"the input of item {item} is out of range")
        return ValueError(f"malformed JSON in the response for item {item}")
    return None


def call_api(item: int) -> str:
    """Simulate one call to a slow web API: wait 50-100 ms, then answer or fail.

    The wait and the outcome depend only on `item`, so every run is the same.

    Args:
        item: The item to fetch.

    Returns:
        The fetched record, e.g. ``"record-3"``.

    Raises:
        ConnectionError: For every item divisible by 17.
        ValueError: For a few other items.

    Examples:
        >>> call_api(3)
        'record-3'
    """
    time.sleep(random.Random(item).uniform(*CALL_SECONDS))  # noqa: S311 - not cryptography
    error = _failure(item, "io")
    if error is not None:
        raise error
    return f"record-{item}"


def crunch(item: int) -> int:
    """Simulate a few milliseconds of computing in pure Python, then answer or fail.

    Args:
        item: The item to compute on.

    Returns:
        A checksum that depends only on `item`.

    Raises:
        ArithmeticError: For every item divisible by 17.
        ValueError: For a few other items.

    Examples:
        >>> crunch(3) == crunch(3)
        True
    """
    rounds = random.Random(item).randint(*CRUNCH_ROUNDS)  # noqa: S311 - not cryptography
    total = item
    for i in range(rounds):
        total = (total * 31 + i * i) % 1_000_003
    error = _failure(item, "cpu")
    if error is not None:
        raise error
    return total


def _positive(text: str) -> int:
    """Parse a command-line count that must be at least 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        msg = f"expected a positive whole number, got {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m parmap",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--items",
        type=_positive,
        default=200,
        metavar="N",
        help="how many items to process (default: 200)",
    )
    parser.add_argument(
        "--workers",
        type=_positive,
        default=None,
        metavar="N",
        help=(
            f"how many items run at once (default: {IO_WORKERS} for --kind io; "
            "for --kind cpu the CPUs this process may use)"
        ),
    )
    parser.add_argument(
        "--kind",
        choices=["io", "cpu"],
        default="io",
        help=(
            "io: each item waits on a simulated web API, run on threads (default); "
            "cpu: each item computes in Python, run on processes"
        ),
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the demo and print what happened.

    Args:
        argv: The command-line arguments, without the program name;
            ``None`` reads them from ``sys.argv``.

    Returns:
        The exit status: 0. Failing items are part of the demo, not an error.
    """
    args = _parser().parse_args(argv)
    kind: Kind = args.kind
    items = list(range(args.items))
    workers: int | None = args.workers
    if workers is None and kind == "io":
        workers = IO_WORKERS
    fn: Callable[[int], object] = call_api if kind == "io" else crunch
    work = "calls to a simulated slow web API" if kind == "io" else "pure-Python computations"

    print(f"parmap demo: {len(items)} {work}; some of them fail.")
    print()

    sample = items[:SERIAL_SAMPLE]
    print(f"1. The plain for-loop, timed on the first {len(sample)} items:")
    start = time.perf_counter()
    for item in sample:
        try:
            fn(item)
        except Exception:  # noqa: BLE001, S112 - the loop parmap replaces: log and go on
            continue
    per_item = (time.perf_counter() - start) / len(sample)
    serial = per_item * len(items)
    print(
        f"   {per_item * 1000:.0f} ms per item, so all {len(items)} items "
        f"would take about {serial:.1f} s"
    )
    print()

    shown_workers = "" if args.workers is None and kind == "cpu" else f", workers={workers}"
    print(
        f'2. parmap({fn.__name__}, items, kind="{kind}"{shown_workers}), on all {len(items)} items:'
    )
    start = time.perf_counter()
    summary = parmap(fn, items, kind=kind, workers=workers)
    elapsed = time.perf_counter() - start
    speedup = serial / elapsed if elapsed > 0 else float("inf")
    print(f"   {elapsed:.2f} s: {speedup:.1f}x the speed of the for-loop")
    if kind == "cpu":
        print(
            f"   ({summary.backend}: at best that many times faster, less the time the "
            "processes take to start and whatever else this machine is running)"
        )
    print()

    print("print(summary):")
    print(summary)
    print()
    if summary.errors:
        print(
            "Every failure is kept with its item and traceback: "
            "print(summary.errors[0].traceback), or summary.raise_for_errors()."
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
