"""`prefect-federation explain EVENT_ID`: why did (or didn't) the downstream runs start?

Thin: reads through `prefect_federation.explain`. Read-only (the DLQ is scanned, which raises
only the DLQ's own receive counts; the domain's queue is counted, never received from).
Exit codes: 0 every matching subscription ran (or filtered the event out); 1 one did not, or the
event was not found; 2 usage or configuration error.
"""

from __future__ import annotations

from typing import Annotated

import typer

from prefect_federation.cli._common import (
    SETUP_ERRORS,
    CredentialsOpt,
    DeclarationsOpt,
    JsonOpt,
    aws_clients,
    build_settings,
    fail,
)

__all__ = ["explain"]


def explain(
    event_id: Annotated[str, typer.Argument(help="The event's id (what `publish` prints).")],
    declarations: DeclarationsOpt = None,
    depth: Annotated[
        int, typer.Option(min=0, max=20, help="Follow the events its runs published this deep.")
    ] = 3,
    since: Annotated[
        str,
        typer.Option(help="Look for it in the archive from (an ISO time or an age: 2h, 3d)."),
    ] = "7d",
    archive_bucket: Annotated[
        str | None,
        typer.Option(
            help="The archive's S3 bucket (default: <PREFECT_FEDERATION_NAME_PREFIX>event-archive)."
        ),
    ] = None,
    aws_credentials_block: CredentialsOpt = None,
    json_output: JsonOpt = False,
) -> None:
    """Explain one event: was it published (archive, by which run), which domains'
    subscriptions it is for and, for each that is not, why (type, source, SNS filter policy,
    data filter); for each that is: its run (state, link), or why there is none (filtered,
    dead-lettered, waiting in its join for another event, join expired, paused, held back,
    still queued); then the events those runs published."""
    from uuid import UUID

    import httpx

    from prefect_federation.archive import S3EventArchive, default_archive_bucket
    from prefect_federation.archive.keys import validate_bucket_name
    from prefect_federation.cli.chain import _console, _federation
    from prefect_federation.declarations import Federation
    from prefect_federation.explain import ExplainSources, explain_event, render_explanation
    from prefect_federation.explain.notes import pause_notes
    from prefect_federation.joins.dynamodb import DynamoJoinStore
    from prefect_federation.listener.skipped import SkipRecords
    from prefect_federation.naming import join_table_name
    from prefect_federation.queue_admin import SqsQueueAdmin
    from prefect_federation.replay import parse_when
    from prefect_federation.trace import federation_clients

    try:
        wanted = UUID(event_id)
    except ValueError:
        raise fail(f"event id {event_id!r} is not a UUID") from None
    try:
        start = parse_when(since)
        federation = _federation(declarations, required=True)
        assert isinstance(federation, Federation)
        settings = build_settings(declarations, aws_credentials_block)
        bucket = validate_bucket_name(
            archive_bucket or default_archive_bucket(settings.name_prefix)
        )
        sqs, s3, dynamodb = aws_clients(settings, "sqs", "s3", "dynamodb")
        with federation_clients(federation) as (clients, ui_urls):
            sources = ExplainSources(
                federation=federation,
                clients=clients,
                ui_urls=ui_urls,
                archive=S3EventArchive(s3, bucket),
                admin=SqsQueueAdmin(sqs),
                name_prefix=settings.name_prefix,
                since=start,
                join_stores={
                    d.domain: DynamoJoinStore(
                        dynamodb, join_table_name(settings.name_prefix, d.domain)
                    )
                    for d in federation
                    if d.joins()
                },
            )
            sources.notes = pause_notes(federation, clients, SkipRecords(s3, bucket))
            result = explain_event(sources, wanted, depth)
    except (*SETUP_ERRORS, httpx.HTTPError) as exc:  # type: ignore[misc]
        raise fail(str(exc)) from exc
    if json_output:
        print(result.model_dump_json(indent=2))
    else:
        _console().print(render_explanation(result), highlight=False)
    if not result.ok:
        raise typer.Exit(1)
