"""A 'Prefect API' on a real socket whose database is busy: it answers 503 (as a server does on
SQLite's `database is locked`) to its first `busy` requests, then `{}`."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class BusyApi:
    url: str = ""
    busy: int = 10**9  # always, unless a test says otherwise
    seen: list[tuple[float, str]] = field(default_factory=list)  # (when, path) per request


@contextmanager
def busy_api_server() -> Iterator[BusyApi]:
    api = BusyApi()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            api.seen.append((time.monotonic(), self.path))
            busy = len(api.seen) <= api.busy
            body = b"" if busy else b"{}"
            self.send_response(503 if busy else 200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_POST = do_GET

        def log_message(self, *args: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    api.url = f"http://127.0.0.1:{server.server_address[1]}/api"
    try:
        yield api
    finally:
        server.shutdown()
        server.server_close()
