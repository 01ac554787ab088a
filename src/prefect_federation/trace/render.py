"""The chain as text: a rich Tree of events and runs, its summary line, durations."""

from __future__ import annotations

from datetime import UTC
from typing import TYPE_CHECKING
from uuid import UUID

from prefect_federation.trace.records import FINAL_STATES, RunRecord
from prefect_federation.trace.tree import ChainTrace, EventNode, RunNode
from prefect_federation.values import one_line

if TYPE_CHECKING:
    from rich.tree import Tree

__all__ = ["format_seconds", "one_line", "render_trace", "summary_line"]


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
        text += f"\n[red]{escape(one_line(run.message, 200))}[/red]"
    return text


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
