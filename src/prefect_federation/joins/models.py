"""The state records of joins and expectations, as the store keeps them."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from prefect_federation.events import EventEnvelope

__all__ = [
    "ArrivalResult",
    "ExpectationInstance",
    "JoinArrival",
    "JoinRecord",
    "JoinStatus",
    "SlaRecord",
]

JoinStatus = Literal["open", "started", "expired"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class JoinArrival(_Frozen):
    """One event of a join subscription, its key rendered (from the pure pipeline)."""

    subscription: str = Field(description="The subscription's join id (its name or deployment).")
    key: str
    envelope: EventEnvelope


class JoinRecord(_Frozen):
    """One (subscription, key): what has arrived, until when, and whether its run started."""

    item_id: str
    subscription: str
    key: str
    arrivals: dict[str, str] = Field(description="Event type -> the first such event (JSON).")
    first_at: datetime
    expires_at: datetime
    status: JoinStatus
    run_id: str | None = None
    late: list[str] = Field(
        default_factory=list, description="`<type> <event id>` of events after it closed."
    )

    def envelopes(self) -> dict[str, EventEnvelope]:
        return {t: EventEnvelope.model_validate_json(body) for t, body in self.arrivals.items()}


class ArrivalResult(_Frozen):
    """What recording an arrival did: stored it, found it stored already, or found it late."""

    outcome: Literal["recorded", "duplicate", "late"]
    record: JoinRecord


class ExpectationInstance(_Frozen):
    """An expectation for one day (and one value of `for_each`)."""

    item_id: str
    event: str
    day: date
    value: str | None
    deadline: datetime


class SlaRecord(_Frozen):
    """What the store knows of an expectation instance."""

    item_id: str
    event: str
    day: str
    value: str | None = None
    deadline: datetime | None = None
    arrived_at: datetime | None = None
    arrived_event: str | None = None
    missed_at: datetime | None = None
    recovered_at: datetime | None = None
