"""The event envelope: the one contract between domains.

Attribute names follow CloudEvents 1.0 (`specversion`, `id`, `source`, `type`, `time`, `subject`,
`datacontenttype`, `dataschema`, `data`) plus extension attributes for chains of domains
(`correlationid`, `causationid`) and the producing flow run (`flowrunid`, `flowrunurl`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal
from uuid import UUID, uuid4

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    model_validator,
)

__all__ = [
    "DOMAIN_PATTERN",
    "EVENT_TYPE_PATTERN",
    "MAX_EVENT_BYTES",
    "WIRE_REQUIRED",
    "EventEnvelope",
    "domain_of",
]

DOMAIN_PATTERN = r"^[a-z][a-z0-9-]{0,62}$"
"""A domain name: lowercase letters, digits and dashes (it becomes part of AWS resource names)."""

EVENT_TYPE_PATTERN = r"^[a-z][a-z0-9-]{0,62}(\.[a-z0-9][a-z0-9_-]*)+$"
"""An event type: `<domain>.<what-happened>`, e.g. `customer-master.completed`."""

MAX_EVENT_BYTES = 256 * 1024
"""SNS and SQS refuse a message larger than 256 KiB (body and attributes together)."""

WIRE_REQUIRED = ("specversion", "id", "source", "type", "time")
"""Attributes an envelope read from the wire must carry. CloudEvents requires the first four; we
require `time` too, because the model would otherwise fill in the time of parsing. Building a
new event in code may leave `id` and `time` out (they are then generated); parsing never does."""


def domain_of(event_type: str) -> str:
    """The domain an event type is named after: `scoring.completed` -> `scoring`."""
    return event_type.split(".", 1)[0]


class EventEnvelope(BaseModel):
    """One event, as published to SNS and received from SQS."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    specversion: Literal["1.0"] = Field(default="1.0", description="CloudEvents spec version.")
    id: UUID = Field(default_factory=uuid4, description="Unique id of this event.")
    source: str = Field(pattern=DOMAIN_PATTERN, description="The domain that produced the event.")
    type: str = Field(
        pattern=EVENT_TYPE_PATTERN, description="What happened: `<domain>.<what-happened>`."
    )
    time: AwareDatetime = Field(
        default_factory=lambda: datetime.now(UTC), description="When it happened (UTC)."
    )
    subject: str | None = Field(default=None, description="What the event is about, if useful.")
    datacontenttype: Literal["application/json"] = "application/json"
    dataschema: str | None = Field(
        default=None,
        description="The data's contract and major version, "
        "`urn:prefect-federation:<type>:v<major>` (set when publishing a declared type).",
    )
    data: dict[str, Any] = Field(
        default_factory=dict, description="The parameters downstream domains need (a JSON object)."
    )
    correlationid: UUID = Field(
        default=None,  # type: ignore[assignment]  # filled in by the validator below
        validate_default=False,
        description="One id for a whole chain of domains; the first event's id when new.",
    )
    causationid: UUID | None = Field(
        default=None, description="The event that started the run that published this one."
    )
    flowrunid: UUID | None = Field(default=None, description="The producing flow run's id.")
    flowrunurl: str | None = Field(
        default=None, description="The producing flow run in the Prefect UI."
    )

    @model_validator(mode="before")
    @classmethod
    def _no_correlation_given(cls, values: Any) -> Any:
        if isinstance(values, dict) and values.get("correlationid", ...) is None:
            values = {k: v for k, v in values.items() if k != "correlationid"}
        return values

    @model_validator(mode="after")
    def _new_chain_starts_at_this_event(self) -> EventEnvelope:
        # After validation, so that a missing `id` is reported, never generated, on the wire.
        if self.correlationid is None:
            object.__setattr__(self, "correlationid", self.id)
        return self

    @classmethod
    def from_wire(cls, document: Any) -> EventEnvelope:
        """Validate an envelope received from SNS/SQS, an archive or a DLQ: every attribute in
        `WIRE_REQUIRED` must be present (no generated id or time stands in for a missing one).

        Raises:
            pydantic.ValidationError: naming every missing or invalid attribute.
        """
        return _WireEnvelope.model_validate(document).as_envelope()

    @classmethod
    def from_wire_json(cls, text: str | bytes) -> EventEnvelope:
        """`from_wire` for a JSON text."""
        return _WireEnvelope.model_validate_json(text).as_envelope()

    def to_json(self) -> str:
        """The envelope as the JSON message body."""
        return self.model_dump_json(exclude_none=True)

    def size(self) -> int:
        """Size of the JSON body in bytes."""
        return len(self.to_json().encode())

    def message_attributes(self) -> dict[str, dict[str, str]]:
        """SNS/SQS message attributes that filter policies match on."""
        return {
            "type": {"DataType": "String", "StringValue": self.type},
            "source": {"DataType": "String", "StringValue": self.source},
            "correlationid": {"DataType": "String", "StringValue": str(self.correlationid)},
        }

    def summary(self) -> str:
        """A short human line: `scoring.completed 1b2c... from scoring`."""
        return f"{self.type} {self.id} from {self.source}"


class _WireEnvelope(EventEnvelope):
    """The envelope as read from the wire: the attributes of `WIRE_REQUIRED` have no default."""

    specversion: Literal["1.0"] = Field(description="CloudEvents spec version.")
    id: UUID = Field(description="Unique id of this event.")
    time: AwareDatetime = Field(description="When it happened (UTC).")

    def as_envelope(self) -> EventEnvelope:
        # Validated already, field by field as EventEnvelope would: no second validation.
        return EventEnvelope.model_construct(_fields_set=self.model_fields_set, **dict(self))
