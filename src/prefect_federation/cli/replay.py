"""`prefect-federation replay`: re-publish a domain's archived events with their original ids.

Imports nothing of Prefect at import time.

Exit codes: 0 done (also when the window holds no event); 1 stopped part-way (a publish failed;
replaying again is safe); 2 usage or configuration error (bad time, no topic, no bucket).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any
from uuid import UUID

import typer
from botocore.exceptions import BotoCoreError, ClientError
from rich.table import Table

from prefect_federation.cli._common import (
    ArchiveBucketOpt,
    CredentialsOpt,
    JsonOpt,
    SourceAliasOpt,
    VerboseOpt,
    build_settings,
    configure_logging,
    console,
    fail,
    progress_bar,
    renamed_option,
)
from prefect_federation.errors import FederationError

if TYPE_CHECKING:
    from prefect_federation.replay import ReplayReport

__all__ = ["replay"]


def _when(moment: datetime) -> str:
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M:%S}Z"


def _events_table(report: ReplayReport) -> Table:
    table = Table()
    table.add_column("time (UTC)", no_wrap=True)
    table.add_column("type", overflow="fold")
    for name in ("id", "correlation"):  # whole, so they can be copied into --correlation-id
        table.add_column(name, no_wrap=True, min_width=36)
    for envelope in report.events:
        table.add_row(
            f"{envelope.time.astimezone(UTC):%Y-%m-%d %H:%M:%S.%f}"[:-3],
            envelope.type,
            str(envelope.id),
            str(envelope.correlationid),
        )
    return table


def replay(
    domain: Annotated[
        str | None,
        typer.Option(
            "--domain", help="The publishing domain whose events to re-publish.", show_default=False
        ),
    ] = None,
    source: SourceAliasOpt = None,
    event_type: Annotated[
        str | None, typer.Option("--type", help="Only events of this type.")
    ] = None,
    since: Annotated[
        str,
        typer.Option(
            help="From (inclusive): an ISO time (UTC unless it has an offset) or an age: "
            "45s, 30m, 2h, 3d, 1w."
        ),
    ] = "1d",
    until: Annotated[
        str | None, typer.Option(help="Until (exclusive), in the same forms (default: now).")
    ] = None,
    correlation_id: Annotated[
        str | None, typer.Option(help="Only the events of this chain (correlation id).")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List what would be re-published; publish nothing.")
    ] = False,
    archive_bucket: ArchiveBucketOpt = None,
    skipped_events: Annotated[
        bool,
        typer.Option(
            "--skipped",
            help="Instead: send the events a paused (`--mode skip`) subscription of --domain "
            "skipped back to that domain's queue, with their original ids.",
        ),
    ] = False,
    subscription: Annotated[
        str | None,
        typer.Option("--subscription", help="With --skipped: only this subscription's."),
    ] = None,
    aws_credentials_block: CredentialsOpt = None,
    json_output: JsonOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Re-publish a domain's archived events, unchanged (original ids): consumers that already
    ran for an event start nothing; a domain that subscribed later starts its runs."""
    from pydantic import ValidationError

    from prefect_federation.archive import (
        S3EventArchive,
        default_archive_bucket,
        topic_name_of,
        validate_bucket_name,
    )
    from prefect_federation.aws import aws_client, credentials_or_environment
    from prefect_federation.connect import open_publisher
    from prefect_federation.errors import ReplayError
    from prefect_federation.replay import parse_when
    from prefect_federation.replay import replay as do_replay

    domain = renamed_option(domain, source, new="--domain", old="--source")
    if domain is None:
        raise fail("give the domain whose events to re-publish: --domain")
    if verbose:
        configure_logging(verbose)
    if skipped_events:
        from prefect_federation.cli.skipped import replay_skipped

        replay_skipped(
            domain, subscription, archive_bucket, aws_credentials_block, dry_run, json_output
        )
        return
    now = datetime.now(UTC)
    try:
        start = parse_when(since, now)
        end = parse_when(until, now) if until is not None else now
    except ValueError as exc:
        raise fail(str(exc)) from exc
    if start >= end:
        raise fail(f"--since ({_when(start)}) must be before --until ({_when(end)})")
    if correlation_id is not None:
        try:
            UUID(correlation_id)
        except ValueError:
            raise fail(f"--correlation-id {correlation_id!r} is not a UUID") from None
    try:
        settings = build_settings(None, aws_credentials_block)
        bucket = (
            validate_bucket_name(archive_bucket)
            if archive_bucket
            else default_archive_bucket(settings.name_prefix)
        )
        publisher = open_publisher(domain, settings)
        s3 = aws_client(credentials_or_environment(settings.aws_credentials_block), "s3")
    except (FederationError, ValidationError, ValueError, BotoCoreError, ClientError) as exc:
        raise fail(str(exc)) from exc
    topic = topic_name_of(publisher.topic_arn)
    where = f"s3://{bucket}/{topic}/"

    failure: tuple[str, int] | None = None  # reported once the progress bar is gone
    with progress_bar(f"reading {where}", None) as (progress, task):

        def on_event(_envelope: Any, done: int, total: int) -> None:
            verb = "selected" if dry_run else f"re-publishing to {topic}"
            progress.update(task, description=verb, total=total, completed=done)

        try:
            report = do_replay(
                S3EventArchive(s3, bucket),
                publisher,
                topic,
                start,
                end,
                type=event_type,
                correlation_id=correlation_id,
                dry_run=dry_run,
                on_event=on_event,
            )
        except ReplayError as exc:
            failure = (str(exc), 1)
        except (FederationError, ValueError, BotoCoreError, ClientError) as exc:
            failure = (str(exc), 2)
    if failure is not None:
        raise fail(*failure)
    if json_output:
        print(_report_json(report))
        return

    window = f"{_when(start)} .. {_when(end)}"
    skipped = (
        f"; {report.duplicates} archived copies of the same ids skipped"
        if report.duplicates
        else ""
    )
    if not report.events:
        console.print(f"no archived events from {topic} in {window} ({where})", highlight=False)
        return
    if dry_run:
        console.print(_events_table(report))
        console.print(
            f"dry run: would re-publish {len(report.events)} events from {topic} ({window}"
            f"{skipped}); nothing published",
            highlight=False,
        )
        return
    console.print(
        f"re-published {report.published} events from {topic} ({window}{skipped})",
        highlight=False,
    )


def _report_json(report: ReplayReport) -> str:
    """The replay as JSON: the window, what was selected (oldest first) and what was sent."""
    events = [json.loads(envelope.model_dump_json(by_alias=True)) for envelope in report.events]
    return json.dumps(
        {
            "topic": report.topic_name,
            "since": report.since.isoformat(),
            "until": report.until.isoformat(),
            "dry_run": report.dry_run,
            "published": report.published,
            "duplicates": report.duplicates,
            "events": events,
        },
        indent=2,
    )
