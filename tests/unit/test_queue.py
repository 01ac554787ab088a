"""What a dead-lettered message carries, and the in-memory queue the other tests rely on."""

from __future__ import annotations

from datetime import datetime

from prefect_federation.queue import MAX_REASON_CHARS, ReceivedMessage, dead_letter_attributes
from prefect_federation.testing import InMemoryQueue

QUEUE_URL = "https://sqs.us-east-1.amazonaws.com/123456789012/federation-scoring-inbox"


def message(attributes: dict[str, str] | None = None, receive_count: int = 3) -> ReceivedMessage:
    return ReceivedMessage(
        message_id="m-1",
        receipt_handle="r-1",
        body="{}",
        attributes=attributes or {},
        receive_count=receive_count,
    )


def values(attributes: dict[str, dict[str, str]]) -> dict[str, str]:
    assert all(a["DataType"] == "String" for a in attributes.values())
    return {name: a["StringValue"] for name, a in attributes.items()}


def test_dead_letter_attributes_keep_the_originals_and_add_the_reason() -> None:
    attributes = dead_letter_attributes(
        message({"type": "ingestion.completed", "source": "ingestion"}),
        "EnvelopeParseError: not JSON",
        QUEUE_URL,
    )

    found = values(attributes)
    dead_lettered_at = found.pop("federation-dead-lettered-at")
    assert found == {
        "type": "ingestion.completed",
        "source": "ingestion",
        "federation-reason": "EnvelopeParseError: not JSON",
        "federation-source-queue": QUEUE_URL,
        "federation-original-message-id": "m-1",
        "federation-receive-count": "3",
    }
    assert datetime.fromisoformat(dead_lettered_at).utcoffset() is not None


def test_dead_letter_attributes_never_exceed_ten() -> None:
    many = {f"attr{i:02d}": str(i) for i in range(12)}

    attributes = dead_letter_attributes(message(many), "reason", QUEUE_URL)

    assert len(attributes) == 10
    assert values(attributes)["federation-reason"] == "reason"
    assert [n for n in attributes if not n.startswith("federation-")] == [
        "attr00",
        "attr01",
        "attr02",
        "attr03",
        "attr04",
    ]


def test_a_very_long_reason_is_truncated() -> None:
    reason = "ParameterRenderError: " + "x" * 20_000

    attributes = dead_letter_attributes(message(), reason, QUEUE_URL)

    kept = values(attributes)["federation-reason"]
    assert len(kept) == MAX_REASON_CHARS
    assert kept == reason[:MAX_REASON_CHARS]


def test_a_message_dead_lettered_again_gets_fresh_federation_attributes() -> None:
    previous = {"type": "ingestion.completed", "federation-reason": "old", "federation-extra": "x"}

    attributes = dead_letter_attributes(message(previous), "new", QUEUE_URL)

    found = values(attributes)
    assert found["federation-reason"] == "new"
    assert "federation-extra" not in found
    assert found["type"] == "ingestion.completed"
    assert len(found) == 6


def test_the_in_memory_queue_counts_receives_and_hides_received_messages() -> None:
    queue = InMemoryQueue(max_receive_count=2)
    first = queue.put("a", {"type": "x.y"})
    queue.put("b")

    (received_a, received_b) = queue.receive(10, 0)

    assert (received_a.message_id, received_a.body, received_a.attributes) == (
        first,
        "a",
        {"type": "x.y"},
    )
    assert received_a.receive_count == 1
    assert queue.receive(10, 0) == []
    queue.retry_later(received_a, 5)
    (again,) = queue.receive(10, 0)
    assert again.message_id == first
    assert again.receive_count == 2
    queue.delete(again)
    queue.delete(received_b)
    assert queue.depth == 0
    assert queue.max_receive_count() == 2
    assert queue.retries == [(first, 5)]
