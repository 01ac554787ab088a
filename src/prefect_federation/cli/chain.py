"""Chain commands: `trace`, `publish --wait` (its `wait_and_report`) and `alerts`. Thin: each
calls the library (`prefect_federation.trace`, `prefect_federation.alerts`).

Prefect is imported inside the functions, so importing this module (and the app) stays cheap.
Exit codes: 0 done; 1 the chain failed, timed out or has no run; 2 usage or configuration error.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from prefect_federation.cli._common import (
    DeclarationsOpt,
    DomainFilterOpt,
    JsonOpt,
    console,
    err_console,
    fail,
)
from prefect_federation.errors import FederationError

if TYPE_CHECKING:
    from prefect_federation.declarations import Federation
    from prefect_federation.trace import RunChange

__all__ = ["alerts", "trace", "wait_and_report"]

WIDE = 250  # not a terminal (a pipe, a file, CI logs): long lines, so UI links stay whole


def _console(stderr: bool = False) -> Console:
    """A console for the tree: the terminal's width, or wide when not a terminal."""
    import sys

    stream = sys.stderr if stderr else sys.stdout
    return Console(stderr=stderr, width=None if stream.isatty() else WIDE)


def _federation(declarations: Path | None, required: bool = False) -> Federation | None:
    """The declarations, for the servers they name. Without `-d`, a missing default directory
    means: only the current Prefect server (unless `required`)."""
    from prefect_federation.declarations import load_federation
    from prefect_federation.settings import FederationSettings

    path = declarations or FederationSettings().declarations
    if declarations is None and not path.exists() and not required:
        return None
    return load_federation(path)


def _uuid(value: str, what: str) -> str:
    from uuid import UUID

    try:
        return str(UUID(value))
    except ValueError:
        raise fail(f"{what} {value!r} is not a UUID") from None


# -- trace -------------------------------------------------------------------------------------


def trace(
    correlation_id: Annotated[
        str, typer.Argument(help="The chain's correlation id (the id of its first event).")
    ],
    declarations: DeclarationsOpt = None,
    json_output: JsonOpt = False,
) -> None:
    """Show a chain as a tree of events and runs, across every Prefect server it touched.

    Each event, the runs it started (domain, deployment, state, run time, UI link), the events
    those runs published, and so on. Exits 1 when no server holds a run of the chain."""
    import httpx

    from prefect_federation.trace import federation_clients, render_trace, trace_chain

    chain_id = _uuid(correlation_id, "correlation id")
    try:
        federation = _federation(declarations)
        with federation_clients(federation) as (clients, ui_urls):
            result = trace_chain(clients, chain_id, ui_urls=ui_urls)
    except (FederationError, ValueError, httpx.HTTPError) as exc:
        raise fail(str(exc)) from exc
    if json_output:
        print(result.model_dump_json(indent=2))
    elif result.run_count:
        _console().print(render_trace(result), highlight=False)
    else:
        for problem in result.problems:
            err_console.print(f"[red]not read:[/red] {escape(problem)}", highlight=False)
        err_console.print(
            f"no run of chain {chain_id} on {', '.join(result.servers)} (a chain's id is the id "
            "of its first event, which `publish` prints)",
            highlight=False,
        )
    if not result.run_count:
        raise typer.Exit(1)


# -- publish --wait ----------------------------------------------------------------------------


class _Progress:
    """One line per run that appears or changes state, like the demo's watch."""

    def __init__(self, out: Console) -> None:
        self.out = out

    def __call__(self, change: RunChange) -> None:
        run = change.run
        domain = escape(f"{run.domain or '?':16}")
        where = f"[dim]{change.elapsed:6.1f}s[/dim] [cyan]{domain}[/cyan]"
        name = f"run [bold]{escape(run.name)}[/bold]"
        if change.previous is None:
            self.out.print(
                f"{where} {name} of {escape(run.deployment or '?')} created by "
                f"{escape(run.event_type or '?')}  [dim]{escape(run.url or '')}[/dim]",
                highlight=False,
                soft_wrap=True,
            )
            if run.state in ("SCHEDULED", "PENDING"):
                return
        color = {"COMPLETED": "green", "RUNNING": "yellow", "PENDING": "yellow"}.get(
            run.state, "blue" if run.state == "SCHEDULED" else "red"
        )
        label = (run.state_name or run.state).lower()
        message = (
            f": {escape(run.message)}"
            if run.message and run.final and run.state != "COMPLETED"
            else ""
        )
        self.out.print(
            f"{where} {name} [{color}]{escape(label)}[/{color}]{message}",
            highlight=False,
            soft_wrap=True,
        )


def wait_and_report(
    correlation_id: str,
    timeout: float,
    quiet_seconds: float,
    declarations: Path | None,
    *,
    event_id: str | None = None,
    out: Console | None = None,
) -> int:
    """Wait for the chain an event started, printing each run as it appears and changes state,
    then the chain as a tree and the verdict. Returns the exit code: 0 every run completed;
    1 a run failed, the wait timed out, or no run appeared; 2 configuration error.

    Prints to stderr (`out`), so stdout keeps only what `publish` prints: the event's id.
    """
    import httpx

    from prefect_federation.trace import federation_clients, render_trace, wait_for_chain

    out = out or _console(stderr=True)
    try:
        federation = _federation(declarations)
        with federation_clients(federation) as (clients, ui_urls):
            what = f"chain {correlation_id}"
            if event_id and event_id != correlation_id:
                what = f"event {event_id} (chain {correlation_id})"
            out.print(
                f"[dim]{0.0:6.1f}s[/dim] waiting up to {timeout:g}s for the runs of {what} on "
                f"{', '.join(clients)}; done once every run is final and nothing changed for "
                f"{quiet_seconds:g}s",
                highlight=False,
                soft_wrap=True,
            )
            started = time.monotonic()
            outcome = wait_for_chain(
                clients,
                correlation_id,
                timeout,
                quiet_seconds,
                on_update=_Progress(out),
                event_id=event_id,
                ui_urls=ui_urls,
            )
    except (FederationError, ValueError, httpx.HTTPError) as exc:
        out.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False)
        return 2
    if outcome.trace is not None and outcome.trace.run_count:
        out.print(render_trace(outcome.trace), highlight=False)
    elapsed = time.monotonic() - started
    if outcome.ok:
        total = outcome.trace.total_seconds if outcome.trace else None
        after = f"; {total:.1f}s from the first event to the last run's end" if total else ""
        out.print(
            f"[dim]{elapsed:6.1f}s[/dim] [green]{escape(outcome.reason)}[/green]{escape(after)}",
            highlight=False,
            soft_wrap=True,
        )
        return 0
    out.print(
        f"[dim]{elapsed:6.1f}s[/dim] [red]chain not completed:[/red] {escape(outcome.reason)}",
        highlight=False,
        soft_wrap=True,
    )
    return 1


# -- alerts ------------------------------------------------------------------------------------


def alerts(
    domain: DomainFilterOpt = None,
    silence_seconds: Annotated[
        int | None,
        typer.Option(
            min=60,
            help="Alert after this many seconds without a heartbeat (default: 3 heartbeat "
            "intervals, PREFECT_FEDERATION_LISTENER_HEARTBEAT_SECONDS, in whole minutes; 900 "
            "with the default 5-min heartbeat).",
            show_default=False,
        ),
    ] = None,
    minutes: Annotated[
        int | None,
        typer.Option(min=1, hidden=True, help="Deprecated: --silence-seconds, in minutes."),
    ] = None,
    notification_block: Annotated[
        str | None,
        typer.Option(
            help="Notify through this notification block (`type-slug/name`, e.g. "
            "`slack-webhook/on-call`); default: no notification, the automation's triggered "
            "state shows in the Prefect UI.",
        ),
    ] = None,
    declarations: DeclarationsOpt = None,
) -> None:
    """Alert when a listener falls silent: one Prefect automation per subscribing domain; and,
    for a domain with `expects:`, one on each of its `sla.missed` events.

    Created or updated (idempotent) on the domain's own Prefect server; it triggers when the
    domain's listener emits no heartbeat for --silence-seconds."""
    import httpx
    from prefect.client.orchestration import SyncPrefectClient, get_client

    from prefect_federation.alerts import (
        ensure_listener_silence_automation,
        ensure_sla_missed_automation,
    )
    from prefect_federation.errors import ConfigError
    from prefect_federation.heartbeat import silence_alert_minutes
    from prefect_federation.settings import ListenerSettings

    if silence_seconds is not None and minutes is not None:
        raise fail("--minutes is the old form of --silence-seconds: give one of them")
    try:
        heartbeat = ListenerSettings().heartbeat_seconds
        if silence_seconds is not None:
            window: float = silence_seconds / 60
        elif minutes is not None:
            window = minutes
        else:  # the window follows the listeners' interval
            window = silence_alert_minutes(heartbeat)
        federation = _federation(declarations, required=True)
        assert federation is not None
        if domain is not None:
            chosen = [federation.domain(domain)]
            if not chosen[0].subscribes:
                raise ConfigError(f"domain {domain!r} subscribes to nothing: it has no listener")
        else:
            chosen = federation.subscribers()
        if not chosen:
            raise ConfigError("no domain subscribes to anything: there is no listener to watch")
        targets = [(d.domain, d.resolved_prefect_api_url()) for d in chosen]
        expecting = [d.domain for d in chosen if d.expects]
    except (FederationError, ValueError) as exc:
        raise fail(str(exc)) from exc
    results = []
    for name, api_url in targets:
        client: Any = SyncPrefectClient(api_url) if api_url else get_client(sync_client=True)
        try:
            with client:
                result = ensure_listener_silence_automation(
                    name, window, notification_block, client=client
                )
                sla = (
                    ensure_sla_missed_automation(name, notification_block, client=client)
                    if name in expecting
                    else None
                )
        except (FederationError, httpx.HTTPError) as exc:
            raise fail(f"domain {name}: {exc}") from exc
        results.append(result)
        then = f"notify {result.notifies}" if result.notifies else "do nothing (shows in the UI)"
        extra = (
            f"; removed {result.removed_duplicates} duplicate(s)"
            if result.removed_duplicates
            else ""
        )
        console.print(
            f"[cyan]{escape(name)}[/cyan]: {result.action} automation "
            f"{escape(repr(result.name))} on {escape(result.server)}: no heartbeat for "
            f"{window:g} min -> {escape(then)}{escape(extra)}",
            highlight=False,
            soft_wrap=True,
        )
        if sla is not None:
            results.append(sla)
            console.print(
                f"[cyan]{escape(name)}[/cyan]: {sla.action} automation {escape(repr(sla.name))}"
                f" on {escape(sla.server)}: on each sla.missed -> {escape(then)}",
                highlight=False,
                soft_wrap=True,
            )
    if window * 60 < 2 * heartbeat:
        err_console.print(
            f"[yellow]note:[/yellow] listeners beat every {heartbeat:g}s here "
            f"(PREFECT_FEDERATION_LISTENER_HEARTBEAT_SECONDS); a {window:g}-minute window may "
            "alert on one late heartbeat",
            highlight=False,
        )
    changed = sum(r.action != "unchanged" for r in results)
    console.print(f"{len(results)} automation(s), {changed} created or updated", highlight=False)
