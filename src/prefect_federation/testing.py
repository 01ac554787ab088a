"""Test doubles shipped with the package: an in-memory queue and message factories.

Use them to test a domain's declarations and listener without AWS or a Prefect server:

```python
queue = InMemoryQueue()
queue.put(make_event_body("ingestion.completed", {"snapshot_date": "2026-11-01"}))
listener = Listener(domain, queue, RecordingLauncher())
listener.poll_once()
```
"""

from __future__ import annotations

import itertools
import json
import threading
from typing import Any
from uuid import uuid4

from prefect_federation.events import EventEnvelope, domain_of
from prefect_federation.listener.launcher import RecordingLauncher
from prefect_federation.publisher import InMemoryPublisher
from prefect_federation.queue import ReceivedMessage

__all__ = [
    "InMemoryPublisher",
    "InMemoryQueue",
    "RecordingLauncher",
    "make_event",
    "make_event_body",
    "make_sns_notification",
]


def make_event(event_type: str, data: dict[str, Any] | None = None, **fields: Any) -> EventEnvelope:
    """An envelope with sensible defaults (`source` = the type's domain)."""
    fields.setdefault("source", domain_of(event_type))
    return EventEnvelope(type=event_type, data=data or {}, **fields)


def make_event_body(event_type: str, data: dict[str, Any] | None = None, **fields: Any) -> str:
    """A raw-delivery SQS body: the envelope's JSON."""
    return make_event(event_type, data, **fields).to_json()


def make_sns_notification(envelope: EventEnvelope, topic_arn: str | None = None) -> str:
    """An SQS body as SNS delivers it without raw delivery (an SNS notification document)."""
    arn = topic_arn or f"arn:aws:sns:us-east-1:123456789012:federation-{envelope.source}"
    return json.dumps(
        {
            "Type": "Notification",
            "MessageId": str(uuid4()),
            "TopicArn": arn,
            "Message": envelope.to_json(),
            "Timestamp": envelope.time.isoformat(),
            "MessageAttributes": {
                name: {"Type": "String", "Value": value["StringValue"]}
                for name, value in envelope.message_attributes().items()
            },
        }
    )


class InMemoryQueue:
    """A queue with SQS's semantics that matter here: receive counts, visibility, a DLQ."""

    def __init__(self, max_receive_count: int | None = 5, fifo: bool = False) -> None:
        self.fifo = fifo
        self._max_receive_count = max_receive_count
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self.messages: dict[str, dict[str, Any]] = {}  # id -> {body, attributes, count, hidden}
        self.dead_letters: list[tuple[ReceivedMessage, str]] = []
        self.deleted: list[str] = []
        self.retries: list[tuple[str, int]] = []

    def describe(self) -> str:
        return "in-memory queue"

    def put(self, body: str, attributes: dict[str, str] | None = None) -> str:
        """Enqueue a body; returns its message id."""
        with self._lock:
            message_id = f"m-{next(self._ids)}"
            self.messages[message_id] = {
                "body": body,
                "attributes": dict(attributes or {}),
                "count": 0,
                "hidden": False,
            }
            return message_id

    def receive(self, max_messages: int, wait_seconds: int) -> list[ReceivedMessage]:
        with self._lock:
            result = []
            for message_id, message in self.messages.items():
                if message["hidden"]:
                    continue
                message["count"] += 1
                message["hidden"] = True
                result.append(
                    ReceivedMessage(
                        message_id=message_id,
                        receipt_handle=f"{message_id}#{message['count']}",
                        body=message["body"],
                        attributes=message["attributes"],
                        receive_count=message["count"],
                    )
                )
                if len(result) == max_messages:
                    break
            return result

    def delete(self, message: ReceivedMessage) -> None:
        with self._lock:
            self.messages.pop(message.message_id, None)
            self.deleted.append(message.message_id)

    def dead_letter(self, message: ReceivedMessage, reason: str) -> None:
        with self._lock:
            self.dead_letters.append((message, reason))

    def retry_later(self, message: ReceivedMessage, delay_seconds: int) -> None:
        with self._lock:
            self.retries.append((message.message_id, delay_seconds))
            if message.message_id in self.messages:
                self.messages[message.message_id]["hidden"] = False  # no clock: visible again

    def extend_visibility(self, message: ReceivedMessage, seconds: int) -> None:
        return None

    def max_receive_count(self) -> int | None:
        return self._max_receive_count

    def visibility_timeout(self) -> int | None:
        return None

    @property
    def depth(self) -> int:
        """Messages still in the queue."""
        return len(self.messages)
