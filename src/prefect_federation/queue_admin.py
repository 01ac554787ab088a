"""Administering queues (and finding topics): the `QueueAdmin` role and its SQS implementation.

What operators' tools need from SQS, as opposed to what a listener needs (`queue.QueueClient`):
find a queue or topic by name, count a queue's messages, scan it (receive with a short
visibility timeout, to read messages without consuming them), release what was scanned, delete,
send. `dlq`, `status`, `provision` and `connect` go through it; `testing.InMemoryQueueAdmin` is
its double.

Messages are SQS's own shape (`MessageTypeDef`: `MessageId`, `ReceiptHandle`, `Body`,
`Attributes`, `MessageAttributes`), so what a tool reads from the double is what it would read
from SQS.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from contextlib import suppress
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import BaseModel, ConfigDict

from prefect_federation.errors import ConfigError
from prefect_federation.naming import dlq_name, queue_name
from prefect_federation.queue import _aws_call

if TYPE_CHECKING:
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import (
        ChangeMessageVisibilityBatchRequestEntryTypeDef,
        MessageAttributeValueTypeDef,
        MessageTypeDef,
    )

__all__ = [
    "DomainQueues",
    "QueueAdmin",
    "QueueCounts",
    "SqsQueueAdmin",
    "locate_queues",
]

SCAN_SYSTEM_ATTRIBUTES = ("SentTimestamp", "ApproximateReceiveCount", "MessageGroupId")
"""The system attributes a scan asks for (and the double fills in)."""


class QueueCounts(BaseModel):
    """A queue's approximate counts (SQS's `ApproximateNumberOfMessages*`)."""

    model_config = ConfigDict(frozen=True)

    visible: int = 0
    in_flight: int = 0
    delayed: int = 0

    @property
    def held(self) -> int:
        """Visible + in flight: every message that has arrived and not been deleted."""
        return self.visible + self.in_flight

    @property
    def total(self) -> int:
        """Visible + in flight + delayed."""
        return self.visible + self.in_flight + self.delayed


class QueueAdmin(Protocol):
    """What operators' tools need from SQS (and SNS, to find topics)."""

    def queue_url(self, name: str) -> str | None:
        """The URL of the queue called `name`; None when it does not exist."""
        ...

    def topic_arns(self) -> dict[str, str]:
        """Every topic: name -> ARN."""
        ...

    def counts(self, url: str) -> QueueCounts: ...

    def scan(
        self, url: str, max_messages: int, visibility_timeout: int, wait_seconds: int
    ) -> list[MessageTypeDef]:
        """Receive up to `max_messages` (1-10), each hidden for `visibility_timeout` seconds,
        with every message attribute and `SCAN_SYSTEM_ATTRIBUTES`."""
        ...

    def release(self, url: str, receipt_handles: Iterable[str]) -> None:
        """Make received messages visible again at once (best effort: they come back anyway)."""
        ...

    def delete(self, url: str, receipt_handle: str) -> None: ...

    def send(
        self,
        url: str,
        body: str,
        attributes: Mapping[str, MessageAttributeValueTypeDef] | None = None,
        *,
        group_id: str | None = None,
        deduplication_id: str | None = None,
    ) -> str:
        """Send a message; returns its message id."""
        ...


class SqsQueueAdmin:
    """`QueueAdmin` over boto3's SQS client (and SNS client, for `topic_arns`)."""

    def __init__(self, sqs: SQSClient | None = None, *, sns: SNSClient | None = None) -> None:
        self._sqs = sqs
        self._sns = sns

    @property
    def sqs(self) -> SQSClient:
        if self._sqs is None:
            raise TypeError("this SqsQueueAdmin was made without an SQS client")
        return self._sqs

    @property
    def sns(self) -> SNSClient:
        if self._sns is None:
            raise TypeError("this SqsQueueAdmin was made without an SNS client")
        return self._sns

    def queue_url(self, name: str) -> str | None:
        try:
            response = _aws_call("get_queue_url", self.sqs.get_queue_url, QueueName=name)
        except self.sqs.exceptions.QueueDoesNotExist:
            return None
        return str(response["QueueUrl"])

    def topic_arns(self) -> dict[str, str]:
        found: dict[str, str] = {}
        for page in self.sns.get_paginator("list_topics").paginate():
            for topic in page.get("Topics", []):
                arn = topic["TopicArn"]
                found[arn.rsplit(":", 1)[-1]] = arn
        return found

    def counts(self, url: str) -> QueueCounts:
        attributes = _aws_call(
            "get_queue_attributes",
            self.sqs.get_queue_attributes,
            QueueUrl=url,
            AttributeNames=[
                "ApproximateNumberOfMessages",
                "ApproximateNumberOfMessagesNotVisible",
                "ApproximateNumberOfMessagesDelayed",
            ],
        ).get("Attributes", {})
        return QueueCounts(
            visible=int(attributes.get("ApproximateNumberOfMessages", 0)),
            in_flight=int(attributes.get("ApproximateNumberOfMessagesNotVisible", 0)),
            delayed=int(attributes.get("ApproximateNumberOfMessagesDelayed", 0)),
        )

    def scan(
        self, url: str, max_messages: int, visibility_timeout: int, wait_seconds: int
    ) -> list[MessageTypeDef]:
        response = _aws_call(
            "receive_message",
            self.sqs.receive_message,
            QueueUrl=url,
            MaxNumberOfMessages=max(1, min(10, max_messages)),
            VisibilityTimeout=visibility_timeout,
            WaitTimeSeconds=wait_seconds,  # always explicit: a queue's default may be 20 s
            MessageAttributeNames=["All"],
            MessageSystemAttributeNames=list(SCAN_SYSTEM_ATTRIBUTES),
        )
        return list(response.get("Messages", []))

    def release(self, url: str, receipt_handles: Iterable[str]) -> None:
        handles = list(dict.fromkeys(receipt_handles))
        for start in range(0, len(handles), 10):
            entries: list[ChangeMessageVisibilityBatchRequestEntryTypeDef] = [
                {"Id": str(i), "ReceiptHandle": handle, "VisibilityTimeout": 0}
                for i, handle in enumerate(handles[start : start + 10])
            ]
            with suppress(Exception):  # they reappear after the visibility timeout anyway
                self.sqs.change_message_visibility_batch(QueueUrl=url, Entries=entries)

    def delete(self, url: str, receipt_handle: str) -> None:
        _aws_call(
            "delete_message", self.sqs.delete_message, QueueUrl=url, ReceiptHandle=receipt_handle
        )

    def send(
        self,
        url: str,
        body: str,
        attributes: Mapping[str, MessageAttributeValueTypeDef] | None = None,
        *,
        group_id: str | None = None,
        deduplication_id: str | None = None,
    ) -> str:
        kwargs: dict[str, Any] = {"QueueUrl": url, "MessageBody": body}
        if attributes:
            kwargs["MessageAttributes"] = dict(attributes)
        if group_id is not None:
            kwargs["MessageGroupId"] = group_id
        if deduplication_id is not None:
            kwargs["MessageDeduplicationId"] = deduplication_id
        return str(_aws_call("send_message", self.sqs.send_message, **kwargs)["MessageId"])


# -- a domain's queues -----------------------------------------------------------------------


class DomainQueues(BaseModel):
    """A domain's queue and dead-letter queue, found by their conventional names."""

    model_config = ConfigDict(frozen=True)

    domain: str
    queue_name: str
    queue_url: str
    dlq_name: str
    dlq_url: str

    @property
    def fifo(self) -> bool:
        return self.queue_url.endswith(".fifo")


def locate_queues(
    admin: QueueAdmin, prefix: str, domain: str, fifo: bool | None = None
) -> DomainQueues:
    """The domain's queue and DLQ (standard or FIFO, whichever exists when `fifo` is None).

    Raises:
        ConfigError: either queue does not exist (not provisioned, or another name prefix).
    """
    for candidate in (False, True) if fifo is None else (fifo,):
        name = queue_name(prefix, domain, candidate)
        url = admin.queue_url(name)
        if url is None:
            continue
        dlq = dlq_name(prefix, domain, candidate)
        dlq_url = admin.queue_url(dlq)
        if dlq_url is None:
            raise ConfigError(
                f"queue {name!r} exists but its dead-letter queue {dlq!r} does not: run "
                "`prefect-federation provision`"
            )
        return DomainQueues(
            domain=domain, queue_name=name, queue_url=url, dlq_name=dlq, dlq_url=dlq_url
        )
    raise ConfigError(
        f"domain {domain!r} has no queue {queue_name(prefix, domain)!r} (name prefix "
        f"{prefix!r}): run `prefect-federation provision`, or set PREFECT_FEDERATION_NAME_PREFIX"
    )


if TYPE_CHECKING:
    _sqs_admin: type[QueueAdmin] = SqsQueueAdmin  # the implementation keeps to the role
