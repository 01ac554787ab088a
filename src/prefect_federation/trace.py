"""Follow one chain of events across every Prefect server of the federation.

Every run the listener creates carries its triggering event as labels
(`listener.pipeline.run_labels`): `federation.event.id/type/source/time`,
`federation.correlation.id` and, for every event but the first, `federation.causation.id` =
the event that started the run that published it. From those labels alone the chain is a tree:

```
event E1 (the first: its id is the correlation id)
  run R1 (label federation.event.id = E1)
    event E2, published by R1 (the runs it started have federation.causation.id = E1)
      run R2 (federation.event.id = E2)
```

Two parts, so each is tested on its own:

- `RunReader` / `gather_runs` (I/O): the runs tagged `correlation-id:<id>` on each server, as plain
  `RunRecord`s (domain, `flow/deployment`, state, times, event labels, UI link);
- `build_trace` (pure): records in, `ChainTrace` out; `render_trace` draws it as a rich Tree.

`wait_for_chain` polls the same records until the chain settles (`ChainWatch` decides, purely).

When an event started several runs, which of them published a later event is not in the labels:
it is inferred from the publishing domain (the event's `source`) and from the run's time window;
`EventNode.publisher_inferred` says when that still left a tie.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, computed_field

from prefect_federation.labels import DOMAIN_TAG, read_run_event, tag_value

if TYPE_CHECKING:
    from prefect.client.orchestration import SyncPrefectClient
    from prefect.client.schemas.objects import FlowRun
    from rich.tree import Tree

    from prefect_federation.declarations import Federation

__all__ = [
    "FINAL_STATES",
    "ChainOutcome",
    "ChainTrace",
    "ChainWatch",
    "EventNode",
    "RunChange",
    "RunNode",
    "RunReader",
    "RunRecord",
    "build_trace",
    "downstream_runs",
    "federation_clients",
    "format_seconds",
    "gather_runs",
    "known_servers",
    "record_from_flow_run",
    "render_trace",
    "trace_chain",
    "ui_url_of",
    "wait_for_chain",
]

FINAL_STATES = frozenset({"COMPLETED", "FAILED", "CRASHED", "CANCELLED"})
"""Prefect's terminal state types: a run in one of them will not change any more."""

PUBLISH_CLOCK_SKEW = timedelta(seconds=2)
"""Tolerance when matching an event's time to its publishing run's window (clocks of two hosts)."""


# -- records ---------------------------------------------------------------------------------


class RunRecord(BaseModel):
    """One flow run of the chain, as read from its Prefect server: what the tree is built from."""

    model_config = ConfigDict(frozen=True)

    id: UUID
    name: str
    server: str = Field(description="The API URL of the Prefect server the run lives on.")
    url: str | None = Field(default=None, description="The run's page in the Prefect UI.")
    domain: str | None = Field(
        default=None, description="Tag `domain:<d>` (from the deployment), else its work pool."
    )
    deployment: str | None = Field(default=None, description="`flow/deployment`.")
    state: str = Field(default="SCHEDULED", description="State type: COMPLETED, FAILED, ...")
    state_name: str | None = Field(default=None, description="State name, e.g. Late, Crashed.")
    message: str | None = Field(default=None, description="The state's message.")
    created: datetime | None = None
    start: datetime | None = None
    end: datetime | None = None
    event_id: UUID | None = Field(default=None, description="The event that started the run.")
    event_type: str | None = None
    event_source: str | None = None
    event_time: datetime | None = None
    causation_id: UUID | None = Field(
        default=None, description="The event that started the run that published this run's event."
    )

    @property
    def final(self) -> bool:
        return self.state in FINAL_STATES

    @computed_field  # type: ignore[prop-decorator]
    @property
    def duration_seconds(self) -> float | None:
        """Run time, start to end; None until it has both."""
        if self.start is None or self.end is None:
            return None
        return max(0.0, (self.end - self.start).total_seconds())

    def describe(self) -> str:
        """`scoring score-customers/scoring (run scoring.completed-1a2b3c4d)`."""
        return f"{self.domain or '?'} {self.deployment or '?'} (run {self.name})"


def _aware(moment: datetime | None) -> datetime | None:
    """A Prefect time as an aware datetime (a naive one is UTC)."""
    if moment is None:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def ui_url_of(api_url: str) -> str:
    """The UI of a Prefect server from its API URL: `http://host:4200/api` -> `http://host:4200`."""
    return api_url.rstrip("/").removesuffix("/api")


def record_from_flow_run(
    run: FlowRun,
    server: str,
    *,
    deployment: str | None = None,
    deployment_tags: Sequence[str] = (),
    work_pool: str | None = None,
    ui_url: str | None = None,
) -> RunRecord:
    """A `RunRecord` from a Prefect `FlowRun` and what its deployment says."""
    event = read_run_event(run.labels)
    domain = tag_value([*(run.tags or []), *deployment_tags], DOMAIN_TAG)
    state = run.state
    ui = (ui_url or ui_url_of(server)).rstrip("/")
    return RunRecord(
        id=run.id,
        name=run.name,
        server=server,
        url=f"{ui}/runs/flow-run/{run.id}",
        domain=domain or work_pool or run.work_pool_name,
        deployment=deployment,
        state=state.type.value if state is not None else "SCHEDULED",
        state_name=state.name if state is not None else None,
        message=state.message if state is not None else None,
        created=_aware(run.created),
        start=_aware(run.start_time),
        end=_aware(run.end_time),
        event_id=event.event_id,
        event_type=event.event_type,
        event_source=event.event_source,
        event_time=event.event_time,
        causation_id=event.causation_id,
    )


# -- the tree (pure) -------------------------------------------------------------------------


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

        def walk(events: Sequence[EventNode]) -> Iterator[RunNode]:
            for event in events:
                for run in event.runs:
                    yield run
                    yield from walk(run.published)
                yield from walk(event.via_unseen_runs)

        yield from walk(self.events)
        yield from self.unlinked

    def find_event(self, event_id: UUID) -> EventNode | None:
        """The node of `event_id` anywhere in the tree."""

        def walk(events: Sequence[EventNode]) -> EventNode | None:
            for event in events:
                if event.id == event_id:
                    return event
                for found in (
                    walk(event.via_unseen_runs),
                    *(walk(run.published) for run in event.runs),
                ):
                    if found is not None:
                        return found
            return None

        return walk(self.events)


def _sort_time(run: RunRecord) -> datetime:
    return run.start or run.created or run.event_time or datetime.max.replace(tzinfo=UTC)


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

    ranked = sorted(candidates, key=lambda r: (score(r), _sort_time(r)))
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
    for run in sorted(linked, key=lambda r: (_sort_time(r), r.domain or "", r.deployment or "")):
        assert run.event_id is not None
        started_by.setdefault(run.event_id, []).append(run)

    def event_info(event_id: UUID) -> RunRecord:
        return started_by[event_id][0]

    # Where each event hangs: under the run that published it, under an unseen parent, or on top.
    published_by: dict[UUID, list[tuple[UUID, bool]]] = {}  # run id -> [(event, inferred)]
    unseen_parent: dict[UUID, list[UUID]] = {}  # causing event (no runs seen) -> events
    top: list[UUID] = []
    for event_id in started_by:
        info = event_info(event_id)
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
        node = EventNode(
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
        return node

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
    unlinked = [run_node(r) for r in sorted(unique, key=_sort_time) if r.event_id is None]

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


# -- rendering -------------------------------------------------------------------------------


def format_seconds(seconds: float | None) -> str:
    """`0.4s`, `12.3s`, `3m 05s`, `2h 07m`; `-` when unknown."""
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    total = round(seconds)
    minutes, secs = divmod(total, 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


STATE_STYLE = {"COMPLETED": "green", "RUNNING": "yellow", "PENDING": "yellow", "SCHEDULED": "blue"}


def _state_text(run: RunRecord) -> str:
    style = STATE_STYLE.get(run.state, "red" if run.final else "magenta")
    label = run.state_name or run.state.title()
    return f"[{style}]{label}[/{style}]"


def _short(value: UUID) -> str:
    return str(value)[:8]


def _event_label(event: EventNode, first: UUID) -> str:
    from rich.markup import escape

    if event.type is None:
        what = f"event {_short(event.id)} [dim](no run of it on any known server)[/dim]"
    else:
        source = escape(event.source or "?")
        what = f"[bold]{escape(event.type)}[/bold] {_short(event.id)} from {source}"
    when = ""
    if event.time is not None:
        when = f" at {event.time.astimezone(UTC):%H:%M:%S.%f}"[:-3] + "Z"
    notes = []
    if event.id == first:
        notes.append("first event")
    if event.publisher_inferred:
        notes.append("publisher inferred")
    return what + when + (f" [dim]({', '.join(notes)})[/dim]" if notes else "")


def _run_label(run: RunNode) -> str:
    from rich.markup import escape

    timing = [
        f"ran {format_seconds(run.duration_seconds)}"
        if run.duration_seconds is not None
        else "not finished"
        if run.start is not None
        else "not started"
    ]
    if run.started_after_seconds is not None:
        timing.append(f"started +{format_seconds(run.started_after_seconds)}")
    text = (
        f"[cyan]{escape(run.domain or '?')}[/cyan] {escape(run.deployment or '?')} "
        f"{_state_text(run)} {', '.join(timing)}  [dim]{escape(run.url or '')}[/dim]"
    )
    if run.message and run.state in FINAL_STATES - {"COMPLETED"}:
        text += f"\n[red]{escape(_one_line(run.message, 200))}[/red]"
    return text


def _one_line(text: str, limit: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def summary_line(trace: ChainTrace) -> str:
    """`5 runs on 2 Prefect servers: 5 completed; 30.2s from the first event to the last end`."""
    servers = len({r.server for r in trace.iter_runs()})
    counts = ", ".join(f"{n} {state.lower()}" for state, n in trace.states.items())
    where = f"{trace.run_count} run(s) on {servers} Prefect server(s)"
    if not trace.run_count:
        return f"no runs of chain {trace.correlation_id} on {len(trace.servers)} server(s)"
    if trace.finished and trace.total_seconds is not None:
        return (
            f"{where}: {counts}; {format_seconds(trace.total_seconds)} from the first event "
            "to the last run's end"
        )
    return f"{where}: {counts}; still running"


def render_trace(trace: ChainTrace) -> Tree:
    """The chain as a rich Tree: events, the runs they started, the events those published."""
    from rich.markup import escape
    from rich.tree import Tree

    tree = Tree(f"[bold]chain {trace.correlation_id}[/bold]  {escape(summary_line(trace))}")

    def add_event(parent: Tree, event: EventNode) -> None:
        branch = parent.add(_event_label(event, trace.correlation_id))
        for run in event.runs:
            run_branch = branch.add(_run_label(run))
            for published in run.published:
                add_event(run_branch, published)
        if event.via_unseen_runs:
            unseen = branch.add("[dim](published by runs on no known server)[/dim]")
            for later in event.via_unseen_runs:
                add_event(unseen, later)

    for event in trace.events:
        add_event(tree, event)
    if trace.unlinked:
        other = tree.add("[dim]runs with the correlation tag but no event labels[/dim]")
        for run in trace.unlinked:
            other.add(_run_label(run))
    for problem in trace.problems:
        tree.add(f"[red]not read:[/red] {escape(problem)}")
    return tree


# -- reading runs (I/O) ----------------------------------------------------------------------


class RunReader:
    """Reads the chain's runs from several Prefect servers; remembers deployment names."""

    PAGE = 200

    def __init__(
        self,
        clients: Mapping[str, SyncPrefectClient],
        ui_urls: Mapping[str, str] | None = None,
    ) -> None:
        self.clients = dict(clients)
        self.ui_urls = dict(ui_urls or {})
        self._deployments: dict[tuple[str, UUID], tuple[str, list[str], str | None]] = {}

    def deployment(self, server: str, deployment_id: UUID) -> tuple[str, list[str], str | None]:
        """(`flow/deployment`, its tags, its work pool), cached."""
        key = (server, deployment_id)
        if key not in self._deployments:
            from prefect.exceptions import ObjectNotFound

            client = self.clients[server]
            try:
                deployment = client.read_deployment(deployment_id)
                flow = client.read_flow(deployment.flow_id)
                self._deployments[key] = (
                    f"{flow.name}/{deployment.name}",
                    list(deployment.tags or []),
                    deployment.work_pool_name,
                )
            except ObjectNotFound:
                self._deployments[key] = (f"(deleted deployment {deployment_id})", [], None)
        return self._deployments[key]

    def read_server(self, server: str, correlation_id: UUID | str) -> list[RunRecord]:
        """The chain's runs on one server."""
        from prefect_federation.chain import chain_runs

        client = self.clients[server]
        runs: list[FlowRun] = []
        while True:
            page = chain_runs(client, correlation_id, limit=self.PAGE, offset=len(runs))
            runs.extend(page)
            if len(page) < self.PAGE:
                break
        records = []
        for run in runs:
            name, tags, pool = (
                self.deployment(server, run.deployment_id)
                if run.deployment_id
                else (None, [], None)
            )
            records.append(
                record_from_flow_run(
                    run,
                    server,
                    deployment=name,
                    deployment_tags=tags,
                    work_pool=pool,
                    ui_url=self.ui_urls.get(server),
                )
            )
        return records

    def read(self, correlation_id: UUID | str) -> tuple[list[RunRecord], list[str]]:
        """The chain's runs on every server; and the servers that could not be read, why."""
        import httpx

        records: list[RunRecord] = []
        problems: list[str] = []
        for server in self.clients:
            try:
                records.extend(self.read_server(server, correlation_id))
            except httpx.HTTPError as exc:
                problems.append(f"{server}: {type(exc).__name__}: {exc}")
        return records, problems


def known_servers(federation: Federation | None, current: str | None) -> list[str]:
    """Every Prefect API URL the federation knows: the current one, then each domain's own."""
    urls = [current.rstrip("/")] if current else []
    for declaration in federation or ():
        url = declaration.resolved_prefect_api_url()
        if url and url not in urls:
            urls.append(url)
    return urls


@contextmanager
def federation_clients(
    federation: Federation | None,
) -> Iterator[tuple[dict[str, SyncPrefectClient], dict[str, str]]]:
    """Open a client per known server: (API URL -> client, API URL -> UI URL).

    The current server is `PREFECT_API_URL` (its UI `PREFECT_UI_URL` when set); without one,
    Prefect's own default client (e.g. its ephemeral server).
    """
    from prefect.client.orchestration import SyncPrefectClient, get_client
    from prefect.settings import PREFECT_API_URL, PREFECT_UI_URL

    current = PREFECT_API_URL.value()
    clients: dict[str, SyncPrefectClient] = {}
    ui_urls: dict[str, str] = {}
    with ExitStack() as stack:
        if not current:
            client = stack.enter_context(get_client(sync_client=True))
            clients[str(client.api_url).rstrip("/")] = client
        for url in known_servers(federation, current):
            clients[url] = stack.enter_context(SyncPrefectClient(url))
        if current and PREFECT_UI_URL.value():
            ui_urls[current.rstrip("/")] = str(PREFECT_UI_URL.value()).rstrip("/")
        yield clients, ui_urls


def gather_runs(
    clients: Mapping[str, SyncPrefectClient],
    correlation_id: UUID | str,
    ui_urls: Mapping[str, str] | None = None,
) -> list[RunRecord]:
    """Every run tagged `correlation-id:<id>` on every server in `clients` (API URL -> client)."""
    records, problems = RunReader(clients, ui_urls).read(correlation_id)
    if problems and not records:
        from prefect_federation.errors import PrefectApiUnavailable

        raise PrefectApiUnavailable("; ".join(problems))
    return records


def trace_chain(
    clients: Mapping[str, SyncPrefectClient],
    correlation_id: UUID | str,
    *,
    ui_urls: Mapping[str, str] | None = None,
    now: datetime | None = None,
) -> ChainTrace:
    """The chain of `correlation_id` across every server in `clients` (API URL -> client).

    A server that cannot be read is named in `ChainTrace.problems`; the others are still shown.
    """
    records, problems = RunReader(clients, ui_urls).read(correlation_id)
    return build_trace(correlation_id, records, now=now, servers=list(clients), problems=problems)


# -- waiting for a chain ---------------------------------------------------------------------


class RunChange(BaseModel):
    """A run that appeared (`previous` None) or changed state, seen `elapsed` s into the wait."""

    model_config = ConfigDict(frozen=True)

    run: RunRecord
    previous: str | None
    elapsed: float


class ChainOutcome(BaseModel):
    """How a wait for a chain ended."""

    ok: bool
    reason: str
    timed_out: bool = False
    elapsed_seconds: float = 0.0
    runs: list[RunRecord] = Field(default_factory=list)
    failed: list[RunRecord] = Field(default_factory=list, description="Final, not COMPLETED.")
    unfinished: list[RunRecord] = Field(default_factory=list, description="Not final yet.")
    trace: ChainTrace | None = None


def _failure_line(run: RunRecord) -> str:
    message = f": {_one_line(run.message, 300)}" if run.message else ""
    return (
        f"{run.describe()} ended {run.state_name or run.state}{message}  {run.url or ''}".rstrip()
    )


class ChainWatch:
    """The decision of `wait_for_chain`, without I/O: feed it observations, ask for a verdict.

    Done when at least one run exists, every run is final, and nothing changed (no new run, no
    state change) for `quiet_seconds`: a run that just completed may have published an event
    whose runs appear a moment later, once the subscribing domains' listeners create them.
    """

    def __init__(self, timeout: float, quiet_seconds: float = 5.0) -> None:
        self.timeout = timeout
        self.quiet_seconds = quiet_seconds
        self.runs: dict[UUID, RunRecord] = {}
        self.last_change = 0.0
        self.servers: list[str] = []

    def observe(self, runs: Sequence[RunRecord], elapsed: float) -> list[RunChange]:
        """Record what the servers show `elapsed` seconds into the wait; returns the changes."""
        changes = []
        for run in sorted(runs, key=_sort_time):
            known = self.runs.get(run.id)
            if known is None or known.state != run.state:
                changes.append(
                    RunChange(run=run, previous=known.state if known else None, elapsed=elapsed)
                )
            self.runs[run.id] = run
        if changes:
            self.last_change = elapsed
        return changes

    def verdict(self, elapsed: float) -> ChainOutcome | None:
        """The outcome if the wait is over at `elapsed` seconds, else None."""
        runs = sorted(self.runs.values(), key=_sort_time)
        unfinished = [r for r in runs if not r.final]
        settled = bool(runs) and not unfinished
        quiet = elapsed - self.last_change >= self.quiet_seconds
        timed_out = elapsed >= self.timeout
        if settled and (quiet or timed_out):
            return self._settled(runs, elapsed)
        if not timed_out:
            return None
        if not runs:
            return ChainOutcome(
                ok=False,
                timed_out=True,
                elapsed_seconds=elapsed,
                reason=(
                    f"no run appeared within {self.timeout:.0f}s on "
                    f"{len(self.servers) or 'the'} Prefect server(s) "
                    f"({', '.join(self.servers) or 'current'}): every subscription filtered "
                    "the event out, nothing subscribes to it, or no listener is running "
                    "(see `prefect-federation status` and the DLQs)"
                ),
            )
        waiting = "; ".join(f"{r.describe()} {r.state_name or r.state}" for r in unfinished)
        failed = [r for r in runs if r.final and r.state != "COMPLETED"]
        reason = f"timed out after {self.timeout:.0f}s; still running: {waiting}"
        if failed:
            reason += "; and failed: " + "; ".join(_failure_line(r) for r in failed)
        return ChainOutcome(
            ok=False,
            timed_out=True,
            elapsed_seconds=elapsed,
            reason=reason,
            runs=runs,
            failed=failed,
            unfinished=unfinished,
        )

    def _settled(self, runs: list[RunRecord], elapsed: float) -> ChainOutcome:
        failed = [r for r in runs if r.state != "COMPLETED"]
        if failed:
            return ChainOutcome(
                ok=False,
                elapsed_seconds=elapsed,
                reason=f"{len(failed)} of {len(runs)} run(s) did not complete: "
                + "; ".join(_failure_line(r) for r in failed),
                runs=runs,
                failed=failed,
            )
        return ChainOutcome(
            ok=True,
            elapsed_seconds=elapsed,
            reason=f"the chain completed: {len(runs)} run(s), all COMPLETED",
            runs=runs,
        )


def wait_for_chain(
    clients: Mapping[str, SyncPrefectClient],
    correlation_id: UUID | str,
    timeout: float,
    quiet_seconds: float = 5,
    on_update: Callable[[RunChange], None] | None = None,
    *,
    event_id: UUID | str | None = None,
    poll_seconds: float = 1.0,
    ui_urls: Mapping[str, str] | None = None,
) -> ChainOutcome:
    """Wait until the chain an event started settles, following it across servers.

    Runs keep appearing as domains publish; the wait is over when at least one run exists,
    every run is final and no new run appeared (nor any state changed) for `quiet_seconds`.
    `ok` when every run COMPLETED; otherwise `reason` names the failed runs (domain, deployment,
    state, message, UI link), or says what was still running at `timeout`.

    `event_id` (default: the correlation id) narrows the wait to the runs that event and the
    events after it started, when an event continues an existing chain.
    """
    reader = RunReader(clients, ui_urls)
    watch = ChainWatch(timeout, quiet_seconds)
    watch.servers = list(clients)
    root = UUID(str(event_id)) if event_id is not None else UUID(str(correlation_id))
    started = time.monotonic()
    problems: list[str] = []
    while True:
        elapsed = time.monotonic() - started
        records, problems = reader.read(correlation_id)
        if root != UUID(str(correlation_id)):
            records = downstream_runs(correlation_id, records, root)
        for change in watch.observe(records, elapsed):
            if on_update is not None:
                on_update(change)
        outcome = watch.verdict(elapsed)
        if outcome is not None:
            trace = build_trace(
                correlation_id, list(watch.runs.values()), servers=list(clients), problems=problems
            )
            outcome.trace = trace
            if problems and not outcome.ok:
                outcome.reason += " (not read: " + "; ".join(problems) + ")"
            return outcome
        time.sleep(max(0.05, min(poll_seconds, timeout - elapsed)))


def downstream_runs(
    correlation_id: UUID | str, records: Sequence[RunRecord], root: UUID
) -> list[RunRecord]:
    """The runs event `root` started and every run downstream of them (the part of a chain one
    event is responsible for, when it continues an existing chain)."""
    node = build_trace(correlation_id, records).find_event(root)
    if node is None:
        return []
    wanted: set[UUID] = set()

    def walk(event: EventNode) -> None:
        for run in event.runs:
            wanted.add(run.id)
            for later in run.published:
                walk(later)
        for later in event.via_unseen_runs:
            walk(later)

    walk(node)
    return [r for r in records if r.id in wanted]


RunNode.model_rebuild()
EventNode.model_rebuild()
ChainTrace.model_rebuild()
