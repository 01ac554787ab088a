"""Airflow and prefect-federation on one SNS/SQS fabric, in both directions (moto server).

(a) Airflow -> a domain: the monolith DAG publishes its completion with `SnsPublishOperator` as a
    plain JSON body with a `type` message attribute; a domain subscribed with `adapter: raw` turns
    it into an event and starts its deployment (strangler step 2 of docs/migration.md).
(b) A domain -> Airflow: a Prefect domain's envelope, received by what an Airflow `SqsSensor`
    does (a bare `receive_message`), is plain JSON whose `data` has the fields; no library needed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from uuid import NAMESPACE_URL, uuid5

import pytest

from prefect_federation.declarations import DomainDeclaration, Federation, build_federation
from prefect_federation.events import EventEnvelope
from prefect_federation.listener.consumer import Listener
from prefect_federation.listener.launcher import RecordingLauncher
from prefect_federation.provision import provision
from prefect_federation.publisher import SnsPublisher
from prefect_federation.queue import ReceivedMessage, SqsQueueClient
from prefect_federation.queue_admin import SqsQueueAdmin
from prefect_federation.settings import FederationSettings, ListenerSettings

pytestmark = pytest.mark.integration

# The external producer: the monolith DAG, declared only so that its topic exists and consumers
# can validate its data (it runs no flows here).
AIRFLOW_SCORING = {
    "domain": "airflow-scoring",
    "description": "The daily_customer_scoring DAG, announcing that it scored a region.",
    "publishes": [
        {
            "type": "airflow-scoring.completed",
            "schema": {
                "type": "object",
                "required": ["batch_id", "snapshot_date", "region", "scores_path", "high_risk"],
            },
        }
    ],
}
# The first domain moved out of the DAG: reporting, fed by the DAG's plain JSON until the scoring
# team moves too (then it subscribes to `scoring.completed` instead; parameters stay the same).
REPORTING = {
    "domain": "reporting",
    "subscribes": [
        {
            "event": "airflow-scoring.completed",
            "adapter": "raw",
            "deployment": "write-risk-report/reporting",
            "parameters": {
                "batch_id": "{{ event.data.batch_id }}",
                "snapshot_date": "{{ event.data.snapshot_date }}",
                "region": "{{ event.data.region }}",
                "scores_path": "{{ event.data.scores_path }}",
                "high_risk": "{{ event.data.high_risk }}",
            },
        }
    ],
}
# What the DAG's `score_customers` task returned (its XCom), published as the message.
SCORED = {
    "batch_id": "2026-11-24-north",
    "snapshot_date": "2026-11-24",
    "region": "north",
    "scores_path": "/data/scores/2026-11-24/north.csv",
    "scored": 2731,
    "high_risk": 412,
    "threshold": 0.5,
    "model_version": "v2",
}
EXPECTED_PARAMETERS = {
    "batch_id": "2026-11-24-north",
    "snapshot_date": "2026-11-24",
    "region": "north",
    "scores_path": "/data/scores/2026-11-24/north.csv",
    "high_risk": 412,  # a single expression keeps its JSON type
}


def federation_of(*domains: dict[str, Any]) -> Federation:
    return build_federation(
        (f"<test:{d['domain']}>", DomainDeclaration.model_validate(d)) for d in domains
    )


def _airflow_attribute(value: Any) -> dict[str, Any]:
    """Airflow's SnsHook picks the attribute's DataType from the Python value."""
    if isinstance(value, bytes):
        return {"DataType": "Binary", "BinaryValue": value}
    if isinstance(value, str):
        return {"DataType": "String", "StringValue": value}
    if isinstance(value, int | float):
        return {"DataType": "Number", "StringValue": str(value)}
    return {"DataType": "String.Array", "StringValue": json.dumps(list(value))}


def airflow_sns_publish(
    sns: Any, target_arn: str, message: str, message_attributes: dict[str, Any] | None = None
) -> str:
    """What `SnsPublishOperator(target_arn=..., message=..., message_attributes=...)` sends:
    apache-airflow-providers-amazon's `SnsHook.publish_to_target` wraps the message as the
    `default` of a JSON message structure, which SNS delivers to SQS as the message itself."""
    kwargs: dict[str, Any] = {
        "TargetArn": target_arn,
        "MessageStructure": "json",
        "Message": json.dumps({"default": message}),
    }
    if message_attributes:
        kwargs["MessageAttributes"] = {
            name: _airflow_attribute(value) for name, value in message_attributes.items()
        }
    return str(sns.publish(**kwargs)["MessageId"])


def boto3_sns_publish(
    sns: Any, target_arn: str, message: str, message_attributes: dict[str, Any] | None = None
) -> str:
    """The same, as a hand-written boto3 call in a PythonOperator would send it."""
    kwargs: dict[str, Any] = {"TopicArn": target_arn, "Message": message}
    if message_attributes:
        kwargs["MessageAttributes"] = {
            name: {"DataType": "String", "StringValue": str(value)}
            for name, value in message_attributes.items()
        }
    return str(sns.publish(**kwargs)["MessageId"])


class DiesBeforeDeleting(SqsQueueClient):
    """A listener that created the run, then died before deleting the message: the first delete
    never happens and the message becomes visible again (as after its visibility timeout)."""

    def __init__(self, client: Any, queue_url: str, crashes: int = 1) -> None:
        super().__init__(client, queue_url)
        self.crashes = crashes

    def delete(self, message: ReceivedMessage) -> None:
        if self.crashes:
            self.crashes -= 1
            self.retry_later(message, 0)
            return
        super().delete(message)


@dataclass
class Bridge:
    sns: Any
    sqs: Any
    federation: Federation
    topic_arn: str
    queue_url: str
    dlq_url: str
    launcher: RecordingLauncher
    listeners: list[Listener]

    def listener(self, queue: SqsQueueClient | None = None) -> Listener:
        """The reporting domain's listener, as `prefect-federation listen --domain reporting`."""
        listener = Listener(
            self.federation.domain("reporting"),
            queue or SqsQueueClient(self.sqs, self.queue_url),
            self.launcher,
            federation=self.federation,
            settings=ListenerSettings(domain="reporting", wait_time_seconds=1),
        )
        self.listeners.append(listener)
        return listener

    def depth(self, queue_url: str) -> tuple[int, int]:
        counts = SqsQueueAdmin(self.sqs).counts(queue_url)
        return counts.visible, counts.in_flight


@pytest.fixture
def bridge(sns: Any, sqs: Any, name_prefix: str) -> Iterator[Bridge]:
    """`airflow-scoring` (topic) and `reporting` (queue, DLQ, raw subscription), provisioned."""
    federation = federation_of(AIRFLOW_SCORING, REPORTING)
    report = provision(federation, sns, sqs, FederationSettings(name_prefix=name_prefix))
    topic_arn = report.resources["airflow-scoring"].topic_arn
    queue_url = report.resources["reporting"].queue_url
    dlq_url = report.resources["reporting"].dlq_url
    assert topic_arn is not None
    assert queue_url is not None
    assert dlq_url is not None
    bridge = Bridge(sns, sqs, federation, topic_arn, queue_url, dlq_url, RecordingLauncher(), [])
    yield bridge
    for listener in bridge.listeners:
        listener.stop()
        listener._pool.shutdown(wait=True)


# -- (a) Airflow publishes, a domain with `adapter: raw` consumes --------------------------------


@pytest.mark.parametrize(
    "publish", [airflow_sns_publish, boto3_sns_publish], ids=["sns-publish-operator", "boto3"]
)
def test_a_plain_json_body_published_by_airflow_starts_a_run_with_parameters_from_its_fields(
    bridge: Bridge, publish: Any
) -> None:
    publish(
        bridge.sns,
        bridge.topic_arn,
        json.dumps(SCORED),
        {"type": "airflow-scoring.completed"},
    )

    results = bridge.listener().poll_once()

    assert [r.outcome.action for r in results] == ["ack"], [r.outcome.reason for r in results]
    [request] = bridge.launcher.requests
    assert request.deployment == "write-risk-report/reporting"
    assert request.parameters == EXPECTED_PARAMETERS
    assert request.envelope.type == "airflow-scoring.completed"
    assert request.envelope.source == "airflow-scoring"  # the raw subscription's upstream
    assert request.envelope.data == SCORED  # the whole plain body is the event's data
    assert request.idempotency_key.startswith("federation:airflow-scoring:")
    assert bridge.depth(bridge.queue_url) == (0, 0)
    assert bridge.depth(bridge.dlq_url) == (0, 0)


def test_the_same_sns_message_delivered_twice_makes_one_run_key(bridge: Bridge) -> None:
    airflow_sns_publish(
        bridge.sns, bridge.topic_arn, json.dumps(SCORED), {"type": "airflow-scoring.completed"}
    )
    listener = bridge.listener(DiesBeforeDeleting(bridge.sqs, bridge.queue_url))

    first = listener.poll_once()  # run created, then "died": the message comes back
    assert bridge.depth(bridge.queue_url) == (1, 0)
    second = listener.poll_once()  # the redelivery: same SQS message, second receive

    assert [r.outcome.action for r in first + second] == ["ack", "ack"]
    assert first[0].message.message_id == second[0].message.message_id
    assert second[0].message.receive_count == 2
    assert len(bridge.launcher.requests) == 2  # both deliveries were handled ...
    assert len({r.idempotency_key for r in bridge.launcher.requests}) == 1  # ... as one event
    assert len({r.envelope.id for r in bridge.launcher.requests}) == 1
    assert len(bridge.launcher.runs) == 1
    assert bridge.depth(bridge.queue_url) == (0, 0)


def test_an_airflow_task_retry_that_publishes_again_is_a_second_event(bridge: Bridge) -> None:
    """The raw adapter's id comes from the message, not the body: two publications of the same
    body are two events (see docs/migration.md for a deterministic id from the DAG run)."""
    for _ in range(2):
        airflow_sns_publish(
            bridge.sns, bridge.topic_arn, json.dumps(SCORED), {"type": "airflow-scoring.completed"}
        )

    results = bridge.listener().poll_once()

    assert [r.outcome.action for r in results] == ["ack", "ack"]
    assert len({r.idempotency_key for r in bridge.launcher.requests}) == 2


def test_an_envelope_published_by_airflow_with_an_id_from_the_dag_run_is_one_event_however_often(
    bridge: Bridge,
) -> None:
    """The way out of the previous test: the DAG publishes our envelope (plain JSON too) with an
    id derived from its dag run, so a retried publishing task makes no second run."""
    envelope = EventEnvelope(
        id=uuid5(NAMESPACE_URL, "airflow:daily_customer_scoring:scheduled__2026-11-24T00:00:00"),
        source="airflow-scoring",
        type="airflow-scoring.completed",
        data=SCORED,
    )
    for _ in range(2):  # the publishing task ran twice
        airflow_sns_publish(
            bridge.sns,
            bridge.topic_arn,
            envelope.to_json(),
            {"type": "airflow-scoring.completed", "source": "airflow-scoring"},
        )

    results = bridge.listener().poll_once()

    assert [r.outcome.action for r in results] == ["ack", "ack"]
    assert {r.envelope.id for r in bridge.launcher.requests} == {envelope.id}
    assert len(bridge.launcher.runs) == 1
    assert bridge.launcher.requests[0].parameters == EXPECTED_PARAMETERS


def test_a_plain_body_missing_a_field_the_declared_schema_requires_goes_to_the_dlq_with_the_reason(
    bridge: Bridge,
) -> None:
    incomplete = {k: v for k, v in SCORED.items() if k != "scores_path"}
    airflow_sns_publish(
        bridge.sns, bridge.topic_arn, json.dumps(incomplete), {"type": "airflow-scoring.completed"}
    )

    results = bridge.listener().poll_once()

    assert [r.outcome.action for r in results] == ["dead-letter"]
    assert bridge.launcher.requests == []
    [dead] = bridge.sqs.receive_message(
        QueueUrl=bridge.dlq_url, WaitTimeSeconds=1, MessageAttributeNames=["All"]
    )["Messages"]
    reason = dead["MessageAttributes"]["federation-reason"]["StringValue"]
    assert "'scores_path' is a required property" in reason
    assert json.loads(dead["Body"]) == incomplete  # the DAG's body, untouched, for a redrive
    assert bridge.depth(bridge.queue_url) == (0, 0)


def test_a_plain_body_without_a_type_attribute_reaches_the_only_raw_subscription(
    bridge: Bridge,
) -> None:
    airflow_sns_publish(bridge.sns, bridge.topic_arn, json.dumps(SCORED))  # operator defaults

    results = bridge.listener().poll_once()

    assert [r.outcome.action for r in results] == ["ack"]
    assert bridge.launcher.requests[0].parameters == EXPECTED_PARAMETERS


def test_a_plain_body_with_its_own_id_type_and_source_fields_is_still_raw_data(
    bridge: Bridge,
) -> None:
    body = {**SCORED, "id": 17, "type": "full-load", "source": "crm"}
    airflow_sns_publish(
        bridge.sns, bridge.topic_arn, json.dumps(body), {"type": "airflow-scoring.completed"}
    )

    results = bridge.listener().poll_once()

    assert [r.outcome.action for r in results] == ["ack"], [r.outcome.reason for r in results]
    assert bridge.launcher.requests[0].envelope.data == body


# -- (b) a domain publishes, an Airflow DAG's SqsSensor consumes ---------------------------------

SCORING = {
    "domain": "scoring",
    "publishes": [{"type": "scoring.completed"}, {"type": "scoring.scores-written"}],
}


def airflow_queue(sns: Any, sqs: Any, name: str, topic_arn: str, raw: bool = True) -> str:
    """Airflow's own queue on a domain's topic, filtered on `type` (made by hand, Terraform or
    CloudFormation: Airflow is not a domain, provision does not make it)."""
    queue_url = sqs.create_queue(QueueName=name)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "sns.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": queue_arn,
                "Condition": {"ArnEquals": {"aws:SourceArn": topic_arn}},
            }
        ],
    }
    sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"Policy": json.dumps(policy)})
    sns.subscribe(
        TopicArn=topic_arn,
        Protocol="sqs",
        Endpoint=queue_arn,
        Attributes={
            "FilterPolicy": json.dumps({"type": ["scoring.completed"]}),
            "RawMessageDelivery": "true" if raw else "false",
        },
    )
    return str(queue_url)


def sqs_sensor_poke(sqs: Any, queue_url: str) -> list[dict[str, Any]]:
    """What `SqsSensor(sqs_queue=...)` does on a poke and pushes to XCom under `messages`: one
    receive_message (no message attributes asked for), then the messages are deleted."""
    messages: list[dict[str, Any]] = sqs.receive_message(
        QueueUrl=queue_url, MaxNumberOfMessages=5, WaitTimeSeconds=1
    ).get("Messages", [])
    if messages:
        sqs.delete_message_batch(
            QueueUrl=queue_url,
            Entries=[{"Id": m["MessageId"], "ReceiptHandle": m["ReceiptHandle"]} for m in messages],
        )
    return messages


@pytest.fixture
def scoring_topic(sns: Any, sqs: Any, name_prefix: str) -> str:
    report = provision(
        federation_of(SCORING), sns, sqs, FederationSettings(name_prefix=name_prefix)
    )
    topic_arn = report.resources["scoring"].topic_arn
    assert topic_arn is not None
    return topic_arn


def test_an_airflow_sqs_sensor_reads_a_domains_event_as_plain_json_with_the_data_fields(
    sns: Any, sqs: Any, name_prefix: str, scoring_topic: str
) -> None:
    queue_url = airflow_queue(sns, sqs, f"{name_prefix}airflow-reporting", scoring_topic)
    publisher = SnsPublisher(sns, scoring_topic)
    event = EventEnvelope(source="scoring", type="scoring.completed", data=SCORED)
    publisher.publish(EventEnvelope(source="scoring", type="scoring.scores-written", data={}))
    publisher.publish(event)

    messages = sqs_sensor_poke(sqs, queue_url)  # = ti.xcom_pull(task_ids=..., key="messages")

    assert len(messages) == 1  # the filter policy kept scoring.scores-written out
    body = json.loads(messages[0]["Body"])  # plain json: no prefect-federation in Airflow
    assert body["type"] == "scoring.completed"
    assert body["id"] == str(event.id)  # what an Airflow consumer dedupes on
    assert body["data"]["scores_path"] == SCORED["scores_path"]
    assert body["data"]["high_risk"] == 412
    assert body["data"] == SCORED
    assert sqs_sensor_poke(sqs, queue_url) == []  # the sensor deleted what it read


def test_without_raw_delivery_an_airflow_sensor_gets_the_event_inside_the_sns_notification(
    sns: Any, sqs: Any, name_prefix: str, scoring_topic: str
) -> None:
    queue_url = airflow_queue(sns, sqs, f"{name_prefix}airflow-wrapped", scoring_topic, raw=False)
    SnsPublisher(sns, scoring_topic).publish(
        EventEnvelope(source="scoring", type="scoring.completed", data=SCORED)
    )

    [message] = sqs_sensor_poke(sqs, queue_url)

    notification = json.loads(message["Body"])
    assert notification["Type"] == "Notification"
    assert "data" not in notification  # the event is one level down, as a string
    assert json.loads(notification["Message"])["data"] == SCORED
