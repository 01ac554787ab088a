"""`PrefectLauncher`'s own bound on the Prefect client's retries (a 503-answering server)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from prefect.client.orchestration import SyncPrefectClient
from prefect.settings import PREFECT_CLIENT_MAX_RETRIES, PREFECT_CLIENT_RETRY_JITTER_FACTOR

from prefect_federation.listener.launcher import PrefectLauncher


class _Unavailable(BaseHTTPRequestHandler):
    requests: list[str] = []

    def do_GET(self) -> None:
        type(self).requests.append(self.path)
        self.send_response(503)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        return None


@pytest.fixture
def unavailable_api() -> Iterator[str]:
    """A 'Prefect API' that answers every request with 503, as a locked SQLite server does."""
    _Unavailable.requests = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Unavailable)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/api"
    finally:
        server.shutdown()
        server.server_close()


def test_the_listener_bounds_the_prefect_clients_retries_on_its_path(unavailable_api: str) -> None:
    from prefect.settings import temporary_settings

    with temporary_settings(updates={PREFECT_CLIENT_RETRY_JITTER_FACTOR: 0}):
        client = SyncPrefectClient(unavailable_api)
        client.__enter__()
        launcher = PrefectLauncher(client, emit_events=False, client_retries=1)
        try:
            assert launcher.healthy() is False
        finally:
            launcher.close()

    assert len(_Unavailable.requests) == 2  # one try and one retry, not Prefect's 1 + 5
    assert PREFECT_CLIENT_MAX_RETRIES.value() == 5  # the bound is the listener's, not global


def test_without_a_bound_the_clients_own_retries_apply() -> None:
    launcher = PrefectLauncher(SyncPrefectClient("http://127.0.0.1:9/api"), emit_events=False)

    with launcher._retries:
        assert PREFECT_CLIENT_MAX_RETRIES.value() == 5
