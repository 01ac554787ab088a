"""What an operator sees of a dead letter, and what a redrive sends back (pure)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from prefect_federation.errors import EnvelopeParseError
from prefect_federation.queue import DLQ_ATTRIBUTE_PREFIX, string_attributes
from prefect_federation.sns_envelope import is_sns_notification, unwrap_sns
from prefect_federation.values import one_line, parse_time

if TYPE_CHECKING:
    from mypy_boto3_sqs.type_defs import MessageAttributeValueTypeDef, MessageTypeDef

__all__ = [
    "DeadLetter",
    "DeadLetterAction",
    "DlqReport",
    "ProgressCallback",
    "dead_letter_from_sqs",
    "redrive_attributes",
]

PREVIEW_CHARS = 120


class DeadLetter(BaseModel):
    """One message in a dead-letter queue, as an operator needs to see it."""

    model_config = ConfigDict(frozen=True)

    message_id: str = Field(description="The message's id in the DLQ (what the CLI takes).")
    receipt_handle: str = Field(description="Valid until the message is received again.")
    body: str = Field(repr=False)
    body_preview: str
    event_type: str | None = None
    event_id: str | None = None
    event_source: str | None = None
    reason: str | None = Field(default=None, description="`federation-reason`.")
    receive_count: int | None = Field(
        default=None, description="`federation-receive-count`: receives before it was given up."
    )
    dead_lettered_at: datetime | None = Field(
        default=None, description="`federation-dead-lettered-at`, else when the DLQ got it."
    )
    source_queue: str | None = Field(default=None, description="`federation-source-queue`.")
    original_message_id: str | None = Field(
        default=None, description="`federation-original-message-id`: its id in the source queue."
    )
    group_id: str | None = None
    attributes: dict[str, str] = Field(
        default_factory=dict, description="Every string message attribute, ours included."
    )

    def matches(self, selector: str) -> bool:
        """True when `selector` is this message's DLQ id or its id in the source queue."""
        return selector in (self.message_id, self.original_message_id)


class DeadLetterAction(BaseModel):
    """What happened to one message during a redrive or purge."""

    message_id: str
    action: str = Field(description="`redriven`, `purged` or `failed`.")
    error: str | None = None


class DlqReport(BaseModel):
    """The outcome of a redrive or purge."""

    done: list[str] = Field(default_factory=list, description="DLQ message ids acted upon.")
    failed: dict[str, str] = Field(default_factory=dict, description="message id -> error.")
    not_found: list[str] = Field(
        default_factory=list, description="Ids asked for that are not in the DLQ."
    )

    @property
    def ok(self) -> bool:
        return not self.failed and not self.not_found


ProgressCallback = Callable[[DeadLetterAction], None]


def _event_document(body: str) -> dict[str, Any] | None:
    """The JSON object a body carries (unwrapped from SNS if need be); None if there is none."""
    try:
        document = json.loads(body)
        if isinstance(document, dict) and is_sns_notification(document):
            inner, _ = unwrap_sns(document, {})  # SNS without raw delivery
            document = json.loads(inner)
    except (ValueError, TypeError, EnvelopeParseError):
        return None
    return document if isinstance(document, dict) else None


def _event_fields(
    body: str, attributes: Mapping[str, str]
) -> tuple[str | None, str | None, str | None]:
    """(type, id, source) of the event in a body, as far as it can be read; never raises."""
    event_type = attributes.get("type")
    event_source = attributes.get("source")
    event_id: str | None = None
    document = _event_document(body)
    if document is not None:

        def text(name: str) -> str | None:
            value = document.get(name)
            return str(value) if isinstance(value, str | int) and value != "" else None

        event_type = text("type") or event_type
        event_source = text("source") or event_source
        event_id = text("id")
    return event_type, event_id, event_source


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def dead_letter_from_sqs(raw: MessageTypeDef) -> DeadLetter:
    """A DeadLetter from one message of a `receive_message` response (`QueueAdmin.scan`)."""
    system = raw.get("Attributes", {})
    attributes = string_attributes(raw)
    body = raw.get("Body", "")
    event_type, event_id, event_source = _event_fields(body, attributes)

    def ours(name: str) -> str | None:
        return attributes.get(f"{DLQ_ATTRIBUTE_PREFIX}{name}")

    dead_lettered_at = parse_time(ours("dead-lettered-at"))
    if dead_lettered_at is None and system.get("SentTimestamp"):
        dead_lettered_at = datetime.fromtimestamp(int(system["SentTimestamp"]) / 1000, UTC)
    return DeadLetter(
        message_id=raw["MessageId"],
        receipt_handle=raw["ReceiptHandle"],
        body=body,
        body_preview=one_line(body, PREVIEW_CHARS),
        event_type=event_type,
        event_id=event_id,
        event_source=event_source,
        reason=ours("reason"),
        receive_count=_int_or_none(ours("receive-count")),
        dead_lettered_at=dead_lettered_at,
        source_queue=ours("source-queue"),
        original_message_id=ours("original-message-id"),
        group_id=system.get("MessageGroupId"),
        attributes=attributes,
    )


def redrive_attributes(
    message_attributes: Mapping[str, Any],
) -> dict[str, MessageAttributeValueTypeDef]:
    """The message attributes to send back with: the original ones, without `federation-*`."""
    kept: dict[str, MessageAttributeValueTypeDef] = {}
    for name, value in message_attributes.items():
        if name.startswith(DLQ_ATTRIBUTE_PREFIX):
            continue
        entry: MessageAttributeValueTypeDef = {"DataType": value["DataType"]}
        if "StringValue" in value:
            entry["StringValue"] = value["StringValue"]
        if "BinaryValue" in value:
            entry["BinaryValue"] = value["BinaryValue"]
        kept[name] = entry
    return kept
