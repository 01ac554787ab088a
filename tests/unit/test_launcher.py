"""`PrefectLauncher`'s own bound on the Prefect client's retries (a 503-answering server)."""

from __future__ import annotations

from prefect.client.orchestration import SyncPrefectClient
from prefect.settings import PREFECT_CLIENT_MAX_RETRIES, PREFECT_CLIENT_RETRY_JITTER_FACTOR

from prefect_federation.listener.launcher import PrefectLauncher

from .busy_api import BusyApi


def test_the_listener_bounds_the_prefect_clients_retries_on_its_path(busy_api: BusyApi) -> None:
    from prefect.settings import temporary_settings

    with temporary_settings(updates={PREFECT_CLIENT_RETRY_JITTER_FACTOR: 0}):
        client = SyncPrefectClient(busy_api.url)
        client.__enter__()
        launcher = PrefectLauncher(client, emit_events=False, client_retries=1)
        try:
            assert launcher.healthy() is False
        finally:
            launcher.close()

    assert len(busy_api.seen) == 2  # one try and one retry, not Prefect's 1 + 5
    assert PREFECT_CLIENT_MAX_RETRIES.value() == 5  # the bound is the listener's, not global


def test_without_a_bound_the_clients_own_retries_apply() -> None:
    launcher = PrefectLauncher(SyncPrefectClient("http://127.0.0.1:9/api"), emit_events=False)

    with launcher._retries:
        assert PREFECT_CLIENT_MAX_RETRIES.value() == 5
