"""Where one event stands in a `join` subscription, from the domain's join records (pure).

The join's run carries the tags of the event that completed it only; for the others, the join
store says whether the event is waiting for the rest, was part of a run, expired, or came late.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC
from uuid import UUID

from prefect_federation.declarations import Subscription
from prefect_federation.explain.models import JoinNote
from prefect_federation.joins.models import JoinRecord
from prefect_federation.joins.planner import missing_types
from prefect_federation.joins.store import event_id_of, late_entry

__all__ = ["join_note", "join_sentence"]


def join_note(
    subscription: Subscription, records: Iterable[JoinRecord], event_id: UUID
) -> JoinNote | None:
    """The note of the join record of `subscription` that holds the event (as an arrival or as
    a late event); None when no record holds it."""
    wanted = str(event_id)
    for record in records:
        if record.subscription != subscription.join_id:
            continue
        common = {
            "key": record.key,
            "arrived": sorted(record.arrivals),
            "missing": missing_types(subscription, record),
            "expires_at": record.expires_at,
            "run_id": UUID(record.run_id) if record.run_id else None,
        }
        if any(event_id_of(body) == wanted for body in record.arrivals.values()):
            return JoinNote(status=record.status, **common)
        if any(late_entry(t, wanted) in record.late for t in subscription.event_types):
            closed = record.status if record.status != "open" else None
            return JoinNote(status="late", closed=closed, **common)
    return None


def join_sentence(note: JoinNote) -> str:
    """What became of the event in its join, in one sentence (no run was found for it)."""
    key = f"join [{note.key}]"
    when = note.expires_at.astimezone(UTC) if note.expires_at else None
    until = f"{when:%Y-%m-%d %H:%M:%S}Z" if when else "?"
    arrived = ", ".join(note.arrived) or "nothing"
    missing = ", ".join(note.missing) or "nothing"
    if note.status == "open":
        return f"{key}: arrived ({arrived} so far); waiting for {missing} until {until}"
    if note.status == "expired":
        return (
            f"{key}: expired at {until} with {arrived}; {missing} never came "
            "(a join.expired alert was published)"
        )
    if note.status == "late":
        what = note.closed or "closed"
        return (
            f"{key}: arrived after the join was {what}: recorded as late, acknowledged, no run "
            "(`prefect-federation status` lists late events)"
        )
    run = f" {note.run_id}" if note.run_id else ""
    return f"{key}: complete; its run{run} was started but is not readable on the domain's server"
