"""What the demo shows of its chain: the runs one event starts, watched across the Prefect
servers as they happen, a line per run created and per state, and the table at the end.
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from uuid import UUID

from rich.table import Table

from prefect_federation.labels import DOMAIN_TAG, EVENT_TYPE_TAG, read_run_event, tag_value

__all__ = [
    "DEMO_CHAIN",
    "TERMINAL_FAILURES",
    "DemoFailed",
    "created_line",
    "describe_provisioning",
    "env_file_text",
    "explain_line",
    "run_url",
    "state_line",
    "summary_table",
    "ui_of",
    "watch_chain",
]

DEMO_CHAIN = {
    "land-raw-data/ingestion": "ingestion",
    "build-customer-master/customer-master": "customer-master",
    "score-customers/scoring": "scoring",
    "write-risk-report/reporting": "reporting",
    "notify-on-call/notifications": "notifications",
}
"""The runs one `vendor.file-delivered` event for region `north` starts, by deployment."""

TERMINAL_FAILURES = {"FAILED", "CRASHED", "CANCELLED"}


class DemoFailed(Exception):
    """The chain did not complete; the message says why."""


def describe_provisioning(report: Any) -> str:
    """The demo's line for what `provision` did (the README's sample shows it)."""
    changed = sum(1 for action, _, _ in report.actions if action != "unchanged")
    return (
        f"provisioned {len(report.actions)} AWS resources ({changed} created or updated): "
        "topics, queues, DLQs, filtered subscriptions, join tables, event archive"
    )


def explain_line(event_id: UUID, env_file: Path) -> str:
    """The demo's pointer to `explain` for its first event: a command for another terminal,
    taking the demo's environment from `env_file` (`env_file_text`)."""
    return (
        "why each downstream run did (or did not) start, from another terminal while this one "
        f"runs: . {shlex.quote(str(env_file))} && prefect-federation explain {event_id}"
    )


def env_file_text(variables: Mapping[str, str], bin_dir: Path) -> str:
    """A shell file exporting the demo's environment (and its venv's `bin` on PATH), so that
    any `prefect-federation` command in another terminal talks to the running demo."""
    lines = [
        "# The running demo's environment, for commands in another terminal: . <this file>",
        "# (removed when the demo stops; its ports are this run's)",
        f'export PATH={shlex.quote(str(bin_dir))}:"$PATH"',
    ]
    lines += [f"export {name}={shlex.quote(value)}" for name, value in variables.items()]
    return "\n".join(lines) + "\n"


def ui_of(api_url: str) -> str:
    return api_url.removesuffix("/api")


def run_url(run: Any, default_api: str) -> str:
    """The run's page in the UI of the server it was read from."""
    return f"{ui_of(run.__dict__.get('_server', default_api))}/runs/flow-run/{run.id}"


def created_line(run: Any, deployment: str, url: str) -> str:
    domain = DEMO_CHAIN.get(deployment, "?")
    event = tag_value(run.tags, EVENT_TYPE_TAG) or "?"
    return (
        f"[cyan]{domain:16}[/cyan] run [bold]{run.name}[/bold] of {deployment} created "
        f"by {event}  {url}"
    )


def state_line(run: Any, deployment: str, state: str) -> str:
    domain = DEMO_CHAIN.get(deployment, "?")
    color = {"COMPLETED": "green", "RUNNING": "yellow", "PENDING": "yellow"}.get(state, "red")
    return (
        f"[cyan]{domain:16}[/cyan] run [bold]{run.name}[/bold] [{color}]{state.lower()}[/{color}]"
    )


def summary_table(runs: list[Any], url_of: Callable[[Any], str]) -> Table:
    table = Table(
        "domain",
        "run",
        "state",
        "event -> run created",
        "run time",
        "Prefect UI",
        title="the chain",
        title_justify="left",
    )
    for run in runs:
        state = run.state.type.value.lower() if run.state else "?"
        duration = f"{run.total_run_time.total_seconds():.1f}s"
        domain = tag_value(run.tags, DOMAIN_TAG) or "?"
        event_time = read_run_event(run.labels).event_time
        latency = (
            f"{(run.created - event_time).total_seconds():.2f}s"
            if event_time and run.created
            else "?"
        )
        table.add_row(domain, run.name, state, latency, duration, url_of(run))
    return table


def watch_chain(
    servers: Mapping[str, str],
    correlation_id: UUID,
    expected: Mapping[str, str],
    timeout: float,
    *,
    on_created: Callable[[Any, str], None],
    on_state: Callable[[Any, str, str], None],
    check: Callable[[], None],
    logs: object,
) -> list[Any]:
    """Poll every server for the chain's runs until each `expected` deployment has a completed
    run; report each run created and each state it enters. Raises DemoFailed on a failed run
    or at `timeout`; `check` may raise (a process of the stack exited)."""
    from prefect.client.orchestration import SyncPrefectClient

    from prefect_federation.chain import chain_runs

    seen: dict[UUID, str] = {}
    names: dict[UUID, str] = {}
    deadline = time.monotonic() + timeout
    clients = {url: SyncPrefectClient(url) for url in set(servers.values())}
    for client in clients.values():
        client.__enter__()
    try:
        while time.monotonic() < deadline:
            check()
            runs: list[Any] = []
            for url, client in clients.items():
                for run in chain_runs(client, correlation_id):
                    if run.deployment_id and run.deployment_id not in names:
                        deployment = client.read_deployment(run.deployment_id)
                        flow = client.read_flow(deployment.flow_id)
                        names[run.deployment_id] = f"{flow.name}/{deployment.name}"
                    run.__dict__["_server"] = url
                    runs.append(run)
            runs.sort(key=lambda r: r.created)
            for run in runs:
                state = run.state.type.value if run.state else "?"
                deployment_name = names.get(run.deployment_id or run.id, "?")
                if run.id not in seen:
                    on_created(run, deployment_name)
                if seen.get(run.id) != state:
                    seen[run.id] = state
                    if state != "SCHEDULED":
                        on_state(run, deployment_name, state)
            failed = [r for r in runs if r.state and r.state.type.value in TERMINAL_FAILURES]
            if failed:
                run = failed[0]
                raise DemoFailed(
                    f"run {run.name} of {names.get(run.deployment_id or run.id)} ended "
                    f"{run.state.type.value}: {run.state.message}"
                )
            by_deployment = {names.get(r.deployment_id or r.id): r for r in runs}
            done = all(
                (r := by_deployment.get(d)) is not None
                and r.state is not None
                and r.state.type.value == "COMPLETED"
                for d in expected
            )
            if done:
                return runs
            time.sleep(0.5)
    finally:
        for client in clients.values():
            client.__exit__(None, None, None)
    created = {names.get(r.deployment_id or r.id) for r in runs}
    missing = [d for d in expected if d not in created]
    raise DemoFailed(
        f"the chain did not complete within {timeout:.0f}s; no run yet of: "
        f"{', '.join(missing) or 'none (runs not finished)'}. Logs: {logs}"
    )
