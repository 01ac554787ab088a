"""The chain as a tree of events and runs, built from run records alone. Pure: no I/O.

```
event E1 (the first: its id is the correlation id)
  run R1 (label federation.event.id = E1)
    event E2, published by R1 (the runs it started have federation.causation.id = E1)
      run R2 (federation.event.id = E2)
```

When an event started several runs, which of them published a later event is not in the labels:
it is inferred from the publishing domain (the event's `source`) and from the run's time window;
`EventNode.publisher_inferred` says when that still left a tie.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from prefect_federation.trace.records import RunRecord, sort_time

__all__ = [
    "PUBLISH_CLOCK_SKEW",
    "ChainTrace",
    "EventNode",
    "RunNode",
    "build_trace",
    "downstream_runs",
]

PUBLISH_CLOCK_SKEW = timedelta(seconds=2)
"""Tolerance when matching an event's time to its publishing run's window (clocks of two hosts)."""


class RunNode(RunRecord):
    """A run in the tree, with the events it published below it."""

    started_after_seconds: float | None = Field(
        default=None, description="From the chain's first event to this run's start."
    )
    published: list[EventNode] = Field(default_factory=list)


class EventNode(BaseModel):
    """An event of the chain and the runs it started."""

    model_config = ConfigDict(frozen=True)

    id: UUID
    type: str | None = Field(default=None, description="None: no run of it was found.")
    source: str | None = None
    time: datetime | None = None
    causation_id: UUID | None = None
    publisher_inferred: bool = Field(
        default=False,
        description="Several runs could have published it; the one it sits under is a guess.",
    )
    runs: list[RunNode] = Field(default_factory=list)
    via_unseen_runs: list[EventNode] = Field(
        default_factory=list,
        description="Events published by runs of this event that no known server holds.",
    )

    def later(self) -> Iterator[EventNode]:
        """The events directly below this one: published by its runs, then via unseen runs."""
        for run in self.runs:
            yield from run.published
        yield from self.via_unseen_runs

    def iter_runs(self) -> Iterator[RunNode]:
        """The runs this event started and every run downstream of them, in display order."""
        for run in self.runs:
            yield run
            for published in run.published:
                yield from published.iter_runs()
        for unseen in self.via_unseen_runs:
            yield from unseen.iter_runs()

    def find(self, event_id: UUID) -> EventNode | None:
        """The node of `event_id` in this event's subtree."""
        if self.id == event_id:
            return self
        return next((f for e in self.later() if (f := e.find(event_id)) is not None), None)


class ChainTrace(BaseModel):
    """The whole chain of one correlation id, as a tree of events and runs."""

    model_config = ConfigDict(frozen=True)

    correlation_id: UUID
    events: list[EventNode] = Field(
        default_factory=list,
        description="Top-level events: the first one, then any whose publishing run was not found.",
    )
    unlinked: list[RunNode] = Field(
        default_factory=list,
        description="Runs tagged with the correlation id but without the event labels.",
    )
    servers: list[str] = Field(default_factory=list, description="The servers that were read.")
    problems: list[str] = Field(default_factory=list, description="Servers that could not be read.")
    run_count: int = 0
    states: dict[str, int] = Field(default_factory=dict, description="State type -> runs.")
    finished: bool = Field(default=False, description="At least one run, and every run final.")
    started_at: datetime | None = Field(default=None, description="The first event's time.")
    ended_at: datetime | None = Field(default=None, description="The last run's end.")
    total_seconds: float | None = Field(
        default=None, description="From the first event to the last run's end (when finished)."
    )

    def iter_runs(self) -> Iterator[RunNode]:
        """Every run of the tree, depth first, in display order."""
        for event in self.events:
            yield from event.iter_runs()
        yield from self.unlinked

    def find_event(self, event_id: UUID) -> EventNode | None:
        """The node of `event_id` anywhere in the tree."""
        return next((f for e in self.events if (f := e.find(event_id)) is not None), None)


def _in_window(run: RunRecord, moment: datetime | None, now: datetime) -> bool:
    if moment is None or run.start is None:
        return False
    return run.start - PUBLISH_CLOCK_SKEW <= moment <= (run.end or now) + PUBLISH_CLOCK_SKEW


def _choose_publisher(
    candidates: Sequence[RunRecord], source: str | None, moment: datetime | None, now: datetime
) -> tuple[RunRecord, bool]:
    """The run that most likely published an event from `source` at `moment`; and whether that
    was a guess among equals."""

    def score(run: RunRecord) -> tuple[bool, bool]:
        return (run.domain != source, not _in_window(run, moment, now))  # False sorts first

    ranked = sorted(candidates, key=lambda r: (score(r), sort_time(r)))
    best = ranked[0]
    tied = sum(1 for r in ranked if score(r) == score(best)) > 1
    return best, tied


def build_trace(
    correlation_id: UUID | str,
    runs: Sequence[RunRecord],
    *,
    now: datetime | None = None,
    servers: Sequence[str] = (),
    problems: Sequence[str] = (),
) -> ChainTrace:
    """Build the chain's tree from its runs. Pure: records in, tree out.

    Events are ordered by time, the runs of an event by start (or creation); a run's duration is
    start to end; the total runs from the first event's time (label `federation.event.time` of
    the first event, else the earliest known) to the last run's end, once every run is final.
    """
    correlation = UUID(str(correlation_id))
    now = now or datetime.now(UTC)
    unique = list({run.id: run for run in runs}.values())
    linked = [r for r in unique if r.event_id is not None]
    started_by: dict[UUID, list[RunRecord]] = {}
    for run in sorted(linked, key=lambda r: (sort_time(r), r.domain or "", r.deployment or "")):
        assert run.event_id is not None
        started_by.setdefault(run.event_id, []).append(run)

    # Where each event hangs: under the run that published it, under an unseen parent, or on top.
    published_by: dict[UUID, list[tuple[UUID, bool]]] = {}  # run id -> [(event, inferred)]
    unseen_parent: dict[UUID, list[UUID]] = {}  # causing event (no runs seen) -> events
    top: list[UUID] = []
    for event_id, runs_of in started_by.items():
        info = runs_of[0]
        cause = info.causation_id
        if cause is None or cause == event_id:
            top.append(event_id)
        elif cause in started_by:
            publisher, inferred = _choose_publisher(
                started_by[cause], info.event_source, info.event_time, now
            )
            published_by.setdefault(publisher.id, []).append((event_id, inferred))
        else:
            unseen_parent.setdefault(cause, []).append(event_id)
    placeholders = [cause for cause in unseen_parent if cause not in started_by]

    chain_start = _chain_start(correlation, started_by, unique)
    building: set[UUID] = set()

    def event_node(event_id: UUID, inferred: bool = False) -> EventNode:
        building.add(event_id)  # a label cycle (never produced by the listener) cannot recurse
        runs_of = started_by.get(event_id, [])
        info = runs_of[0] if runs_of else None
        return EventNode(
            id=event_id,
            type=info.event_type if info else None,
            source=info.event_source if info else None,
            time=info.event_time if info else None,
            causation_id=info.causation_id if info else None,
            publisher_inferred=inferred,
            runs=[run_node(run) for run in runs_of],
            via_unseen_runs=_events_in_order(
                [event_node(e) for e in unseen_parent.get(event_id, []) if e not in building]
            ),
        )

    def run_node(run: RunRecord) -> RunNode:
        return RunNode(
            **run.model_dump(),
            started_after_seconds=(
                (run.start - chain_start).total_seconds()
                if run.start is not None and chain_start is not None
                else None
            ),
            published=_events_in_order(
                [
                    event_node(e, inferred)
                    for e, inferred in published_by.get(run.id, [])
                    if e not in building
                ]
            ),
        )

    roots = [event_node(e) for e in top] + [event_node(e) for e in placeholders]
    # Labels that loop (never produced by the listener) would hide runs: show them on top.
    roots += [event_node(e) for e in started_by if e not in building]
    # The first event first, then the others by time.
    roots = _events_in_order(roots)
    roots.sort(key=lambda e: e.id != correlation)
    unlinked = [run_node(r) for r in sorted(unique, key=sort_time) if r.event_id is None]

    states: dict[str, int] = {}
    for run in unique:
        states[run.state] = states.get(run.state, 0) + 1
    finished = bool(unique) and all(r.final for r in unique)
    ends = [r.end for r in unique if r.end is not None]
    ended_at = max(ends) if finished and ends else None
    total = (
        max(0.0, (ended_at - chain_start).total_seconds())
        if ended_at is not None and chain_start is not None
        else None
    )
    return ChainTrace(
        correlation_id=correlation,
        events=roots,
        unlinked=unlinked,
        servers=list(servers),
        problems=list(problems),
        run_count=len(unique),
        states=dict(sorted(states.items())),
        finished=finished,
        started_at=chain_start,
        ended_at=ended_at,
        total_seconds=total,
    )


def _events_in_order(events: list[EventNode]) -> list[EventNode]:
    far = datetime.max.replace(tzinfo=UTC)
    return sorted(events, key=lambda e: (e.time or far, e.type or "", str(e.id)))


def _chain_start(
    correlation: UUID, started_by: Mapping[UUID, Sequence[RunRecord]], runs: Sequence[RunRecord]
) -> datetime | None:
    """The first event's time; else the earliest event time known; else the earliest run."""
    first = started_by.get(correlation)
    if first and first[0].event_time is not None:
        return first[0].event_time
    times = [r.event_time for r in runs if r.event_time is not None]
    if times:
        return min(times)
    created = [r.created for r in runs if r.created is not None]
    return min(created) if created else None


def downstream_runs(
    correlation_id: UUID | str, records: Sequence[RunRecord], root: UUID
) -> list[RunRecord]:
    """The runs event `root` started and every run downstream of them (the part of a chain one
    event is responsible for, when it continues an existing chain)."""
    node = build_trace(correlation_id, records).find_event(root)
    if node is None:
        return []
    wanted = {run.id for run in node.iter_runs()}
    return [r for r in records if r.id in wanted]


RunNode.model_rebuild()
EventNode.model_rebuild()
ChainTrace.model_rebuild()
