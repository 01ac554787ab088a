"""Reading a dead-lettered SQS message, and what a redrive sends back (pure helpers)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from prefect_federation.dlq import dead_letter_from_sqs, redrive_attributes
from prefect_federation.queue import ReceivedMessage, dead_letter_attributes


def as_received(attributes: dict[str, dict[str, str]], body: str, **system: str) -> dict[str, Any]:
    """A receive_message entry, as SQS returns a message sent with these attributes."""
    return {
        "MessageId": "dlq-id-1",
        "ReceiptHandle": "handle-1",
        "Body": body,
        "Attributes": {"SentTimestamp": "1795000000000", **system},
        "MessageAttributes": attributes,
    }


def test_a_dead_letter_shows_the_reason_receives_source_and_the_event_it_carries() -> None:
    body = json.dumps(
        {"specversion": "1.0", "id": "4f0c-1", "type": "ingestion.completed", "source": "ingestion"}
    )
    original = ReceivedMessage(
        message_id="orig-1",
        receipt_handle="h",
        body=body,
        attributes={"type": "ingestion.completed", "source": "ingestion"},
        receive_count=3,
    )
    attributes = dead_letter_attributes(original, "DeploymentNotFound: score/daily", "https://q")

    letter = dead_letter_from_sqs(as_received(attributes, body, MessageGroupId="ingestion"))

    assert letter.message_id == "dlq-id-1"
    assert letter.reason == "DeploymentNotFound: score/daily"
    assert letter.receive_count == 3
    assert letter.source_queue == "https://q"
    assert letter.original_message_id == "orig-1"
    assert (letter.event_type, letter.event_id, letter.event_source) == (
        "ingestion.completed",
        "4f0c-1",
        "ingestion",
    )
    assert letter.dead_lettered_at is not None
    assert letter.group_id == "ingestion"
    assert letter.matches("dlq-id-1")
    assert letter.matches("orig-1")
    assert not letter.matches("other")


def test_a_message_sqs_moved_itself_has_no_reason_and_its_dlq_send_time() -> None:
    letter = dead_letter_from_sqs(as_received({}, "not json at all"))

    assert letter.reason is None
    assert letter.event_type is None
    assert letter.body_preview == "not json at all"
    assert letter.dead_lettered_at == datetime.fromtimestamp(1795000000, UTC)


def test_the_event_inside_an_sns_notification_is_found() -> None:
    inner = json.dumps({"id": "e-1", "type": "scoring.completed", "source": "scoring"})
    body = json.dumps({"Type": "Notification", "TopicArn": "arn", "Message": inner})

    letter = dead_letter_from_sqs(as_received({}, body))

    assert (letter.event_type, letter.event_id) == ("scoring.completed", "e-1")


def test_a_long_body_is_previewed_short_on_one_line_and_kept_whole() -> None:
    body = json.dumps({"data": "x" * 500}, indent=2)

    letter = dead_letter_from_sqs(as_received({}, body))

    assert len(letter.body_preview) == 120
    assert "\n" not in letter.body_preview
    assert letter.body_preview.endswith("...")
    assert letter.body == body


def test_a_redrive_keeps_the_original_attributes_and_drops_every_federation_one() -> None:
    received = {
        "type": {"DataType": "String", "StringValue": "ingestion.completed"},
        "blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01"},
        "federation-reason": {"DataType": "String", "StringValue": "boom"},
        "federation-receive-count": {"DataType": "String", "StringValue": "5"},
    }

    assert redrive_attributes(received) == {
        "type": {"DataType": "String", "StringValue": "ingestion.completed"},
        "blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01"},
    }
