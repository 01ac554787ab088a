"""One TLS context per CA file for the Prefect clients of a process."""

from __future__ import annotations

import ssl
from collections.abc import Iterator

import pytest
from prefect.client.orchestration import PrefectClient, SyncPrefectClient

from prefect_federation import tls_contexts
from prefect_federation.tls_contexts import SharedTlsContexts, share_client_tls_contexts


@pytest.fixture
def shared() -> Iterator[SharedTlsContexts]:
    import prefect._internal.version_checking
    import prefect.client.orchestration

    modules = (prefect.client.orchestration, prefect._internal.version_checking)
    before = [m.ssl for m in modules]  # type: ignore[attr-defined]
    try:
        yield share_client_tls_contexts()
    finally:
        for module, original in zip(modules, before, strict=True):
            module.ssl = original  # type: ignore[attr-defined]
        tls_contexts._SHARED = None


def test_prefect_clients_of_one_process_share_one_context(shared: SharedTlsContexts) -> None:
    clients = [
        SyncPrefectClient("http://127.0.0.1:9/api"),
        SyncPrefectClient("https://prefect.example/api"),
        PrefectClient("http://127.0.0.1:9/api"),
    ]
    contexts = {id(c._client._transport._pool._ssl_context) for c in clients}  # type: ignore[attr-defined]

    assert len(contexts) == 1
    assert share_client_tls_contexts() is shared  # once per process


def test_without_it_each_client_builds_its_own(monkeypatch: pytest.MonkeyPatch) -> None:
    import prefect.client.orchestration

    monkeypatch.setattr(prefect.client.orchestration, "ssl", ssl)  # as Prefect has it
    one, two = SyncPrefectClient("http://127.0.0.1:9/api"), SyncPrefectClient("http://a/api")

    assert one._client._transport._pool._ssl_context is not (  # type: ignore[attr-defined]
        two._client._transport._pool._ssl_context  # type: ignore[attr-defined]
    )


def test_only_the_ca_file_call_is_shared_and_the_rest_is_ssl_itself() -> None:
    shared = SharedTlsContexts(ssl)

    assert shared.create_default_context() is not shared.create_default_context()  # insecure path
    assert shared.SSLContext is ssl.SSLContext
    assert shared.CERT_NONE is ssl.CERT_NONE
