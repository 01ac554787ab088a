"""`prefect-federation publish`: an event from the shell; with `--wait`, follow its chain.

Imports nothing of Prefect unless `--wait` or a credentials block asks for it: with the AWS
environment, publishing takes a fraction of a second.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from prefect_federation.cli._common import (
    ArchiveBucketOpt,
    CredentialsOpt,
    DeclarationsOpt,
    SourceAliasOpt,
    VerboseOpt,
    build_settings,
    configure_logging,
    err_console,
    fail,
    renamed_option,
)
from prefect_federation.errors import ConfigError, FederationError

__all__ = ["publish"]


def _read_data(data: str | None, data_file: Path | None) -> dict[str, Any]:
    if data is not None and data_file is not None:
        raise fail("give --data or --data-file, not both")
    if data_file is not None:
        try:
            text = data_file.read_text()
        except OSError as exc:
            raise fail(f"--data-file {data_file}: {exc}") from exc
        where = f"--data-file {data_file}"
    else:
        text = data if data is not None else "{}"
        where = "--data"
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise fail(f"{where} is not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise fail(f"{where} must be a JSON object, got {type(value).__name__}")
    return value


def publish(
    event_type: Annotated[str, typer.Argument(help="Event type, e.g. ingestion.completed.")],
    domain: Annotated[
        str | None,
        typer.Option("--domain", help="The publishing domain (default: the type's domain)."),
    ] = None,
    source: SourceAliasOpt = None,
    data: Annotated[str | None, typer.Option(help="The event's data: a JSON object.")] = None,
    data_file: Annotated[Path | None, typer.Option(help="Read the data from a JSON file.")] = None,
    subject: Annotated[str | None, typer.Option(help="Optional subject.")] = None,
    correlation_id: Annotated[
        str | None, typer.Option(help="Continue an existing chain (default: a new one).")
    ] = None,
    topic_arn: Annotated[
        str | None, typer.Option(help="Publish to this topic instead of the domain's own.")
    ] = None,
    archive: Annotated[
        bool,
        typer.Option(help="Archive the event first (when the archive bucket exists), for replay."),
    ] = True,
    archive_bucket: ArchiveBucketOpt = None,
    aws_credentials_block: CredentialsOpt = None,
    wait: Annotated[
        bool,
        typer.Option(
            "--wait",
            help="Then follow the chain the event starts, on every Prefect server of the "
            "federation; exit 0 when every run completed, 1 when one did not or on --timeout.",
        ),
    ] = False,
    timeout: Annotated[
        float, typer.Option(min=1, help="With --wait: give up after this many seconds.")
    ] = 600.0,
    quiet_seconds: Annotated[
        float,
        typer.Option(
            min=0,
            help="With --wait: done once every run is final and nothing changed for this long "
            "(downstream domains need a moment to start their runs).",
        ),
    ] = 5.0,
    declarations: DeclarationsOpt = None,
    verbose: VerboseOpt = False,
) -> None:
    """Publish an event from the shell; prints its id. With --wait, follows its chain."""
    from pydantic import ValidationError

    from prefect_federation.connect import open_publisher
    from prefect_federation.events import EventEnvelope, domain_of

    if verbose:
        configure_logging(verbose)
    domain = renamed_option(domain, source, new="--domain", old="--source")
    payload = _read_data(data, data_file)
    fields: dict[str, Any] = {
        "type": event_type,
        "source": domain or domain_of(event_type),
        "subject": subject,
        "data": payload,
    }
    if correlation_id:
        fields["correlationid"] = correlation_id
    try:
        envelope = EventEnvelope(**fields)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise fail(f"not a valid event: {problems}") from exc
    settings = build_settings(declarations, aws_credentials_block)
    try:
        envelope = _checked(envelope, settings.declarations)
        publisher: Any = open_publisher(envelope.source, settings, topic_arn)
        note = ""
        if archive:
            publisher, note = _archiving(publisher, settings, archive_bucket)
        publisher.publish(envelope)
    except FederationError as exc:
        raise fail(str(exc)) from exc
    err_console.print(
        f"published {envelope.type} from {envelope.source} to {publisher.topic_arn}{note}",
        highlight=False,
    )
    print(envelope.id, flush=True)
    if wait:
        from prefect_federation.cli.chain import wait_and_report

        raise typer.Exit(
            wait_and_report(
                str(envelope.correlationid),
                timeout,
                quiet_seconds,
                declarations,
                event_id=str(envelope.id),
            )
        )


def _checked(envelope: Any, declarations: Path) -> Any:
    """The envelope checked against its type's contract, carrying its `dataschema`: before
    any AWS call (imports the declarations and a model's module, nothing of Prefect)."""
    from prefect_federation.contracts.registry import registry_for

    try:
        return registry_for(declarations).enforce(envelope)
    except ConfigError as exc:
        raise fail(f"{declarations}: {exc}") from exc


def _archiving(publisher: Any, settings: Any, bucket: str | None) -> tuple[Any, str]:
    """Wrap `publisher` so the event is archived first, when the archive bucket exists."""
    from botocore.exceptions import ClientError

    from prefect_federation.archive import (
        ArchivingPublisher,
        S3EventArchive,
        default_archive_bucket,
        topic_name_of,
    )
    from prefect_federation.aws import aws_client, credentials_or_environment

    name = bucket or default_archive_bucket(settings.name_prefix)
    s3 = aws_client(credentials_or_environment(settings.aws_credentials_block), "s3")
    try:
        s3.head_bucket(Bucket=name)
    except ClientError:
        if bucket:
            raise ConfigError(f"archive bucket {bucket!r} does not exist") from None
        return publisher, f" (not archived: no bucket {name!r})"
    archive = S3EventArchive(s3, name)
    return ArchivingPublisher(publisher, archive, topic_name_of(publisher.topic_arn)), (
        f", archived in s3://{name}"
    )
