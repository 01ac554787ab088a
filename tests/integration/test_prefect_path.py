"""The listener against a real Prefect server (test harness) and moto in server mode."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from prefect.client.orchestration import get_client

from prefect_federation.chain import chain_runs
from prefect_federation.declarations import DomainDeclaration, build_federation
from prefect_federation.errors import (
    DeploymentNotFound,
    EventTooLarge,
    ParameterSchemaError,
    PrefectApiUnavailable,
    PublishError,
)
from prefect_federation.labels import correlation_tag, event_id_tag, read_run_event
from prefect_federation.listener import Listener, PrefectLauncher, plan_runs
from prefect_federation.listener.pipeline import run_name
from prefect_federation.provision import provision
from prefect_federation.publisher import SnsPublisher
from prefect_federation.queue import SqsQueueClient
from prefect_federation.settings import FederationSettings, ListenerSettings
from prefect_federation.testing import make_event, make_event_body

pytestmark = pytest.mark.integration


def score(snapshot_date: str, rows: int, threshold: float = 0.5) -> None:
    """The signature the test deployment's parameter schema is made from."""


@pytest.fixture(scope="module")
def scoring_deployment(make_deployment: Any) -> str:
    return make_deployment(score, "score-customers", "scoring")


def scoring_domain(deployment: str, **parameters: Any) -> DomainDeclaration:
    return DomainDeclaration.model_validate(
        {
            "domain": "scoring",
            "subscribes": [
                {
                    "event": "customer-master.completed",
                    "deployment": deployment,
                    "parameters": parameters
                    or {
                        "snapshot_date": "{{ event.data.snapshot_date }}",
                        "rows": "{{ event.data.rows }}",
                    },
                }
            ],
        }
    )


@pytest.fixture
def launcher(prefect_api: str) -> Any:
    launcher = PrefectLauncher()
    yield launcher
    launcher.close()


def test_a_run_is_created_with_exactly_the_rendered_parameters(
    scoring_deployment: str, launcher: PrefectLauncher
) -> None:
    body = make_event_body("customer-master.completed", {"snapshot_date": "2026-11-01", "rows": 7})
    [request] = plan_runs(body, scoring_domain(scoring_deployment))

    started = launcher.start(request)

    run = launcher.client.read_flow_run(started.flow_run_id)
    assert run.parameters == {"snapshot_date": "2026-11-01", "rows": 7}
    assert event_id_tag(request.envelope.id) in run.tags
    assert correlation_tag(request.envelope.correlationid) in run.tags
    assert read_run_event(run.labels).event_type == "customer-master.completed"
    assert run.name == run_name(request.envelope)
    assert run.idempotency_key == request.idempotency_key


def test_the_same_request_twice_makes_one_run(
    scoring_deployment: str, launcher: PrefectLauncher
) -> None:
    body = make_event_body("customer-master.completed", {"snapshot_date": "2026-11-02", "rows": 1})
    [request] = plan_runs(body, scoring_domain(scoring_deployment))

    first = launcher.start(request)
    second = launcher.start(request)

    assert first.flow_run_id == second.flow_run_id
    runs = chain_runs(launcher.client, request.envelope.correlationid)
    assert [r.id for r in runs] == [first.flow_run_id]


def test_parameters_the_schema_rejects_are_a_permanent_error(
    scoring_deployment: str, launcher: PrefectLauncher
) -> None:
    body = make_event_body(
        "customer-master.completed", {"snapshot_date": "2026-11-03", "rows": "many"}
    )
    [request] = plan_runs(body, scoring_domain(scoring_deployment))

    with pytest.raises(ParameterSchemaError, match="rows"):
        launcher.start(request)


def test_a_missing_deployment_is_a_permanent_error(launcher: PrefectLauncher) -> None:
    body = make_event_body("customer-master.completed", {"snapshot_date": "x", "rows": 1})
    [request] = plan_runs(body, scoring_domain("no-such-flow/nowhere"))

    with pytest.raises(DeploymentNotFound, match="no-such-flow/nowhere"):
        launcher.start(request)


def test_an_unreachable_prefect_api_is_retryable() -> None:
    from prefect.client.orchestration import SyncPrefectClient

    client = SyncPrefectClient("http://127.0.0.1:9/api")  # discard port: nothing listens
    with client:
        launcher = PrefectLauncher(client, emit_events=False)
        body = make_event_body("customer-master.completed", {"snapshot_date": "x", "rows": 1})
        [request] = plan_runs(body, scoring_domain("score-customers/scoring"))
        with pytest.raises(PrefectApiUnavailable, match=r"127\.0\.0\.1:9"):
            launcher.start(request)


def test_the_received_event_is_recorded_in_prefects_event_feed(
    scoring_deployment: str, launcher: PrefectLauncher, prefect_api: str
) -> None:
    import httpx

    body = make_event_body("customer-master.completed", {"snapshot_date": "2026-11-04", "rows": 2})
    [request] = plan_runs(body, scoring_domain(scoring_deployment))
    started = launcher.start(request)

    found: list[dict[str, Any]] = []
    deadline = time.monotonic() + 20
    while not found and time.monotonic() < deadline:
        response = httpx.post(
            f"{prefect_api}/events/filter",
            json={
                "filter": {
                    "event": {"name": ["prefect-federation.event.received"]},
                    "any_resource": {"id": [f"prefect-federation.event.{request.envelope.id}"]},
                },
                "limit": 5,
            },
        )
        response.raise_for_status()
        found = response.json()["events"]
        time.sleep(0.5)

    assert found, "the received event never reached Prefect's event feed"
    related = {r["prefect.resource.id"] for r in found[0]["related"]}
    assert f"prefect.flow-run.{started.flow_run_id}" in related


# -- the whole listener: moto server + Prefect server ----------------------------------------


@pytest.fixture
def wired(sns: Any, sqs: Any, name_prefix: str, scoring_deployment: str) -> dict[str, Any]:
    upstream = DomainDeclaration.model_validate(
        {"domain": "customer-master", "publishes": [{"type": "customer-master.completed"}]}
    )
    downstream = scoring_domain(scoring_deployment)
    federation = build_federation([("a", upstream), ("b", downstream)])
    settings = FederationSettings(name_prefix=name_prefix, max_receive_count=3)
    report = provision(federation, sns, sqs, settings)
    resources = report.resources
    return {
        "federation": federation,
        "domain": downstream,
        "publisher": SnsPublisher(sns, resources["customer-master"].topic_arn),
        "queue": SqsQueueClient(sqs, resources["scoring"].queue_url),
        "sqs": sqs,
        "dlq_url": resources["scoring"].dlq_url,
    }


def make_listener(wired: dict[str, Any], launcher: PrefectLauncher) -> Listener:
    return Listener(
        wired["domain"],
        wired["queue"],
        launcher,
        federation=wired["federation"],
        settings=ListenerSettings(domain="scoring", wait_time_seconds=1),
    )


def test_published_event_becomes_a_run_and_a_redelivery_makes_no_second_one(
    wired: dict[str, Any], launcher: PrefectLauncher
) -> None:
    envelope = make_event("customer-master.completed", {"snapshot_date": "2026-11-05", "rows": 3})
    wired["publisher"].publish(envelope)
    wired["publisher"].publish(envelope)  # SNS at-least-once: the same event, delivered twice
    listener = make_listener(wired, launcher)

    results = listener.poll_once() + listener.poll_once()

    assert [r.outcome.action for r in results] == ["ack", "ack"]
    runs = chain_runs(launcher.client, envelope.correlationid)
    assert len(runs) == 1
    assert runs[0].parameters == {"snapshot_date": "2026-11-05", "rows": 3}
    assert wired["queue"].receive(10, 0) == []


def test_parameters_rejected_by_the_deployment_go_to_the_dlq_with_the_reason(
    wired: dict[str, Any], launcher: PrefectLauncher
) -> None:
    envelope = make_event("customer-master.completed", {"snapshot_date": "2026-11-06", "rows": "x"})
    wired["publisher"].publish(envelope)
    listener = make_listener(wired, launcher)

    [result] = listener.poll_once()

    assert result.outcome.action == "dead-letter"
    dead = wired["sqs"].receive_message(
        QueueUrl=wired["dlq_url"], MessageAttributeNames=["All"], WaitTimeSeconds=1
    )["Messages"]
    reason = dead[0]["MessageAttributes"]["federation-reason"]["StringValue"]
    assert reason.startswith("ParameterSchemaError")
    assert "rows" in reason
    assert str(envelope.id) in dead[0]["Body"]
    with get_client(sync_client=True) as client:
        assert chain_runs(client, envelope.correlationid) == []


class _CountingPublisher:
    """A publisher that fails every call with `error`, counting the attempts."""

    def __init__(self, error: Exception) -> None:
        self.error = error
        self.attempts = 0

    def publish(self, envelope: Any) -> str:
        self.attempts += 1
        raise self.error


@pytest.mark.parametrize(
    ("error", "attempts"),
    [
        pytest.param(EventTooLarge("event is 300000 bytes"), 1, id="too-large-not-retried"),
        pytest.param(PublishError("SNS unreachable"), 2, id="transient-retried"),
    ],
)
def test_publish_event_retries_only_what_may_succeed_later(
    prefect_api: str,
    error: Exception,
    attempts: int,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # no declarations, so no contract: what is tested is the retry, not the data
    monkeypatch.setenv("PREFECT_FEDERATION_DECLARATIONS", str(tmp_path / "no-declarations"))
    from prefect import flow
    from prefect.states import State

    from prefect_federation.publishing import publish_event, use_publisher

    publisher = _CountingPublisher(error)

    @flow(name="publishes-once")
    def publishing() -> None:
        publish_event.with_options(retries=1, retry_delay_seconds=0)("scoring.completed", {})

    with use_publisher(publisher):
        state: State[Any] = publishing(return_state=True)

    assert state.is_failed()
    assert publisher.attempts == attempts
