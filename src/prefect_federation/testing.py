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
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from uuid import uuid4

from prefect_federation.events import EventEnvelope, domain_of
from prefect_federation.listener.launcher import RecordingLauncher
from prefect_federation.publisher import InMemoryPublisher
from prefect_federation.queue import ReceivedMessage
from prefect_federation.queue_admin import QueueCounts

if TYPE_CHECKING:
    from mypy_boto3_sqs.type_defs import MessageAttributeValueTypeDef, MessageTypeDef

__all__ = [
    "InMemoryPublisher",
    "InMemoryQueue",
    "InMemoryQueueAdmin",
    "RecordingLauncher",
    "make_event",
    "make_event_body",
    "make_sns_notification",
    "wait_until",
]


def wait_until(condition: Callable[[], object], timeout: float, what: str) -> None:
    """Poll `condition` every 50 ms until it is true; AssertionError naming `what` after
    `timeout` seconds (for tests of processes and queues that change state on their own)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:.0f}s: {what}")
        time.sleep(0.05)


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
        self.requeued: list[tuple[str, int]] = []

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

    def requeue(self, message: ReceivedMessage, delay_seconds: int) -> None:
        from prefect_federation.queue import requeue_attributes

        self.requeued.append((message.message_id, delay_seconds))
        self.put(message.body, requeue_attributes(message))
        self.delete(message)

    def max_receive_count(self) -> int | None:
        return self._max_receive_count

    def visibility_timeout(self) -> int | None:
        return None

    @property
    def depth(self) -> int:
        """Messages still in the queue."""
        return len(self.messages)


class InMemoryQueueAdmin:
    """A `QueueAdmin` over queues and topics in memory, with SQS's visibility timeouts.

    A scanned message stays hidden until released, deleted, or `visibility_timeout` seconds of
    the injected `clock` have passed. FIFO message groups are not held back. Put an exception in
    `errors` under an operation's name (`"send"`, `"delete"`, `"scan"`, `"counts"`) to make that
    operation fail.
    """

    def __init__(self, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.clock = clock
        self.queues: dict[str, dict[str, dict[str, Any]]] = {}  # url -> message id -> message
        self.names: dict[str, str] = {}  # queue name -> url
        self.topics: dict[str, str] = {}  # topic name -> ARN
        self.errors: dict[str, Exception] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def create_queue(self, name: str) -> str:
        """A new empty queue; returns its URL."""
        url = f"https://sqs.in-memory/123456789012/{name}"
        self.names[name] = url
        self.queues.setdefault(url, {})
        return url

    def create_topic(self, name: str) -> str:
        """A new topic; returns its ARN."""
        self.topics[name] = f"arn:aws:sns:us-east-1:123456789012:{name}"
        return self.topics[name]

    def _fail(self, operation: str) -> None:
        error = self.errors.get(operation)
        if error is not None:
            raise error

    def queue_url(self, name: str) -> str | None:
        return self.names.get(name)

    def topic_arns(self) -> dict[str, str]:
        return dict(self.topics)

    def _visible(self, message: dict[str, Any], now: datetime) -> bool:
        return message["hidden_until"] is None or message["hidden_until"] <= now

    def counts(self, url: str) -> QueueCounts:
        self._fail("counts")
        with self._lock:
            now = self.clock()
            messages = list(self.queues[url].values())
            visible = sum(self._visible(m, now) for m in messages)
            return QueueCounts(visible=visible, in_flight=len(messages) - visible)

    def scan(
        self, url: str, max_messages: int, visibility_timeout: int, wait_seconds: int
    ) -> list[MessageTypeDef]:
        self._fail("scan")
        with self._lock:
            now = self.clock()
            found: list[MessageTypeDef] = []
            for message_id, message in self.queues[url].items():
                if len(found) >= max(1, min(10, max_messages)):
                    break
                if not self._visible(message, now):
                    continue
                message["receives"] += 1
                message["handle"] = f"{message_id}#{message['receives']}"
                message["hidden_until"] = now + timedelta(seconds=visibility_timeout)
                system = {
                    "SentTimestamp": str(int(message["sent_at"].timestamp() * 1000)),
                    "ApproximateReceiveCount": str(message["receives"]),
                }
                if message["group_id"] is not None:
                    system["MessageGroupId"] = message["group_id"]
                raw: dict[str, Any] = {
                    "MessageId": message_id,
                    "ReceiptHandle": message["handle"],
                    "Body": message["body"],
                    "Attributes": system,
                }
                if message["attributes"]:
                    raw["MessageAttributes"] = json.loads(json.dumps(message["attributes"]))
                found.append(raw)  # type: ignore[arg-type]  # SQS's shape, built by hand
            return found

    def _by_handle(self, url: str, handle: str) -> tuple[str, dict[str, Any]] | None:
        return next(((i, m) for i, m in self.queues[url].items() if m["handle"] == handle), None)

    def release(self, url: str, receipt_handles: Iterable[str]) -> None:
        with self._lock:
            for handle in receipt_handles:
                found = self._by_handle(url, handle)
                if found is not None:
                    found[1]["hidden_until"] = None

    def delete(self, url: str, receipt_handle: str) -> None:
        self._fail("delete")
        with self._lock:
            found = self._by_handle(url, receipt_handle)
            if found is not None:
                del self.queues[url][found[0]]

    def send(
        self,
        url: str,
        body: str,
        attributes: Mapping[str, MessageAttributeValueTypeDef] | None = None,
        *,
        group_id: str | None = None,
        deduplication_id: str | None = None,
    ) -> str:
        """Enqueue a message (string attributes only); returns its message id."""
        self._fail("send")
        with self._lock:
            message_id = f"admin-{next(self._ids)}"
            self.queues[url][message_id] = {
                "body": body,
                "attributes": {n: dict(v) for n, v in (attributes or {}).items()},
                "group_id": group_id,
                "deduplication_id": deduplication_id,
                "sent_at": self.clock(),
                "receives": 0,
                "handle": None,
                "hidden_until": None,
            }
            return message_id

    def messages(self, url: str) -> list[dict[str, Any]]:
        """What a queue holds (body, attributes, group_id, ...), oldest first."""
        with self._lock:
            return [{"message_id": i, **m} for i, m in self.queues[url].items()]


if TYPE_CHECKING:
    from prefect_federation.queue_admin import QueueAdmin

    _in_memory_admin: type[QueueAdmin] = InMemoryQueueAdmin  # the double keeps to the role
