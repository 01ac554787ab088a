"""What `explain` reports: one event, the domains it reaches or not and why, what happened."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from prefect_federation.dlq.models import DeadLetter
from prefect_federation.trace.records import RunRecord

__all__ = [
    "DomainVerdict",
    "EventExplanation",
    "JoinNote",
    "Observed",
    "Outcome",
    "Publication",
    "Status",
    "SubscriptionVerdict",
]

Status = Literal[
    "ran",
    "run-created",
    "run-failed",
    "filtered",
    "dead-lettered",
    "skipped",
    "paused",
    "held-back",
    "waiting",
    "join-waiting",
    "join-expired",
    "join-late",
    "missing",
]


class JoinNote(BaseModel):
    """What the domain's join store holds of the event, for a `join` subscription."""

    model_config = ConfigDict(frozen=True)

    key: str
    status: Literal["open", "started", "expired", "late"] = Field(
        description="The join's state; `late`: the event came after it was started or expired."
    )
    closed: Literal["started", "expired"] | None = Field(
        default=None, description="For `late`: what the join had already become."
    )
    arrived: list[str] = Field(default_factory=list, description="The types that have arrived.")
    missing: list[str] = Field(default_factory=list, description="The types still missing.")
    expires_at: datetime | None = None
    run_id: UUID | None = Field(default=None, description="The join's run, once started.")


class Observed(BaseModel):
    """What was seen of one subscription that the event is for (the input of `outcome_of`)."""

    model_config = ConfigDict(frozen=True)

    run: RunRecord | None = None
    filtered: str | None = Field(default=None, description="The data filter that failed.")
    dead_letter: DeadLetter | None = None
    skipped: str | None = Field(default=None, description="The skip record, described.")
    paused: str | None = Field(default=None, description="The pause in force, described.")
    held_back: str | None = Field(default=None, description="Why its listener holds it back.")
    join: JoinNote | None = Field(default=None, description="Its join's state (`join` only).")
    queued: int = Field(default=0, description="Messages in the domain's queue (visible+hidden).")
    received: bool = Field(
        default=False,
        description="Its listener's received-event record was found (a join: its arrival in "
        "the join store).",
    )


class Outcome(BaseModel):
    model_config = ConfigDict(frozen=True)

    status: Status
    ok: bool = Field(description="Ran (or is running), or filtered out on purpose.")
    sentence: str


class SubscriptionVerdict(BaseModel):
    """One subscription of a domain: is the event for it, and if so what happened."""

    model_config = ConfigDict(frozen=True)

    event: str = Field(description="What it consumes: a type, or a join's `a.x + b.y`.")
    deployment: str
    name: str | None = None
    matches: bool
    reason: str | None = Field(default=None, description="Why it is not for this event.")
    received: bool | None = Field(
        default=None, description="Its listener's received-event record exists (None: no run)."
    )
    outcome: Outcome | None = None
    run: RunRecord | None = None

    @property
    def label(self) -> str:
        return self.deployment + (f" ({self.name})" if self.name else "")


class DomainVerdict(BaseModel):
    model_config = ConfigDict(frozen=True)

    domain: str
    delivered: bool = Field(description="SNS delivers the event to the domain's queue.")
    reads_topic: bool = Field(
        default=True, description="The domain subscribes to the event's source's topic at all."
    )
    reason: str | None = Field(default=None, description="Why it is not delivered.")
    subscriptions: list[SubscriptionVerdict] = Field(default_factory=list)


class Publication(BaseModel):
    """Where the event was found: the archive key, and the run that published it."""

    model_config = ConfigDict(frozen=True)

    archive_key: str | None = Field(default=None, description="None: not in the archive.")
    run_id: UUID | None = Field(default=None, description="The run that published it.")
    run_url: str | None = None


class EventExplanation(BaseModel):
    """One event: published?, which domains' subscriptions it is for and what happened."""

    model_config = ConfigDict(frozen=True)

    event_id: UUID
    found: bool = Field(description="Found in the archive or in a run's labels.")
    type: str | None = None
    source: str | None = None
    time: datetime | None = None
    correlation_id: UUID | None = None
    data_known: bool = Field(default=False, description="The event's data was read (archive).")
    publication: Publication = Field(default_factory=Publication)
    domains: list[DomainVerdict] = Field(default_factory=list)
    published: list[EventExplanation] = Field(
        default_factory=list, description="Events the runs it started published (`--depth`)."
    )
    problems: list[str] = Field(default_factory=list, description="What could not be read.")

    @property
    def ok(self) -> bool:
        """Every matching subscription ran, here and in every event below."""
        mine = all(s.outcome is None or s.outcome.ok for d in self.domains for s in d.subscriptions)
        return self.found and mine and all(e.ok for e in self.published)


EventExplanation.model_rebuild()
