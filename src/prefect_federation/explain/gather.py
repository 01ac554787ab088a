"""Reading what `explain` needs: the archive, each Prefect server, each domain's queues (I/O).

`ExplainSources` holds the clients; `explain_event` reads one event and what became of it, then
(to `depth`) the events its runs published, and hands the facts to the pure `judge_domains`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from uuid import UUID

from prefect_federation.archive.keys import day_prefix, days_between
from prefect_federation.archive.reader import KeyedArchive
from prefect_federation.declarations import DomainDeclaration, Federation, Subscription
from prefect_federation.events import EventEnvelope
from prefect_federation.explain.joined import join_note
from prefect_federation.explain.judge import judge_domains
from prefect_federation.explain.models import EventExplanation, JoinNote, Observed, Publication
from prefect_federation.feed import RECEIVED_EVENT
from prefect_federation.labels import event_id_tag
from prefect_federation.naming import topic_name
from prefect_federation.trace.reader import RunReader
from prefect_federation.trace.records import RunRecord

if TYPE_CHECKING:
    from prefect.client.orchestration import SyncPrefectClient

    from prefect_federation.dlq.models import DeadLetter
    from prefect_federation.joins.models import JoinRecord
    from prefect_federation.joins.store import JoinStore
    from prefect_federation.queue_admin import QueueAdmin

__all__ = ["ExplainSources", "explain_event"]

ARCHIVE_WINDOW = timedelta(days=7)
"""How far back `explain` looks for an event in the archive by default."""

DomainNote = Callable[[DomainDeclaration, Subscription, UUID], Mapping[str, str | None]]
"""Extra facts of a subscription for an event (`paused`, `held_back`, `skipped`): the pause
state, the listener's heartbeat, the skip records (`explain.notes`)."""


@dataclass
class ExplainSources:
    """Where `explain` reads from; any of them may be missing (what it holds is then unknown)."""

    federation: Federation
    clients: Mapping[str, SyncPrefectClient]
    ui_urls: Mapping[str, str] = field(default_factory=dict)
    archive: KeyedArchive | None = None
    admin: QueueAdmin | None = None
    name_prefix: str = "federation-"
    since: datetime = field(default_factory=lambda: datetime.now(UTC) - ARCHIVE_WINDOW)
    until: datetime = field(default_factory=lambda: datetime.now(UTC) + timedelta(minutes=5))
    notes: DomainNote | None = None
    join_stores: Mapping[str, JoinStore] = field(default_factory=dict)
    """Domain -> its join store (the domains with `join` subscriptions)."""
    problems: list[str] = field(default_factory=list)
    _dead: dict[str, list[DeadLetter]] = field(default_factory=dict)
    _joins: dict[str, list[JoinRecord]] = field(default_factory=dict)
    _queued: dict[str, int] = field(default_factory=dict)
    _reader: RunReader | None = None

    @property
    def reader(self) -> RunReader:
        if self._reader is None:
            self._reader = RunReader(self.clients, self.ui_urls)
        return self._reader

    def topics(self) -> dict[str, str]:
        """Domain -> the name of its topic."""
        return {d.domain: topic_name(self.name_prefix, d.domain, d.fifo) for d in self.federation}

    # -- the archive -----------------------------------------------------------------------

    def find_archived(self, event_id: UUID) -> tuple[str, EventEnvelope] | None:
        """(key, envelope) of the event in the archive, within the window; None when absent."""
        if self.archive is None:
            return None
        suffix = f"_{event_id}.json"
        try:
            for topic in self.topics().values():
                for day in days_between(self.since, self.until):
                    for key in self.archive._list_keys(day_prefix(topic, day), None):
                        if key.endswith(suffix):
                            return key, EventEnvelope.from_wire_json(self.archive._read(key))
        except Exception as exc:
            self.problems.append(f"archive: {type(exc).__name__}: {exc}")
        return None

    def published_by_runs_of(self, envelope: EventEnvelope, domains: set[str]) -> list[UUID]:
        """Ids of archived events of `domains` caused by `envelope` (its runs published them)."""
        if self.archive is None or not domains:
            return []
        start = max(self.since, envelope.time - timedelta(minutes=5))
        if start >= self.until:
            return []
        found: list[UUID] = []
        try:
            for domain, topic in self.topics().items():
                if domain not in domains:
                    continue
                for event in self.archive.iter_events(
                    topic, start, self.until, correlation_id=envelope.correlationid
                ):
                    if event.causationid == envelope.id and event.id not in found:
                        found.append(event.id)
        except Exception as exc:
            self.problems.append(f"archive: {type(exc).__name__}: {exc}")
        return found

    # -- Prefect ---------------------------------------------------------------------------

    def runs_of(self, event_id: UUID) -> list[RunRecord]:
        """The runs the event started, on every server (tag `event-id:<id>`)."""
        from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterTags

        records: list[RunRecord] = []
        for server, client in self.clients.items():
            try:
                runs = client.read_flow_runs(
                    flow_run_filter=FlowRunFilter(
                        tags=FlowRunFilterTags(all_=[event_id_tag(event_id)])
                    ),
                    limit=200,
                )
            except Exception as exc:
                self.problems.append(f"{server}: {type(exc).__name__}: {exc}")
                continue
            records += self.reader.records_of(server, runs)
        return records

    def received_runs(self, event_id: UUID, around: datetime) -> set[UUID]:
        """Flow runs named by a received-event record of this event, on every server."""
        from prefect.events.filters import (
            EventFilter,
            EventNameFilter,
            EventOccurredFilter,
            EventResourceFilter,
        )

        found: set[UUID] = set()
        for server, client in self.clients.items():
            try:
                page = client.read_events(
                    filter=EventFilter(
                        occurred=EventOccurredFilter(
                            since=around - timedelta(days=1),
                            until=datetime.now(UTC) + timedelta(days=1),
                        ),
                        event=EventNameFilter(name=[RECEIVED_EVENT]),
                        resource=EventResourceFilter(id=[f"prefect-federation.event.{event_id}"]),
                    ),
                    limit=50,
                )
            except Exception as exc:
                self.problems.append(f"{server} events: {type(exc).__name__}: {exc}")
                continue
            for event in page.events:
                for related in event.related:
                    resource = related.id
                    if resource.startswith("prefect.flow-run."):
                        found.add(UUID(resource.removeprefix("prefect.flow-run.")))
        return found

    def run_by_id(self, run_id: UUID) -> RunRecord | None:
        """A run by its id, from whichever server has it (a join's run, found in its store)."""
        from prefect.exceptions import ObjectNotFound

        for server, client in self.clients.items():
            try:
                run = client.read_flow_run(run_id)
            except ObjectNotFound:
                continue
            except Exception as exc:
                self.problems.append(f"{server}: {type(exc).__name__}: {exc}")
                continue
            return next(iter(self.reader.records_of(server, [run])), None)
        return None

    # -- the join stores -------------------------------------------------------------------

    def join_note(
        self, domain: DomainDeclaration, subscription: Subscription, event_id: UUID
    ) -> JoinNote | None:
        """Where the event stands in the subscription's join (the store is read once a domain)."""
        store = self.join_stores.get(domain.domain)
        if store is None or subscription.join is None:
            return None
        if domain.domain not in self._joins:
            try:
                self._joins[domain.domain] = store.joins()
            except Exception as exc:
                self.problems.append(f"{domain.domain} joins: {type(exc).__name__}: {exc}")
                self._joins[domain.domain] = []
        return join_note(subscription, self._joins[domain.domain], event_id)

    # -- the queues ------------------------------------------------------------------------

    def _queues(self, domain: DomainDeclaration) -> Any:
        from prefect_federation.queue_admin import locate_queues

        assert self.admin is not None
        return locate_queues(self.admin, self.name_prefix, domain.domain, domain.fifo)

    def dead_letter(self, domain: DomainDeclaration, event_id: UUID) -> DeadLetter | None:
        """The event's dead letter in the domain's DLQ (scanned once per domain)."""
        if self.admin is None:
            return None
        if domain.domain not in self._dead:
            from prefect_federation.dlq.scan import list_dead_letters

            try:
                queues = self._queues(domain)
                self._dead[domain.domain] = list_dead_letters(
                    self.admin, queues.dlq_url, 1000, wait_seconds=0
                )
            except Exception as exc:
                self.problems.append(f"{domain.domain} DLQ: {type(exc).__name__}: {exc}")
                self._dead[domain.domain] = []
        return next((d for d in self._dead[domain.domain] if d.event_id == str(event_id)), None)

    def queued(self, domain: DomainDeclaration) -> int:
        """Messages in the domain's queue (visible and in flight); not read one by one (a
        receive would count towards their `maxReceiveCount`)."""
        if self.admin is None:
            return 0
        if domain.domain not in self._queued:
            try:
                self._queued[domain.domain] = self.admin.counts(self._queues(domain).queue_url).held
            except Exception as exc:
                self.problems.append(f"{domain.domain} queue: {type(exc).__name__}: {exc}")
                self._queued[domain.domain] = 0
        return self._queued[domain.domain]


def _from_runs(event_id: UUID, runs: list[RunRecord]) -> EventEnvelope | None:
    """The event as its runs' labels name it (no data): when it is not in the archive."""
    info = next((r for r in runs if r.event_type and r.event_source), None)
    if info is None or info.event_type is None or info.event_source is None:
        return None
    return EventEnvelope(
        id=event_id,
        type=info.event_type,
        source=info.event_source,
        time=info.event_time or datetime.now(UTC),
        causationid=info.causation_id,
    )


def _pick_run(
    runs: list[RunRecord], domain: DomainDeclaration, subscription: Subscription
) -> RunRecord | None:
    """The run of this subscription: on this domain, of its deployment (two subscriptions to
    one deployment, told apart by `name`, take the runs in declaration order)."""
    of_deployment = [r for r in runs if r.deployment == subscription.deployment]
    # the domain's own runs first (its deployments' `domain:` tag); a deployment without the tag
    # names its work pool instead
    mine = [r for r in of_deployment if r.domain == domain.domain] or of_deployment
    same = [s for s in domain.subscribes if s.deployment == subscription.deployment]
    if not mine:
        return None
    index = same.index(subscription) if subscription in same else 0
    return mine[index] if index < len(mine) else None


def explain_event(sources: ExplainSources, event_id: UUID, depth: int = 3) -> EventExplanation:
    """What became of one event, and (to `depth` levels) of the events its runs published."""
    return _explain(sources, event_id, depth, seen=set())


def _explain(
    sources: ExplainSources, event_id: UUID, depth: int, seen: set[UUID]
) -> EventExplanation:
    seen.add(event_id)
    problems_before = len(sources.problems)
    archived = sources.find_archived(event_id)
    runs = sources.runs_of(event_id)
    envelope = archived[1] if archived else _from_runs(event_id, runs)
    if envelope is None:
        return EventExplanation(
            event_id=event_id, found=False, problems=sources.problems[problems_before:]
        )
    received = sources.received_runs(event_id, envelope.time)

    def observe(domain: DomainDeclaration, subscription: Subscription) -> Observed:
        run = _pick_run(runs, domain, subscription)
        joined = sources.join_note(domain, subscription, event_id) if run is None else None
        if joined is not None and joined.run_id is not None:
            run = sources.run_by_id(joined.run_id)
        notes = dict(sources.notes(domain, subscription, event_id)) if sources.notes else {}
        if run is not None:
            return Observed(run=run, received=run.id in received or joined is not None)
        return Observed(
            join=joined,
            dead_letter=sources.dead_letter(domain, event_id),
            queued=sources.queued(domain),
            paused=notes.get("paused"),
            held_back=notes.get("held_back"),
            skipped=notes.get("skipped"),
        )

    domains = judge_domains(sources.federation, envelope, observe, data_known=archived is not None)
    children: list[EventExplanation] = []
    if depth > 0:
        ran_in = {r.domain for r in runs if r.domain}
        for child in sources.published_by_runs_of(envelope, ran_in):
            if child not in seen:
                children.append(_explain(sources, child, depth - 1, seen))
    return EventExplanation(
        event_id=event_id,
        found=True,
        type=envelope.type,
        source=envelope.source,
        time=envelope.time,
        correlation_id=envelope.correlationid,
        data_known=archived is not None,
        publication=Publication(
            archive_key=archived[0] if archived else None,
            run_id=envelope.flowrunid,
            run_url=envelope.flowrunurl,
        ),
        domains=domains,
        published=children,
        problems=sources.problems[problems_before:],
    )
