"""The listener on a real SQS queue (moto server) with a recording launcher: runs, duplicates,
and every class of bad message going to the DLQ with a reason."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from prefect_federation.declarations import Federation
from prefect_federation.listener.consumer import Listener
from prefect_federation.listener.launcher import RecordingLauncher
from prefect_federation.provision import ProvisionReport
from prefect_federation.publisher import SnsPublisher
from prefect_federation.queue import SqsQueueClient
from prefect_federation.settings import ListenerSettings
from prefect_federation.testing import make_event

pytestmark = pytest.mark.integration

# the fixtures of tests/integration/conftest.py
Provision = Callable[..., tuple[Federation, ProvisionReport]]
Depth = Callable[[str], tuple[int, int]]

INGESTION = {
    "domain": "ingestion",
    "publishes": [{"type": "ingestion.completed"}, {"type": "ingestion.started"}],
}
SCORING = {
    "domain": "scoring",
    "subscribes": [
        {
            "event": "ingestion.completed",
            "deployment": "score-flow/score",
            "parameters": {
                "snapshot_date": "{{ event.data.snapshot_date }}",
                "rows": "{{ event.data.rows }}",
                "event_id": "{{ event.id }}",
                "label": "rows={{ event.data.rows }}",
                "fixed": "constant",
            },
        }
    ],
}
GOOD_DATA = {"snapshot_date": "2026-11-01", "rows": 42, "extra": "not a parameter"}


@dataclass
class Setup:
    listener: Listener
    launcher: RecordingLauncher
    publisher: SnsPublisher
    queue_url: str
    dlq_url: str


@pytest.fixture
def setup(provisioned: Provision, sns: Any, sqs: Any) -> Iterator[Setup]:
    federation, report = provisioned(INGESTION, SCORING)
    topic_arn = report.resources["ingestion"].topic_arn
    queue_url = report.resources["scoring"].queue_url
    dlq_url = report.resources["scoring"].dlq_url
    assert topic_arn is not None
    assert queue_url is not None
    assert dlq_url is not None
    launcher = RecordingLauncher()
    listener = Listener(
        federation.domain("scoring"),
        SqsQueueClient(sqs, queue_url),
        launcher,
        federation=federation,
        settings=ListenerSettings(domain="scoring", wait_time_seconds=1),
    )
    yield Setup(listener, launcher, SnsPublisher(sns, topic_arn), queue_url, dlq_url)
    listener.stop()
    listener._pool.shutdown(wait=True)


def poll_until_empty(listener: Listener, depth: Depth, queue_url: str) -> list[Any]:
    """Poll until the queue holds nothing (visible or in flight); a few polls at most."""
    results: list[Any] = []
    for _ in range(5):
        results += listener.poll_once(wait_seconds=1)
        if depth(queue_url) == (0, 0):
            break
    return results


def test_a_published_event_becomes_one_run_request_with_the_rendered_parameters(
    setup: Setup, depth: Depth
) -> None:
    event = make_event("ingestion.completed", GOOD_DATA)
    setup.publisher.publish(event)

    results = setup.listener.poll_once(wait_seconds=1)

    assert [r.outcome.action for r in results] == ["ack"]
    [request] = setup.launcher.requests
    assert request.deployment == "score-flow/score"
    assert request.parameters == {
        "snapshot_date": "2026-11-01",
        "rows": 42,
        "event_id": str(event.id),
        "label": "rows=42",
        "fixed": "constant",
    }
    assert request.envelope.id == event.id
    assert len(setup.launcher.runs) == 1
    assert depth(setup.queue_url) == (0, 0)
    assert depth(setup.dlq_url) == (0, 0)


def test_an_unsubscribed_type_published_to_the_topic_never_reaches_the_listener(
    setup: Setup, depth: Depth
) -> None:
    setup.publisher.publish(make_event("ingestion.started", GOOD_DATA))

    assert depth(setup.queue_url) == (0, 0)
    assert setup.listener.poll_once(wait_seconds=1) == []
    assert setup.launcher.requests == []


def test_the_same_event_delivered_twice_starts_one_run(setup: Setup, depth: Depth) -> None:
    event = make_event("ingestion.completed", GOOD_DATA)
    setup.publisher.publish(event)
    setup.publisher.publish(event)  # a standard topic delivers both
    assert depth(setup.queue_url) == (2, 0)

    results = poll_until_empty(setup.listener, depth, setup.queue_url)

    assert [r.outcome.action for r in results] == ["ack", "ack"]
    assert len(setup.launcher.requests) == 2  # both deliveries were handled ...
    assert len(setup.launcher.runs) == 1  # ... and made one run
    assert depth(setup.queue_url) == (0, 0)


def _envelope_body(event_type: str, data: dict[str, Any]) -> str:
    return make_event(event_type, data).to_json()


BAD_MESSAGES = [
    pytest.param("this is { not json", ["EnvelopeParseError", "not JSON"], id="not-json"),
    pytest.param("[1, 2, 3]", ["EnvelopeParseError", "not an object"], id="json-array"),
    pytest.param(
        json.dumps({"type": "ingestion.completed", "data": {}, "colour": "blue"}),
        ["EnvelopeValidationError", "source", "colour"],
        id="invalid-envelope",
    ),
    pytest.param(
        _envelope_body("ingestion.completed", {"rows": 1}),
        ["ParameterRenderError", "snapshot_date"],
        id="template-missing-field",
    ),
    pytest.param(
        _envelope_body("ingestion.exploded", GOOD_DATA),
        ["UnsubscribedEventError", "ingestion.exploded"],
        id="unknown-type",
    ),
]


@pytest.mark.parametrize(("body", "reason_mentions"), BAD_MESSAGES)
def test_a_bad_message_lands_in_the_dlq_with_a_reason_and_the_listener_goes_on(
    setup: Setup, sqs: Any, depth: Depth, body: str, reason_mentions: list[str]
) -> None:
    sqs.send_message(QueueUrl=setup.queue_url, MessageBody=body)

    [result] = setup.listener.poll_once(wait_seconds=1)

    assert result.outcome.action == "dead-letter"
    assert setup.launcher.requests == []
    assert depth(setup.queue_url) == (0, 0)
    [dead] = sqs.receive_message(
        QueueUrl=setup.dlq_url, WaitTimeSeconds=1, MessageAttributeNames=["All"]
    )["Messages"]
    assert dead["Body"] == body
    reason = dead["MessageAttributes"]["federation-reason"]["StringValue"]
    for mention in reason_mentions:
        assert mention in reason

    good = make_event("ingestion.completed", GOOD_DATA)
    setup.publisher.publish(good)
    [after] = setup.listener.poll_once(wait_seconds=1)
    assert after.outcome.action == "ack"
    assert [r.envelope.id for r in setup.launcher.requests] == [good.id]
    assert depth(setup.queue_url) == (0, 0)


def test_a_retryable_failure_leaves_the_message_and_it_comes_back_counted(
    setup: Setup, sqs: Any, depth: Depth
) -> None:
    from prefect_federation.errors import PrefectApiUnavailable

    setup.launcher.fail_with = PrefectApiUnavailable("down for the test")
    setup.publisher.publish(make_event("ingestion.completed", GOOD_DATA))

    [first] = setup.listener.poll_once(wait_seconds=1)

    assert first.outcome.action == "retry"
    assert first.outcome.delay_seconds > 0
    assert depth(setup.queue_url) == (0, 1)  # still there, hidden for the back-off
    assert depth(setup.dlq_url) == (0, 0)
    # make it visible now rather than wait for the back-off, and let the launcher recover
    sqs.change_message_visibility(
        QueueUrl=setup.queue_url,
        ReceiptHandle=first.message.receipt_handle,
        VisibilityTimeout=0,
    )
    setup.launcher.fail_with = None
    [second] = setup.listener.poll_once(wait_seconds=1)
    assert second.outcome.action == "ack"
    assert second.message.receive_count == 2
    assert len(setup.launcher.runs) == 1


def test_a_message_that_keeps_failing_is_dead_lettered_with_the_last_error_at_max_receives(
    setup: Setup, sqs: Any, depth: Depth
) -> None:
    from prefect_federation.errors import PrefectApiUnavailable

    max_receives = setup.listener.queue.max_receive_count()
    assert max_receives is not None
    setup.launcher.fail_with = PrefectApiUnavailable("still down")
    setup.publisher.publish(make_event("ingestion.completed", GOOD_DATA))

    outcomes = []
    for _ in range(max_receives):
        [result] = setup.listener.poll_once(wait_seconds=1)
        outcomes.append(result.outcome.action)
        if result.outcome.action == "retry":  # skip the back-off
            sqs.change_message_visibility(
                QueueUrl=setup.queue_url,
                ReceiptHandle=result.message.receipt_handle,
                VisibilityTimeout=0,
            )

    assert outcomes == ["retry"] * (max_receives - 1) + ["dead-letter"]
    assert depth(setup.queue_url) == (0, 0)
    [dead] = sqs.receive_message(
        QueueUrl=setup.dlq_url, WaitTimeSeconds=1, MessageAttributeNames=["All"]
    )["Messages"]
    attributes = {k: v["StringValue"] for k, v in dead["MessageAttributes"].items()}
    assert f"gave up after {max_receives} receives" in attributes["federation-reason"]
    assert "still down" in attributes["federation-reason"]
    assert attributes["federation-receive-count"] == str(max_receives)


def test_a_fifo_domain_runs_its_events_and_dead_letters_to_its_fifo_dlq(
    provisioned: Provision, sns: Any, sqs: Any, depth: Depth
) -> None:
    federation, report = provisioned({**INGESTION, "fifo": True}, {**SCORING, "fifo": True})
    topic_arn = report.resources["ingestion"].topic_arn
    queue_url = report.resources["scoring"].queue_url
    dlq_url = report.resources["scoring"].dlq_url
    assert topic_arn is not None
    assert queue_url is not None
    assert dlq_url is not None
    launcher = RecordingLauncher()
    listener = Listener(
        federation.domain("scoring"),
        SqsQueueClient(sqs, queue_url),
        launcher,
        federation=federation,
        settings=ListenerSettings(domain="scoring", wait_time_seconds=1),
    )
    publisher = SnsPublisher(sns, topic_arn)
    good = [make_event("ingestion.completed", {**GOOD_DATA, "rows": n}) for n in range(3)]
    bad = make_event("ingestion.completed", {"rows": 99})  # no snapshot_date
    for event in (good[0], bad, good[1], good[2]):
        publisher.publish(event)

    results = poll_until_empty(listener, depth, queue_url)
    listener._pool.shutdown(wait=True)

    assert [r.outcome.action for r in results] == ["ack", "dead-letter", "ack", "ack"]
    assert [r.parameters["rows"] for r in launcher.requests] == [0, 1, 2]  # in publish order
    [dead] = sqs.receive_message(
        QueueUrl=dlq_url,
        WaitTimeSeconds=1,
        MessageAttributeNames=["All"],
        MessageSystemAttributeNames=["MessageGroupId"],
    )["Messages"]
    assert json.loads(dead["Body"])["id"] == str(bad.id)
    assert dead["Attributes"]["MessageGroupId"] == "ingestion"
    assert "ParameterRenderError" in dead["MessageAttributes"]["federation-reason"]["StringValue"]


class FailingFirstLauncher(RecordingLauncher):
    """Fails (retryably) every request for one event id; records the others."""

    def __init__(self, failing_event_id: Any) -> None:
        super().__init__()
        self.failing_event_id = failing_event_id

    def start(self, request: Any) -> Any:
        from prefect_federation.errors import PrefectApiUnavailable

        if request.envelope.id == self.failing_event_id:
            raise PrefectApiUnavailable("down for this one")
        return super().start(request)


def test_on_a_fifo_queue_a_retried_event_holds_back_the_later_events_of_its_group(
    provisioned: Provision, sns: Any, sqs: Any
) -> None:
    federation, report = provisioned({**INGESTION, "fifo": True}, {**SCORING, "fifo": True})
    topic_arn = report.resources["ingestion"].topic_arn
    queue_url = report.resources["scoring"].queue_url
    assert topic_arn is not None
    assert queue_url is not None
    first, second = (make_event("ingestion.completed", {**GOOD_DATA, "rows": n}) for n in (1, 2))
    launcher = FailingFirstLauncher(first.id)
    listener = Listener(
        federation.domain("scoring"),
        SqsQueueClient(sqs, queue_url),
        launcher,
        federation=federation,
        settings=ListenerSettings(domain="scoring", wait_time_seconds=1),
    )
    publisher = SnsPublisher(sns, topic_arn)
    publisher.publish(first)
    publisher.publish(second)

    results = listener.poll_once(wait_seconds=1)

    assert [json.loads(r.message.body)["id"] for r in results] == [str(first.id), str(second.id)]
    assert [r.outcome.action for r in results] == ["retry", "retry"]
    assert "held back" in (results[1].outcome.reason or "")
    assert launcher.runs == {}  # the second event waits for the first

    launcher.failing_event_id = None  # recovered; skip the back-off
    for result in results:
        sqs.change_message_visibility(
            QueueUrl=queue_url, ReceiptHandle=result.message.receipt_handle, VisibilityTimeout=0
        )
    again = listener.poll_once(wait_seconds=1)
    listener._pool.shutdown(wait=True)

    assert [r.outcome.action for r in again] == ["ack", "ack"]
    assert [r.envelope.id for r in launcher.requests] == [first.id, second.id]
