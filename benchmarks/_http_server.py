"""A local HTTP server for the ``http`` workload of ``bench_peers.py``, and the client calls.

The server listens on 127.0.0.1 only, on a port the system picks. Each ``GET
/N`` (N an integer) waits ``LATENCY_SECONDS`` (the injected latency, on the
request's own thread), then answers ``500`` when ``answers_error(N)`` (one item
in ``ERROR_EVERY``) and otherwise ``200`` with the body ``str(N * N)``.

It is bounded three ways, and stops by itself on each:

* it serves at most ``--max-requests`` requests, then shuts down;
* it lives at most ``--lifetime`` seconds;
* it shuts down as soon as its standard input reaches end of file: when the
  benchmark that started it closes the pipe, or exits, or dies.

The benchmark starts it in a subprocess with ``running_server`` (so that its
threads and memory are not counted with the measured process), and every
contestant calls ``fetch`` (or ``fetch_caught``) on its items.

Run on its own, it prints its base URL on the first line of its output::

    python benchmarks/_http_server.py --max-requests 1000 --lifetime 60
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import subprocess
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    import urllib.request
    from collections.abc import Iterator, Sequence

HOST: Final = "127.0.0.1"
LATENCY_SECONDS: Final = 0.020
"""How long the server waits before it answers each request."""
ERROR_EVERY: Final = 20
"""One item in this many is answered with ``500`` (5 %)."""
REQUEST_TIMEOUT_SECONDS: Final = 10.0
"""How long a client call waits for its answer before it raises."""
START_TIMEOUT_SECONDS: Final = 30.0
"""How long ``running_server`` waits for the server's first line."""


@functools.cache
def _opener() -> urllib.request.OpenerDirector:
    """A urllib opener that ignores ``*_proxy`` variables: the server is on loopback.

    Made (and ``urllib.request`` imported) on the first call: importing it loads
    ``ssl`` and OpenSSL (~4 MB), which must not count in the measured memory of
    the workloads that make no HTTP request.
    """
    import urllib.request  # noqa: PLC0415 - see above

    return urllib.request.build_opener(urllib.request.ProxyHandler({}))


def answers_error(item: int) -> bool:
    """Return whether the server answers ``500`` for ``item``."""
    return item % ERROR_EVERY == ERROR_EVERY - 1


def fetch(base_url: str, item: int) -> int:
    """GET ``base_url/item`` with urllib and return the integer in the body.

    Raises ``urllib.error.HTTPError`` when the server answers ``500``.
    """
    with _opener().open(f"{base_url}/{item}", timeout=REQUEST_TIMEOUT_SECONDS) as response:
        return int(response.read())


def fetch_caught(base_url: str, item: int) -> int | Exception:
    """Return ``fetch(base_url, item)``, or the exception it raised: a user's try/except."""
    try:
        return fetch(base_url, item)
    except Exception as exc:  # noqa: BLE001 - every failure is data here, as in parmap
        return exc


@contextlib.contextmanager
def running_server(max_requests: int, lifetime: float) -> Iterator[str]:
    """Run the server in a subprocess for the duration of the block; yield its base URL.

    On the way out, close its standard input (it shuts down at once) and wait for
    it; kill it if it has not exited 10 s later.
    """
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--max-requests",
        str(max_requests),
        "--lifetime",
        str(lifetime),
    ]
    with subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) as proc:
        killer = threading.Timer(START_TIMEOUT_SECONDS, proc.kill)
        killer.daemon = True
        killer.start()
        try:
            if proc.stdout is None or proc.stdin is None:  # pragma: no cover - PIPE was asked for
                msg = "no pipes to the HTTP server"
                raise RuntimeError(msg)
            url = proc.stdout.readline().strip()
            killer.cancel()
            if not url.startswith(f"http://{HOST}:"):
                msg = f"the HTTP server did not start (it printed {url!r})"
                raise RuntimeError(msg)
            yield url
        finally:
            killer.cancel()
            if proc.stdin is not None:
                proc.stdin.close()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the server from the command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--max-requests", type=int, required=True)
    parser.add_argument("--lifetime", type=float, required=True, help="seconds")
    args = parser.parse_args(argv)
    if args.max_requests < 1 or args.lifetime <= 0:
        parser.error("--max-requests and --lifetime must be positive")
    import _http_serve  # noqa: PLC0415 - the server side, loaded in the server's process only

    _http_serve.serve(args.max_requests, args.lifetime)
    return 0


if __name__ == "__main__":
    sys.exit(main())
