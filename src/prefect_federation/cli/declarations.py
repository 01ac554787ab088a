"""`prefect-federation check` and `provision`: the declarations, validated, then made real in
AWS and on each domain's Prefect server."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from prefect_federation.cli._common import (
    ArchiveBucketOpt,
    CredentialsOpt,
    DeclarationsOpt,
    JsonOpt,
    build_settings,
    console,
    fail,
)
from prefect_federation.cli.contracts import AgainstOpt, run_check
from prefect_federation.errors import ConfigError, FederationError

__all__ = ["check", "provision"]


def check(
    declarations: DeclarationsOpt = None, json_output: JsonOpt = False, against: AgainstOpt = None
) -> None:
    """Check the declarations and every subscription against both sides, statically: the
    producer's contract (fields read, filters, types) and the target flow's parameters. Reports
    every problem; exit 2 on any error (see README, Contracts)."""
    run_check(declarations, json_output, against)


def provision(
    declarations: DeclarationsOpt = None,
    aws_credentials_block: CredentialsOpt = None,
    save_blocks: Annotated[
        bool,
        typer.Option(help="Save an SnsTopic and SqsQueue block per domain on the Prefect server."),
    ] = True,
    work_pools: Annotated[
        bool | None,
        typer.Option(
            help="Create each subscribing domain's work pool on its Prefect server (named after "
            "the domain, type `process`, unless its declaration's `work_pool` says otherwise). "
            "Default: when blocks are saved (--no-save-blocks: AWS only, no Prefect server)."
        ),
    ] = None,
    archive: Annotated[
        bool,
        typer.Option(
            help="Ensure the event archive (S3 bucket) and have each SnsTopic block archive "
            "every event before publishing it (what `replay` re-sends)."
        ),
    ] = True,
    archive_bucket: ArchiveBucketOpt = None,
) -> None:
    """Create or update topics, queues, DLQs, subscriptions, policies and the event archive;
    then each domain's work pool and blocks on its Prefect server (idempotent)."""
    from prefect_federation.aws import aws_client, load_aws_credentials
    from prefect_federation.declarations import load_federation
    from prefect_federation.provision import provision as do_provision

    settings = build_settings(declarations, aws_credentials_block)
    try:
        federation = load_federation(settings.declarations)
        credentials = load_aws_credentials(settings.aws_credentials_block)
        report = do_provision(
            federation,
            aws_client(credentials, "sns"),
            aws_client(credentials, "sqs"),
            settings,
            s3=aws_client(credentials, "s3") if archive else None,
            archive_bucket=archive_bucket,
            dynamodb=aws_client(credentials, "dynamodb"),
        )
    except ConfigError as exc:
        raise fail(str(exc)) from exc
    pool_error: Exception | None = None
    if save_blocks if work_pools is None else work_pools:
        try:
            report.actions += _ensure_work_pools_per_server(federation)
        except Exception as exc:
            pool_error = exc
    table = Table("action", "kind", "resource")
    for action, kind, name in report.actions:
        style = {"created": "green", "updated": "yellow", "removed": "red"}.get(action, "dim")
        table.add_row(f"[{style}]{action}[/{style}]", kind, name)
    console.print(table)
    if isinstance(pool_error, FederationError):
        raise fail(str(pool_error)) from pool_error
    if pool_error is not None:
        raise fail(
            f"AWS resources are provisioned, but creating work pools on the Prefect server "
            f"failed: {pool_error} (use --no-work-pools to skip)"
        ) from pool_error
    if save_blocks:
        try:
            saved = _save_blocks_per_server(federation, report, credentials, settings)
        except FederationError as exc:
            raise fail(str(exc)) from exc
        except Exception as exc:
            raise fail(
                f"resources are provisioned, but saving blocks on the Prefect server failed: {exc} "
                "(use --no-save-blocks to skip)"
            ) from exc
        console.print(f"saved blocks: {', '.join(saved)}")
    console.print("no changes" if not report.changed else "done")


def _ensure_work_pools_per_server(federation: Any) -> list[tuple[str, str, str]]:
    """Each domain's work pool goes to its own Prefect server (`prefect_api_url`), or the
    current one."""
    from prefect.client.orchestration import SyncPrefectClient, get_client

    from prefect_federation.work_pools import ensure_work_pools

    rows: list[tuple[str, str, str]] = []
    for api_url, domains in federation.by_prefect_server().items():
        client = SyncPrefectClient(api_url) if api_url else get_client(sync_client=True)
        with client:
            found = ensure_work_pools(client, [federation.domain(d) for d in domains])
        rows += [(a, k, f"{n} @ {api_url}" if api_url else n) for a, k, n in found]
    return rows


def _save_blocks_per_server(
    federation: Any, report: Any, credentials: Any, settings: Any
) -> list[str]:
    """Blocks go to each domain's own Prefect server (`prefect_api_url`), or the current one."""
    from contextlib import nullcontext

    from prefect.settings import PREFECT_API_URL, temporary_settings

    from prefect_federation.provision import save_blocks

    saved: list[str] = []
    for api_url, domains in federation.by_prefect_server().items():
        scope = temporary_settings({PREFECT_API_URL: api_url}) if api_url else nullcontext()
        with scope:
            blocks = save_blocks(
                report,
                credentials,
                domains,
                credentials_name=(settings.aws_credentials_block or "federation-aws")
                if api_url
                else None,
            )
        saved += [f"{b}@{api_url}" if api_url else b for b in blocks]
    return saved
