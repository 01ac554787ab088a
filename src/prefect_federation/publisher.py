"""Publishing envelopes: the `Publisher` role, SNS, and an in-memory double."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from prefect_federation.errors import EventTooLarge, PublishError
from prefect_federation.events import MAX_EVENT_BYTES, EventEnvelope

if TYPE_CHECKING:
    from mypy_boto3_sns import SNSClient

    from prefect_federation.contracts.registry import ContractRegistry

__all__ = ["InMemoryPublisher", "Publisher", "SnsPublisher"]


class Publisher(Protocol):
    """Publishes one envelope; returns the transport's message id."""

    def publish(self, envelope: EventEnvelope) -> str: ...


class SnsPublisher:
    """Publishes to an SNS topic: the envelope as body, `type`/`source` as message attributes.

    For a FIFO topic the message group is `message_group_id` (default: the event's source, so one
    domain's events keep their order) and the deduplication id is the event id.

    Given `contracts` (e.g. `registry_for(Path("deployments"))`), each envelope is checked against
    its type's contract before any AWS call (`ContractViolation`) and carries its `dataschema`.
    """

    def __init__(
        self,
        client: SNSClient,
        topic_arn: str,
        message_group_id: str | None = None,
        contracts: ContractRegistry | None = None,
    ) -> None:
        self.client = client
        self.topic_arn = topic_arn
        self.message_group_id = message_group_id
        self.fifo = topic_arn.endswith(".fifo")
        self.contracts = contracts

    def publish(self, envelope: EventEnvelope) -> str:
        if self.contracts is not None:
            envelope = self.contracts.enforce(envelope)
        body = envelope.to_json()
        if len(body.encode()) > MAX_EVENT_BYTES - 1024:
            raise EventTooLarge(
                f"event {envelope.type} is {len(body.encode())} bytes; SNS takes at most "
                f"{MAX_EVENT_BYTES} with attributes: put large data in storage and send its address"
            )
        kwargs: dict[str, Any] = {
            "TopicArn": self.topic_arn,
            "Message": body,
            "MessageAttributes": envelope.message_attributes(),
        }
        if self.fifo:
            kwargs["MessageGroupId"] = self.message_group_id or envelope.source
            kwargs["MessageDeduplicationId"] = str(envelope.id)
        try:
            response = self.client.publish(**kwargs)
        except (ClientError, BotoCoreError) as exc:
            raise PublishError(
                f"could not publish {envelope.type} ({envelope.id}) to {self.topic_arn}: {exc}"
            ) from exc
        return str(response["MessageId"])


class InMemoryPublisher:
    """Records what would be published (tests, dry runs)."""

    def __init__(self) -> None:
        self.envelopes: list[EventEnvelope] = []
        self._lock = threading.Lock()

    def publish(self, envelope: EventEnvelope) -> str:
        with self._lock:
            self.envelopes.append(envelope)
            return f"in-memory-{len(self.envelopes)}"
