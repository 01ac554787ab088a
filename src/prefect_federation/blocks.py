"""Prefect blocks for a domain's topic and queue, built on prefect-aws's `AwsCredentials`.

Register them with `prefect block register -m prefect_federation.blocks`; `provision` saves one
document of each per domain, named after the domain.
"""

from __future__ import annotations

import copy
from typing import Any

from prefect.blocks.core import Block
from prefect_aws import AwsCredentials
from pydantic import Field

from prefect_federation.archive import ArchivingPublisher, S3EventArchive, topic_name_of
from prefect_federation.aws import aws_client
from prefect_federation.publisher import SnsPublisher
from prefect_federation.queue import SqsQueueClient

__all__ = ["SnsTopic", "SqsQueue"]

_schemas: dict[tuple[Any, ...], dict[str, Any]] = {}


class _SchemaOnce:
    """A block's JSON schema generated once per class and arguments, then copied.

    Prefect's `Block` asks for its JSON schema again for every field it serializes
    (`_field_has_secrets`): 20 schema generations, ~0.2 s of CPU, for each `save` or dump of a
    topic or queue block (the demo saves ten). The schema of a class never changes.
    """

    @classmethod
    def model_json_schema(cls, *args: Any, **kwargs: Any) -> dict[str, Any]:
        key = (cls, args, tuple(sorted(kwargs.items())))
        if key not in _schemas:
            _schemas[key] = super().model_json_schema(*args, **kwargs)  # type: ignore[misc]
        return copy.deepcopy(_schemas[key])


def _schema_once(block: type[Block]) -> None:
    """The same for a block class of another package nested in ours: prefect-aws's
    `AwsCredentials`, serialized inside every topic and queue block, had its schema generated
    ~50 times per save (0.3 s of the 0.4 s a save took). Only `block` and its subclasses."""
    generate = block.model_json_schema.__func__  # type: ignore[attr-defined]
    if getattr(generate, "once", False):
        return

    def model_json_schema(cls: type[Block], *args: Any, **kwargs: Any) -> dict[str, Any]:
        key = (cls, args, tuple(sorted(kwargs.items())))
        if key not in _schemas:
            _schemas[key] = generate(cls, *args, **kwargs)
        return copy.deepcopy(_schemas[key])

    model_json_schema.once = True  # type: ignore[attr-defined]
    block.model_json_schema = classmethod(model_json_schema)  # type: ignore[method-assign,assignment]


_schema_once(AwsCredentials)


class SnsTopic(_SchemaOnce, Block):
    """The SNS topic a domain publishes its events to."""

    _block_type_name = "Federation SNS Topic"
    _block_type_slug = "federation-sns-topic"
    _description = "The SNS topic a prefect-federation domain publishes its events to."
    _documentation_url = "https://github.com/prefect-federation/prefect-federation#blocks"  # type: ignore[assignment]

    credentials: AwsCredentials = Field(
        default_factory=AwsCredentials,
        description="AWS credentials and client parameters (endpoint URL for moto or LocalStack).",
    )
    topic_arn: str = Field(description="ARN of the topic.")
    message_group_id: str | None = Field(
        default=None,
        description="FIFO topics only: the message group (default: the event's source domain).",
    )
    archive_bucket: str | None = Field(
        default=None,
        description="S3 bucket every event is archived in before it is published, under "
        "`<topic name>/<YYYY>/<MM>/<DD>/` (what `prefect-federation replay` re-sends). "
        "Unset: no archive.",
    )

    def publisher(self) -> SnsPublisher | ArchivingPublisher:
        """A publisher for this topic; with `archive_bucket`, one that archives each event first."""
        sns = SnsPublisher(
            aws_client(self.credentials, "sns"), self.topic_arn, self.message_group_id
        )
        if not self.archive_bucket:
            return sns
        archive = S3EventArchive(aws_client(self.credentials, "s3"), self.archive_bucket)
        return ArchivingPublisher(sns, archive, topic_name_of(self.topic_arn))


class SqsQueue(_SchemaOnce, Block):
    """The SQS queue a domain's listener consumes, with its dead-letter queue."""

    _block_type_name = "Federation SQS Queue"
    _block_type_slug = "federation-sqs-queue"
    _description = "The SQS queue (and DLQ) a prefect-federation domain's listener consumes."
    _documentation_url = "https://github.com/prefect-federation/prefect-federation#blocks"  # type: ignore[assignment]

    credentials: AwsCredentials = Field(
        default_factory=AwsCredentials,
        description="AWS credentials and client parameters (endpoint URL for moto or LocalStack).",
    )
    queue_url: str = Field(description="URL of the queue.")
    dead_letter_queue_url: str | None = Field(
        default=None, description="URL of its dead-letter queue (default: from its RedrivePolicy)."
    )

    def queue_client(self) -> SqsQueueClient:
        """A queue client for the listener."""
        return SqsQueueClient(
            aws_client(self.credentials, "sqs"), self.queue_url, self.dead_letter_queue_url
        )
