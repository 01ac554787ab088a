"""A domain's queue: the `QueueClient` role and its SQS implementation (the only SQS I/O)."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel, ConfigDict, Field

from prefect_federation.errors import AwsThrottled, ConfigError

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import MessageTypeDef

__all__ = [
    "DLQ_ATTRIBUTE_PREFIX",
    "FIRST_SENT",
    "ORIGINAL_MESSAGE_ID",
    "QueueClient",
    "ReceivedMessage",
    "SqsQueueClient",
    "first_sent",
    "original_message_id",
    "requeue_attributes",
]

logger = logging.getLogger("prefect_federation.queue")

DLQ_ATTRIBUTE_PREFIX = "federation-"
"""Message attributes we add to a dead-lettered message: `federation-reason` and friends."""

MAX_REASON_CHARS = 4000

ORIGINAL_MESSAGE_ID = f"{DLQ_ATTRIBUTE_PREFIX}message-id"
"""On a requeued copy: the id of the message as first delivered (raw events take their id
from it)."""
REQUEUED = f"{DLQ_ATTRIBUTE_PREFIX}requeued"
"""On a requeued copy: how many times it was requeued."""
FIRST_SENT = f"{DLQ_ATTRIBUTE_PREFIX}first-sent"
"""On a requeued copy: when the message first reached the queue (ISO time): its real age."""


class ReceivedMessage(BaseModel):
    """One message as received from a queue."""

    model_config = ConfigDict(frozen=True)

    message_id: str
    receipt_handle: str
    body: str
    attributes: dict[str, str] = Field(default_factory=dict, description="Message attributes.")
    receive_count: int = 1
    sent_at: datetime | None = None
    group_id: str | None = None


class QueueClient(Protocol):
    """What the listener needs from a queue."""

    fifo: bool

    def receive(self, max_messages: int, wait_seconds: int) -> list[ReceivedMessage]: ...

    def delete(self, message: ReceivedMessage) -> None: ...

    def dead_letter(self, message: ReceivedMessage, reason: str) -> None: ...

    def retry_later(self, message: ReceivedMessage, delay_seconds: int) -> None: ...

    def extend_visibility(self, message: ReceivedMessage, seconds: int) -> None: ...

    def requeue(self, message: ReceivedMessage, delay_seconds: int) -> None:
        """Send a fresh copy (receive count 0) after `delay_seconds`, then delete the original."""
        ...

    def max_receive_count(self) -> int | None:
        """The redrive policy's maxReceiveCount; None when the queue has no dead-letter queue."""
        ...

    def visibility_timeout(self) -> int | None:
        """The queue's own visibility timeout in seconds, if known."""
        ...

    def describe(self) -> str: ...


def _aws_call(what: str, call: Any, **kwargs: Any) -> Any:
    try:
        return call(**kwargs)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if "Throttl" in code or code in {"RequestThrottled", "ServiceUnavailable", "InternalError"}:
            raise AwsThrottled(f"{what}: {code}: {exc}") from exc
        raise
    except BotoCoreError as exc:
        raise AwsThrottled(f"{what}: {type(exc).__name__}: {exc}") from exc


def string_attributes(raw: MessageTypeDef) -> dict[str, str]:
    """The string message attributes of a received SQS message: name -> value."""
    return {
        name: value["StringValue"]
        for name, value in raw.get("MessageAttributes", {}).items()
        if "StringValue" in value
    }


def dead_letter_attributes(
    message: ReceivedMessage, reason: str, source_queue: str
) -> dict[str, dict[str, str]]:
    """The original message attributes plus ours, within SQS's limit of 10 attributes."""
    ours = {
        "reason": reason[:MAX_REASON_CHARS],
        "source-queue": source_queue,
        "original-message-id": message.message_id,
        "receive-count": str(message.receive_count),
        "dead-lettered-at": datetime.now(UTC).isoformat(),
    }
    routing_first = sorted(
        (n for n in message.attributes if not n.startswith(DLQ_ATTRIBUTE_PREFIX)),
        key=lambda n: (n not in ("type", "source", "correlationid"), n),
    )
    attributes = {
        name: {"DataType": "String", "StringValue": message.attributes[name]}
        for name in routing_first
    }
    keep = dict(list(attributes.items())[: 10 - len(ours)])
    keep.update(
        {
            f"{DLQ_ATTRIBUTE_PREFIX}{name}": {"DataType": "String", "StringValue": value}
            for name, value in ours.items()
        }
    )
    return keep


def requeue_attributes(message: ReceivedMessage) -> dict[str, str]:
    """A requeued copy's attributes: the original's, and where it came from (at most 10)."""
    attributes = dict(message.attributes)
    attributes.setdefault(ORIGINAL_MESSAGE_ID, message.message_id)
    if message.sent_at is not None:
        attributes.setdefault(FIRST_SENT, message.sent_at.isoformat())
    attributes[REQUEUED] = str(int(attributes.get(REQUEUED, "0")) + 1)
    return dict(list(attributes.items())[:10])


def first_sent(message: ReceivedMessage) -> datetime | None:
    """When the message first reached the queue (the same after a requeue)."""
    stamp = message.attributes.get(FIRST_SENT)
    if stamp:
        try:
            return datetime.fromisoformat(stamp)
        except ValueError:
            pass
    return message.sent_at


def original_message_id(message: ReceivedMessage) -> str:
    """The id of the message as first delivered (the same after a requeue)."""
    return message.attributes.get(ORIGINAL_MESSAGE_ID, message.message_id)


class SqsQueueClient:
    """A domain's SQS queue and its dead-letter queue."""

    def __init__(self, client: SQSClient, queue_url: str, dlq_url: str | None = None) -> None:
        self.client = client
        self.queue_url = queue_url
        self.fifo = queue_url.endswith(".fifo")
        self._max_receive_count: int | None = None
        self._dlq_url = dlq_url
        self._attributes_read = False
        self._visibility_timeout: int | None = None

    def describe(self) -> str:
        return self.queue_url

    def _read_redrive(self) -> None:
        if self._attributes_read:
            return
        attributes = _aws_call(
            "get_queue_attributes",
            self.client.get_queue_attributes,
            QueueUrl=self.queue_url,
            AttributeNames=["RedrivePolicy", "VisibilityTimeout"],
        ).get("Attributes", {})
        if attributes.get("VisibilityTimeout"):
            self._visibility_timeout = int(attributes["VisibilityTimeout"])
        policy = json.loads(attributes.get("RedrivePolicy", "{}") or "{}")
        if policy:
            self._max_receive_count = int(policy["maxReceiveCount"])
            if self._dlq_url is None:
                arn = policy["deadLetterTargetArn"]
                name = arn.rsplit(":", 1)[-1]
                account = arn.split(":")[4]
                self._dlq_url = _aws_call(
                    "get_queue_url",
                    self.client.get_queue_url,
                    QueueName=name,
                    QueueOwnerAWSAccountId=account,
                )["QueueUrl"]
        self._attributes_read = True

    def max_receive_count(self) -> int | None:
        self._read_redrive()
        return self._max_receive_count

    def visibility_timeout(self) -> int | None:
        """The queue's own visibility timeout (seconds), as provisioned."""
        self._read_redrive()
        return self._visibility_timeout

    @property
    def dlq_url(self) -> str | None:
        self._read_redrive()
        return self._dlq_url

    def receive(self, max_messages: int, wait_seconds: int) -> list[ReceivedMessage]:
        response = _aws_call(
            "receive_message",
            self.client.receive_message,
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=max_messages,
            WaitTimeSeconds=wait_seconds,
            MessageAttributeNames=["All"],
            MessageSystemAttributeNames=[
                "ApproximateReceiveCount",
                "SentTimestamp",
                "MessageGroupId",
            ],
        )
        return [self._to_message(m) for m in response.get("Messages", [])]

    @staticmethod
    def _to_message(raw: Any) -> ReceivedMessage:
        system = raw.get("Attributes", {})
        attributes = string_attributes(raw)
        sent = system.get("SentTimestamp")
        return ReceivedMessage(
            message_id=raw["MessageId"],
            receipt_handle=raw["ReceiptHandle"],
            body=raw.get("Body", ""),
            attributes=attributes,
            receive_count=int(system.get("ApproximateReceiveCount", "1")),
            sent_at=datetime.fromtimestamp(int(sent) / 1000, UTC) if sent else None,
            group_id=system.get("MessageGroupId"),
        )

    def delete(self, message: ReceivedMessage) -> None:
        _aws_call(
            "delete_message",
            self.client.delete_message,
            QueueUrl=self.queue_url,
            ReceiptHandle=message.receipt_handle,
        )

    def dead_letter(self, message: ReceivedMessage, reason: str) -> None:
        if self.dlq_url is None:
            raise ConfigError(f"{self.queue_url} has no dead-letter queue (no RedrivePolicy)")
        kwargs: dict[str, Any] = {
            "QueueUrl": self.dlq_url,
            "MessageBody": message.body or "(empty body)",
            "MessageAttributes": dead_letter_attributes(message, reason, self.queue_url),
        }
        if self.dlq_url.endswith(".fifo"):
            kwargs["MessageGroupId"] = message.group_id or "dead-letters"
            kwargs["MessageDeduplicationId"] = message.message_id
        _aws_call("send_message to the DLQ", self.client.send_message, **kwargs)

    def retry_later(self, message: ReceivedMessage, delay_seconds: int) -> None:
        self.extend_visibility(message, delay_seconds)

    def requeue(self, message: ReceivedMessage, delay_seconds: int) -> None:
        kwargs: dict[str, Any] = {
            "QueueUrl": self.queue_url,
            "MessageBody": message.body,
            "MessageAttributes": {
                name: {"DataType": "String", "StringValue": value}
                for name, value in requeue_attributes(message).items()
            },
        }
        if self.fifo:  # no per-message delay on FIFO: the group waits for it anyway
            kwargs["MessageGroupId"] = message.group_id or "requeued"
            kwargs["MessageDeduplicationId"] = f"{message.message_id}:{message.receive_count}"
        else:
            kwargs["DelaySeconds"] = max(0, min(delay_seconds, 900))
        _aws_call("send_message (requeue)", self.client.send_message, **kwargs)
        self.delete(message)

    def extend_visibility(self, message: ReceivedMessage, seconds: int) -> None:
        _aws_call(
            "change_message_visibility",
            self.client.change_message_visibility,
            QueueUrl=self.queue_url,
            ReceiptHandle=message.receipt_handle,
            VisibilityTimeout=max(0, min(seconds, 43200)),
        )
