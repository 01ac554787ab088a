"""Where join arrivals and expectation instances are kept: the `JoinStore` role and an
in-memory double with the same semantics as DynamoDB's (`joins/dynamodb.py`).

Every method is one conditional write (or a read): whichever listener's write wins decides, so
several listeners on one queue agree without talking to each other.
"""

from __future__ import annotations

import json
import threading
from datetime import datetime
from typing import Literal, Protocol

from prefect_federation.joins.models import (
    ArrivalResult,
    ExpectationInstance,
    JoinRecord,
    SlaRecord,
)

__all__ = [
    "JoinStore",
    "MemoryJoinStore",
    "SlaClaim",
    "event_id_of",
    "late_entry",
    "open_outcome",
    "stored_already",
]

SlaClaim = Literal["missed", "recovered"]


def event_id_of(envelope_json: str) -> str:
    return str(json.loads(envelope_json)["id"])


def open_outcome(record: JoinRecord, event_type: str, event_id: str) -> ArrivalResult:
    """The join was open and holds a `event_type` now: `recorded` when it is this event, else
    `duplicate` (the type's first event is kept)."""
    same = event_id_of(record.arrivals[event_type]) == event_id
    return ArrivalResult(outcome="recorded" if same else "duplicate", record=record)


def stored_already(record: JoinRecord, event_type: str, event_id: str) -> bool:
    """This very event is the join's `event_type` (a redelivery after the join closed)."""
    stored = record.arrivals.get(event_type)
    return stored is not None and event_id_of(stored) == event_id


def late_entry(event_type: str, event_id: str) -> str:
    """How a late event is kept in `JoinRecord.late`."""
    return f"{event_type} {event_id}"


class JoinStore(Protocol):
    """Durable, shared state of one domain's joins and expectations."""

    def record_arrival(
        self,
        item_id: str,
        subscription: str,
        key: str,
        event_type: str,
        envelope_json: str,
        now: datetime,
        expires_at: datetime,
    ) -> ArrivalResult:
        """Store the arrival (the first event of each type is kept) while the join is open and
        its window has not closed; otherwise record it as late (or find it stored already)."""
        ...

    def mark_started(self, item_id: str, run_id: str) -> None:
        """The join's run exists: later events of this key are late."""
        ...

    def expiry_candidates(self, now: datetime) -> list[JoinRecord]:
        """Open joins whose window closed before `now`."""
        ...

    def claim_expiry(self, item_id: str, now: datetime, types: list[str]) -> bool:
        """Close an open, past-window join still missing one of `types`; True for the one
        caller that did."""
        ...

    def release_expiry(self, item_id: str) -> None:
        """Undo a claim whose alert could not be published (the next sweep tries again)."""
        ...

    def record_sla_arrival(
        self, instance: ExpectationInstance, now: datetime, event_id: str
    ) -> SlaRecord:
        """The expected event arrived (the first arrival's time is kept)."""
        ...

    def claim_sla(self, instance: ExpectationInstance, what: SlaClaim, now: datetime) -> bool:
        """`missed`: nothing arrived and no miss was claimed; `recovered`: a miss was claimed,
        the event has arrived since, and no recovery was claimed. True for the one winner."""
        ...

    def release_sla(self, item_id: str, what: SlaClaim) -> None:
        """Undo a claim whose alert could not be published."""
        ...

    def joins(self) -> list[JoinRecord]:
        """Every join record (for `status`)."""
        ...

    def expectations(self) -> list[SlaRecord]:
        """Every expectation instance recorded (for `status`)."""
        ...


class MemoryJoinStore:
    """The same decisions as DynamoDB's conditional writes, under a lock (unit tests)."""

    def __init__(self) -> None:
        self._joins: dict[str, JoinRecord] = {}
        self._slas: dict[str, SlaRecord] = {}
        self._lock = threading.Lock()
        self.writes = 0

    def record_arrival(
        self,
        item_id: str,
        subscription: str,
        key: str,
        event_type: str,
        envelope_json: str,
        now: datetime,
        expires_at: datetime,
    ) -> ArrivalResult:
        event_id = event_id_of(envelope_json)
        with self._lock:
            self.writes += 1
            record = self._joins.get(item_id)
            if record is None:
                record = JoinRecord(
                    item_id=item_id,
                    subscription=subscription,
                    key=key,
                    arrivals={},
                    first_at=now,
                    expires_at=expires_at,
                    status="open",
                )
            if record.status == "open" and now < record.expires_at:
                if event_type not in record.arrivals:
                    arrivals = {**record.arrivals, event_type: envelope_json}
                    record = record.model_copy(update={"arrivals": arrivals})
                self._joins[item_id] = record
                return open_outcome(record, event_type, event_id)
            if stored_already(record, event_type, event_id):
                return ArrivalResult(outcome="duplicate", record=record)
            late = late_entry(event_type, event_id)
            if late not in record.late:
                record = record.model_copy(update={"late": sorted([*record.late, late])})
                self._joins[item_id] = record
            return ArrivalResult(outcome="late", record=record)

    def mark_started(self, item_id: str, run_id: str) -> None:
        with self._lock:
            record = self._joins[item_id]
            if record.status == "open":
                self._joins[item_id] = record.model_copy(
                    update={"status": "started", "run_id": run_id}
                )

    def expiry_candidates(self, now: datetime) -> list[JoinRecord]:
        with self._lock:
            return [r for r in self._joins.values() if r.status == "open" and r.expires_at <= now]

    def claim_expiry(self, item_id: str, now: datetime, types: list[str]) -> bool:
        with self._lock:
            self.writes += 1
            record = self._joins.get(item_id)
            if record is None or record.status != "open" or record.expires_at > now:
                return False
            if all(t in record.arrivals for t in types):
                return False  # complete: its run is being started
            self._joins[item_id] = record.model_copy(update={"status": "expired"})
            return True

    def release_expiry(self, item_id: str) -> None:
        with self._lock:
            record = self._joins[item_id]
            if record.status == "expired":
                self._joins[item_id] = record.model_copy(update={"status": "open"})

    def _sla(self, instance: ExpectationInstance) -> SlaRecord:
        return self._slas.get(instance.item_id) or SlaRecord(
            item_id=instance.item_id,
            event=instance.event,
            day=instance.day.isoformat(),
            value=instance.value,
            deadline=instance.deadline,
        )

    def record_sla_arrival(
        self, instance: ExpectationInstance, now: datetime, event_id: str
    ) -> SlaRecord:
        with self._lock:
            self.writes += 1
            record = self._sla(instance)
            if record.arrived_at is None:
                record = record.model_copy(update={"arrived_at": now, "arrived_event": event_id})
            self._slas[instance.item_id] = record
            return record

    def claim_sla(self, instance: ExpectationInstance, what: SlaClaim, now: datetime) -> bool:
        with self._lock:
            self.writes += 1
            record = self._sla(instance)
            if what == "missed":
                if record.arrived_at is not None or record.missed_at is not None:
                    return False
                self._slas[instance.item_id] = record.model_copy(update={"missed_at": now})
                return True
            if record.missed_at is None or record.arrived_at is None or record.recovered_at:
                return False
            self._slas[instance.item_id] = record.model_copy(update={"recovered_at": now})
            return True

    def release_sla(self, item_id: str, what: SlaClaim) -> None:
        with self._lock:
            field = "missed_at" if what == "missed" else "recovered_at"
            self._slas[item_id] = self._slas[item_id].model_copy(update={field: None})

    def joins(self) -> list[JoinRecord]:
        with self._lock:
            return sorted(self._joins.values(), key=lambda r: r.item_id)

    def expectations(self) -> list[SlaRecord]:
        with self._lock:
            return sorted(self._slas.values(), key=lambda r: r.item_id)
