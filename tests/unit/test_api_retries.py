"""`api_retries`: a busy database's 503 is retried at once, under the Prefect client's own
retries, which sleep 2 s after every retryable answer (after the last one too)."""

from __future__ import annotations

import httpx
import pytest
from prefect.client.orchestration import SyncPrefectClient

from prefect_federation.api_retries import BusyRetryTransport, ClientRetries, retry_when_busy

from .busy_api import BusyApi


class Answers(httpx.BaseTransport):
    """Answers with the given status codes in turn, and records each request."""

    def __init__(self, *codes: int) -> None:
        self.codes = list(codes)
        self.requests: list[httpx.Request] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(self.codes.pop(0), request=request)


def test_a_503_is_retried_after_short_pauses_until_it_is_answered() -> None:
    pauses: list[float] = []
    inner = Answers(503, 503, 201)
    transport = BusyRetryTransport(inner, delays=(0.1, 0.2, 0.4), sleep=pauses.append)

    with httpx.Client(transport=transport) as client:
        response = client.post("http://api/flow_runs", json={"name": "x"})

    assert response.status_code == 201
    assert [r.content for r in inner.requests] == [b'{"name":"x"}'] * 3  # the same body again
    assert len(pauses) == 2
    assert 0.05 <= pauses[0] <= 0.15  # jittered +-50 %
    assert 0.1 <= pauses[1] <= 0.3
    assert transport.retried == 2


def test_after_its_quick_retries_the_503_goes_up_and_other_answers_at_once() -> None:
    inner = Answers(503, 503, 503, 500, 404)
    transport = BusyRetryTransport(inner, delays=(0.0, 0.0), sleep=lambda _: None)

    with httpx.Client(transport=transport) as client:
        assert client.get("http://api/a").status_code == 503  # 1 + 2 quick retries
        assert client.get("http://api/b").status_code == 500  # not a busy database: as it is
        assert client.get("http://api/c").status_code == 404

    assert [r.url.path for r in inner.requests] == ["/a", "/a", "/a", "/b", "/c"]


def test_a_streamed_body_is_not_sent_again() -> None:
    inner = Answers(503, 201)
    transport = BusyRetryTransport(inner, delays=(0.0,), sleep=lambda _: None)

    with httpx.Client(transport=transport) as client:
        response = client.post("http://api/logs", content=iter([b"a", b"b"]))

    assert response.status_code == 503  # up to the client, which knows what it sent
    assert len(inner.requests) == 1


@pytest.fixture
def client_sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """What the Prefect client's retry loop sleeps, recorded instead of slept."""
    import prefect.client.base

    slept: list[float] = []
    monkeypatch.setattr(prefect.client.base.time, "sleep", slept.append)
    return slept


def test_a_prefect_client_gets_past_a_busy_database_without_its_2_s_sleep(
    busy_api: BusyApi, client_sleeps: list[float]
) -> None:
    busy_api.busy = 2
    with SyncPrefectClient(busy_api.url) as client:
        transport = retry_when_busy(client)
        assert retry_when_busy(client) is transport  # once per client
        with ClientRetries(0):
            client.request("GET", "/work_pools/x")  # type: ignore[arg-type]

    assert len(busy_api.seen) == 3
    assert transport.retried == 2
    assert client_sleeps == []  # the client never saw a 503


def test_without_it_the_prefect_client_sleeps_2_s_after_a_503_even_with_no_retries_left(
    busy_api: BusyApi, client_sleeps: list[float]
) -> None:
    """Why the transport exists: Prefect's loop sleeps after its last attempt, too."""
    busy_api.busy = 1
    with (
        SyncPrefectClient(busy_api.url) as client,
        ClientRetries(0),
        pytest.raises(httpx.HTTPStatusError),
    ):
        client.request("GET", "/work_pools/x")  # type: ignore[arg-type]

    assert len(busy_api.seen) == 1
    assert len(client_sleeps) == 1
    assert client_sleeps[0] > 1.0  # 2 s, jittered


def test_the_listeners_own_client_retries_a_busy_database_and_a_given_one_is_left_alone(
    busy_api: BusyApi,
) -> None:
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from prefect_federation.listener.launcher import PrefectLauncher

    with temporary_settings(updates={PREFECT_API_URL: busy_api.url}):
        own = PrefectLauncher(emit_events=False)
    given = SyncPrefectClient(busy_api.url)
    try:
        assert isinstance(own.client._client._transport, BusyRetryTransport)
        assert not isinstance(given._client._transport, BusyRetryTransport)
        assert PrefectLauncher(given, emit_events=False).client is given
    finally:
        own.close()
