"""`prefect-federation status`. Thin: it calls `prefect_federation.status`.

Exit codes: 0 healthy; 1 a domain is unhealthy; 2 usage or configuration error.
"""

from __future__ import annotations

import json
from contextlib import nullcontext
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from prefect_federation.cli._common import (
    SETUP_ERRORS,
    CredentialsOpt,
    DeclarationsOpt,
    DomainFilterOpt,
    JsonOpt,
    aws_clients,
    console,
    err_console,
)
from prefect_federation.cli._common import build_settings as _settings
from prefect_federation.cli._common import fail as _fail
from prefect_federation.heartbeat import SILENCE_HEARTBEATS
from prefect_federation.status import AgeSource, format_duration

if TYPE_CHECKING:
    from prefect_federation.status import DomainStatus


__all__ = ["status"]


def _prefect_scope(api_url: str | None) -> Any:
    if not api_url:
        return nullcontext()
    from prefect.settings import PREFECT_API_URL, temporary_settings

    return temporary_settings({PREFECT_API_URL: api_url})


def _queue_cell(s: DomainStatus) -> str:
    if s.visible is None:
        return "-"
    text = f"{s.visible} waiting, {s.in_flight} in flight"
    return text + (f", {s.delayed} delayed" if s.delayed else "")


def _oldest_cell(s: DomainStatus) -> str:
    if s.oldest_age_seconds is not None:
        return format_duration(s.oldest_age_seconds)
    return "?" if s.visible else "-"  # unknown (see the notes) / nothing waiting


def _listener_cell(s: DomainStatus) -> str:
    if not s.listener_observed:
        return "unknown"
    if s.heartbeat_age_seconds is None:
        return "never seen"
    return f"{format_duration(s.heartbeat_age_seconds)} ago ({s.heartbeat_phase or '?'})"


def _status_table(statuses: list[DomainStatus]) -> Table:
    table = Table("domain", "health", "queue", "DLQ", "oldest", "listener", "runs 1h")
    for s in statuses:
        table.add_row(
            s.domain,
            "[green]ok[/green]" if s.healthy else "[red]UNHEALTHY[/red]",
            _queue_cell(s),
            "-" if s.dlq_depth is None else str(s.dlq_depth),
            _oldest_cell(s),
            _listener_cell(s),
            "-" if s.runs_last_hour is None else str(s.runs_last_hour),
        )
    return table


def _flow_notes(status: DomainStatus, client: Any, sqs: Any) -> list[str]:
    """Paused and held-back subscriptions (`status/flow.py`); nothing when unreadable."""
    from prefect_federation.listener.pause import read_pause_state
    from prefect_federation.status.flow import flow_lines

    try:
        pause = read_pause_state(client, status.domain)
        retention = None
        if status.queue:
            url = sqs.get_queue_url(QueueName=status.queue)["QueueUrl"]
            attributes = sqs.get_queue_attributes(
                QueueUrl=url, AttributeNames=["MessageRetentionPeriod"]
            )["Attributes"]
            retention = float(attributes["MessageRetentionPeriod"])
    except Exception as exc:
        return [f"pause state unknown: {type(exc).__name__}: {exc}"]
    return flow_lines(status, pause, retention)


def status(
    domain: DomainFilterOpt = None,
    declarations: DeclarationsOpt = None,
    json_output: JsonOpt = False,
    oldest_age: Annotated[
        AgeSource,
        typer.Option(
            help="Age of the oldest waiting message from CloudWatch (real AWS), by peeking "
            "(each peek counts as a receive), or not at all.",
            case_sensitive=False,
        ),
    ] = AgeSource.cloudwatch,
    max_age: Annotated[
        float, typer.Option(help="Unhealthy when the oldest waiting message is older (seconds).")
    ] = 300.0,
    heartbeat_misses: Annotated[
        float,
        typer.Option(help="Unhealthy when the listener is silent for this many heartbeats."),
    ] = float(SILENCE_HEARTBEATS),
    aws_credentials_block: CredentialsOpt = None,
) -> None:
    """Health of each subscribing domain: queue, DLQ, oldest message, listener, recent runs.
    Exits 1 when a domain is unhealthy."""
    from prefect_federation.declarations import load_federation
    from prefect_federation.errors import ConfigError
    from prefect_federation.queue_admin import SqsQueueAdmin
    from prefect_federation.status import HealthThresholds, domain_status

    try:
        settings = _settings(declarations, aws_credentials_block)
        federation = load_federation(settings.declarations)
        if domain is not None:
            chosen = [federation.domain(domain)]
            if not chosen[0].subscribes:
                raise ConfigError(f"domain {domain!r} subscribes to nothing: it has no queue")
        else:
            chosen = federation.subscribers()
        targets = [(d, d.resolved_prefect_api_url()) for d in chosen]
        thresholds = HealthThresholds(
            max_oldest_age_seconds=max_age, heartbeat_misses=heartbeat_misses
        )
        sqs, cloudwatch, dynamodb = aws_clients(settings, "sqs", "cloudwatch", "dynamodb")
    except SETUP_ERRORS as exc:
        raise _fail(str(exc)) from exc
    from prefect.client.orchestration import get_client

    statuses = []
    with err_console.status("checking domains") if not json_output else nullcontext():
        for declaration, api_url in targets:
            with (
                _prefect_scope(api_url),
                get_client(sync_client=True) as client,
            ):
                statuses.append(
                    domain_status(
                        declaration,
                        SqsQueueAdmin(sqs),
                        client,
                        name_prefix=settings.name_prefix,
                        thresholds=thresholds,
                        age_source=oldest_age,
                        cloudwatch=cloudwatch,
                    )
                )
                statuses[-1].notes.extend(_flow_notes(statuses[-1], client, sqs))
    healthy = all(s.healthy for s in statuses)
    joins = _join_summaries([d for d, _ in targets], settings.name_prefix, dynamodb)
    if json_output:
        document = {"healthy": healthy, "domains": [s.model_dump(mode="json") for s in statuses]}
        if joins:
            document["joins"] = [j.model_dump(mode="json") for j in joins]
        print(json.dumps(document, indent=2))
    else:
        console.print(_status_table(statuses))
        for s in statuses:
            for reason in s.reasons:
                console.print(f"[red]{s.domain}[/red]: {escape(reason)}", highlight=False)
            for note in s.notes:
                console.print(f"[dim]{s.domain}: {escape(note)}[/dim]", highlight=False)
        for summary in joins:
            console.print(
                f"{summary.domain}: joins {summary.open} open, {summary.started} started, "
                f"{summary.expired} expired, {summary.late_events} late event(s); expectations "
                f"{summary.sla_missed} missed, {summary.sla_recovered} recovered",
                highlight=False,
            )
            for line in summary.lines:
                console.print(f"  {escape(line)}", highlight=False)
        sick = sum(not s.healthy for s in statuses)
        console.print(
            f"{len(statuses)} domain(s): {len(statuses) - sick} healthy, {sick} unhealthy",
            highlight=False,
        )
    if not healthy:
        raise typer.Exit(1)


def _join_summaries(chosen: list[Any], prefix: str, dynamodb: Any) -> list[Any]:
    """Each chosen domain's joins and expectations (`joins.report`), from its table."""
    from prefect_federation.joins.dynamodb import DynamoJoinStore
    from prefect_federation.joins.report import summarize
    from prefect_federation.naming import join_table_name

    summaries = []
    for declaration in chosen:
        if not declaration.keeps_state:
            continue
        store = DynamoJoinStore(dynamodb, join_table_name(prefix, declaration.domain))
        try:
            summaries.append(summarize(declaration, store))
        except SETUP_ERRORS as exc:
            err_console.print(f"[yellow]{declaration.domain}[/yellow]: {escape(str(exc))}")
    return summaries
