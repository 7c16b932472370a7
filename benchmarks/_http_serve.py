"""The server side of ``_http_server.py``, loaded only in the server's own process.

Kept apart so that the measured processes, which import ``_http_server`` for its
client calls and constants, do not load ``http.server`` (and with it ``ssl``).
"""

from __future__ import annotations

import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from _http_server import HOST, LATENCY_SECONDS, REQUEST_TIMEOUT_SECONDS, answers_error

__all__ = ["serve"]


class _Handler(BaseHTTPRequestHandler):
    """Answers ``GET /N`` after the injected latency: ``500`` or ``str(N * N)``."""

    server: _BoundedServer
    timeout = REQUEST_TIMEOUT_SECONDS
    """Seconds a connection may stay silent before its thread gives up on it."""

    def do_GET(self) -> None:
        """Answer ``GET /N`` (``404`` for any other path)."""
        try:
            item = int(self.path.lstrip("/"))
        except ValueError:
            self.send_error(404)
            return
        time.sleep(LATENCY_SECONDS)  # the injected latency, not synchronisation
        if answers_error(item):
            self.send_error(500, "injected error")
        else:
            body = str(item * item).encode("ascii")
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        self.server.count_request()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - base signature
        """Log nothing: a line per request would cost more than the request."""
        del format, args


class _BoundedServer(ThreadingHTTPServer):
    """A thread-per-request server that shuts itself down after ``max_requests``.

    Its request threads are not daemons: closing the server waits for every
    answer to be sent.
    """

    daemon_threads = False
    request_queue_size = 256
    """The listen backlog: the default of 5 drops connections when 50 clients connect at once."""

    def __init__(self, max_requests: int) -> None:
        super().__init__((HOST, 0), _Handler)
        self._lock = threading.Lock()
        self._left = max_requests

    def count_request(self) -> None:
        """Count one answered request; on the last one allowed, shut the server down."""
        with self._lock:
            self._left -= 1
            last = self._left == 0
        if last:
            threading.Thread(target=self.shutdown, daemon=True).start()


def serve(max_requests: int, lifetime: float) -> None:
    """Serve until ``max_requests`` are answered, ``lifetime`` has passed, or stdin closes.

    Prints the base URL (``http://127.0.0.1:PORT``) on its first line of output.
    """
    with _BoundedServer(max_requests) as server:
        host, port = server.server_address[:2]
        print(f"http://{host!s}:{port}", flush=True)
        timer = threading.Timer(lifetime, server.shutdown)
        timer.daemon = True
        timer.start()

        def shut_down_at_eof() -> None:
            sys.stdin.read()
            server.shutdown()

        threading.Thread(target=shut_down_at_eof, name="stdin-eof", daemon=True).start()
        try:
            server.serve_forever(poll_interval=0.1)
        finally:
            timer.cancel()
