"""`explain` against moto server (S3, SNS, SQS) and a Prefect server: each situation is built for
real, and explain must say the right sentence."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from uuid import UUID, uuid4

import boto3
import pytest
from prefect.client.orchestration import SyncPrefectClient, get_client

from prefect_federation.archive import (
    ArchivingPublisher,
    S3EventArchive,
    default_archive_bucket,
    ensure_archive,
    topic_name_of,
)
from prefect_federation.declarations import Federation
from prefect_federation.events import EventEnvelope
from prefect_federation.explain import (
    EventExplanation,
    ExplainSources,
    SubscriptionVerdict,
    explain_event,
)
from prefect_federation.listener import Listener, PrefectLauncher
from prefect_federation.provision import ProvisionReport
from prefect_federation.publisher import SnsPublisher
from prefect_federation.queue import SqsQueueClient
from prefect_federation.queue_admin import SqsQueueAdmin
from prefect_federation.settings import ListenerSettings
from prefect_federation.testing import make_event

pytestmark = pytest.mark.integration


def bill(order_id: str, amount: int) -> None:
    """The signature the billing deployment's parameter schema is made from."""


@pytest.fixture(scope="module")
def billing_deployment(make_deployment: Any) -> str:
    return make_deployment(bill, "bill-order", "billing")


@pytest.fixture
def s3(aws_env: str) -> Any:
    return boto3.client("s3", region_name="us-east-1", endpoint_url=aws_env)


@pytest.fixture
def client(prefect_api: str) -> Iterator[SyncPrefectClient]:
    with get_client(sync_client=True) as client:
        yield client


@dataclass
class World:
    federation: Federation
    report: ProvisionReport
    archive: S3EventArchive
    sns: Any
    sqs: Any
    name_prefix: str
    client: SyncPrefectClient

    def publish(self, envelope: EventEnvelope) -> EventEnvelope:
        arn = self.report.resources["orders"].topic_arn
        assert arn is not None
        ArchivingPublisher(SnsPublisher(self.sns, arn), self.archive, topic_name_of(arn)).publish(
            envelope
        )
        return envelope

    def listen_once(self) -> None:
        url = self.report.resources["billing"].queue_url
        assert url is not None
        launcher = PrefectLauncher(self.client)
        listener = Listener(
            self.federation.domain("billing"),
            SqsQueueClient(self.sqs, url),
            launcher,
            federation=self.federation,
            settings=ListenerSettings(domain="billing", wait_time_seconds=1),
        )
        listener.poll_once()

    def explain(self, event_id: UUID, **fields: Any) -> EventExplanation:
        api = str(self.client.api_url).rstrip("/")
        sources = ExplainSources(
            federation=self.federation,
            clients={api: self.client},
            archive=self.archive,
            admin=SqsQueueAdmin(self.sqs),
            name_prefix=self.name_prefix,
            **fields,
        )
        return explain_event(sources, event_id)


@pytest.fixture
def world(
    provisioned: Any,
    sns: Any,
    sqs: Any,
    s3: Any,
    name_prefix: str,
    billing_deployment: str,
    client: SyncPrefectClient,
) -> World:
    federation, report = provisioned(
        {
            "domain": "orders",
            "publishes": [{"type": "orders.placed"}, {"type": "orders.cancelled"}],
        },
        {
            "domain": "billing",
            "subscribes": [
                {
                    "event": "orders.placed",
                    "deployment": billing_deployment,
                    "filter": {"region": ["eu", "us"]},
                    "parameters": {
                        "order_id": "{{ event.data.order_id }}",
                        "amount": "{{ event.data.amount }}",
                    },
                }
            ],
        },
        {
            "domain": "audit",
            "subscribes": [{"event": "orders.cancelled", "deployment": billing_deployment}],
        },
    )
    bucket = default_archive_bucket(name_prefix)
    ensure_archive(s3, bucket)
    return World(federation, report, S3EventArchive(s3, bucket), sns, sqs, name_prefix, client)


def wait_for(
    read: Callable[[], EventExplanation],
    done: Callable[[EventExplanation], bool],
    timeout: float = 30,
) -> EventExplanation:
    deadline = time.monotonic() + timeout
    while True:
        result = read()
        if done(result) or time.monotonic() > deadline:
            return result
        time.sleep(0.5)


def billing_of(explanation: EventExplanation) -> SubscriptionVerdict:
    [verdict] = [d for d in explanation.domains if d.domain == "billing"]
    return verdict.subscriptions[0]


def sentences(explanation: EventExplanation, domain: str) -> list[str]:
    [verdict] = [d for d in explanation.domains if d.domain == domain]
    if not verdict.delivered:
        return [f"not delivered: {verdict.reason}"]
    return [
        s.outcome.sentence if s.outcome else f"not for it: {s.reason}"
        for s in verdict.subscriptions
    ]


def test_a_run_created_is_named_with_its_state_and_the_other_domain_says_why_not(
    world: World,
) -> None:
    event = world.publish(
        make_event("orders.placed", {"order_id": "o1", "amount": 3, "region": "eu"})
    )
    world.listen_once()

    # the listener's received-event record reaches Prefect's event feed asynchronously
    result = wait_for(lambda: world.explain(event.id), lambda r: billing_of(r).received is True)

    assert result.found
    assert result.publication.archive_key is not None
    [billing] = sentences(result, "billing")
    assert billing.startswith("run orders.placed-")
    assert "created, Scheduled" in billing
    [audit] = sentences(result, "audit")
    assert "SNS filter policy" in audit
    assert "does not accept type 'orders.placed'" in audit
    assert result.ok


def test_the_data_filter_that_failed_is_named_with_its_value(world: World) -> None:
    event = world.publish(
        make_event("orders.placed", {"order_id": "o2", "amount": 3, "region": "ap"})
    )
    world.listen_once()

    result = world.explain(event.id)

    assert sentences(result, "billing") == [
        "filtered: data filter region: 'ap' is not ['eu', 'us']"
    ]
    assert result.ok  # filtered out on purpose


def test_a_dead_lettered_event_names_the_reason_and_that_it_is_still_in_the_dlq(
    world: World,
) -> None:
    event = world.publish(
        make_event("orders.placed", {"order_id": "o3", "amount": "lots", "region": "us"})
    )
    world.listen_once()

    result = world.explain(event.id)

    [billing] = sentences(result, "billing")
    assert billing.startswith("dead-lettered: ParameterSchemaError")
    assert "still in the DLQ" in billing
    assert not result.ok


def test_an_event_no_listener_took_yet_is_waiting_in_the_queue(world: World) -> None:
    event = world.publish(
        make_event("orders.placed", {"order_id": "o4", "amount": 1, "region": "eu"})
    )

    result = world.explain(event.id)

    [billing] = sentences(result, "billing")
    assert billing.startswith("no run yet: still waiting in the queue (1 message(s)")
    assert not result.ok


def test_an_unknown_event_is_not_found(world: World) -> None:
    result = world.explain(uuid4())
    assert not result.found
    assert not result.ok


def test_the_command_prints_the_tree_and_exits_1_when_a_subscription_did_not_run(
    world: World,
    name_prefix: str,
    tmp_path: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import yaml
    from typer.testing import CliRunner

    from prefect_federation.cli import app

    for declaration in world.federation:
        path = tmp_path / f"{declaration.domain}.yaml"
        path.write_text(yaml.safe_dump(declaration.model_dump(by_alias=True, exclude_none=True)))
    monkeypatch.setenv("PREFECT_FEDERATION_NAME_PREFIX", name_prefix)
    ran = world.publish(
        make_event("orders.placed", {"order_id": "o5", "amount": 2, "region": "us"})
    )
    waiting = make_event("orders.placed", {"order_id": "o6", "amount": 2, "region": "us"})
    world.listen_once()
    world.publish(waiting)

    done = CliRunner().invoke(app, ["explain", str(ran.id), "-d", str(tmp_path)])
    stuck = CliRunner().invoke(app, ["explain", str(waiting.id), "-d", str(tmp_path), "--json"])

    print(done.stdout)
    assert done.exit_code == 0, done.stdout + done.stderr
    assert f"orders.placed {ran.id} from orders" in done.stdout
    assert "bill-order/billing: run orders.placed-" in done.stdout
    assert "audit: not delivered: the SNS filter policy" in done.stdout
    assert stuck.exit_code == 1
    assert '"status": "waiting"' in stuck.stdout
