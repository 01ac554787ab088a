"""`prefect-federation iam-policy`: print a domain's least-privilege IAM policy as JSON.

Its output is JSON whatever the options: it needs no `--json`.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer

from prefect_federation.cli._common import (
    ArchiveBucketOpt,
    CredentialsOpt,
    DeclarationsOpt,
    DomainOpt,
    build_settings,
    fail,
)
from prefect_federation.errors import ConfigError

if TYPE_CHECKING:
    from prefect_federation.settings import FederationSettings

__all__ = ["PolicyKind", "iam_policy", "resolve_account_and_region"]

PolicyKind = Literal["runtime", "provisioning", "operator", "replay", "both"]


def resolve_account_and_region(
    settings: FederationSettings, account_id: str | None, region: str | None
) -> tuple[str, str]:
    """The given account and region; what is missing comes from the AWS credentials in use:
    the account from STS `GetCallerIdentity`, the region from the credentials or boto session."""
    if account_id is not None and region is not None:
        return account_id, region
    from botocore.exceptions import BotoCoreError, ClientError

    from prefect_federation.aws import aws_client, load_aws_credentials

    credentials = load_aws_credentials(settings.aws_credentials_block)
    if region is None:
        region = credentials.region_name or credentials.get_boto3_session().region_name
        if not region:
            raise ConfigError("no AWS region in the credentials or environment: give --region")
    if account_id is None:
        try:
            identity = aws_client(credentials, "sts").get_caller_identity()
        except (BotoCoreError, ClientError) as exc:
            raise ConfigError(
                f"cannot ask STS for the account id ({exc}): give --account-id"
            ) from exc
        account_id = str(identity["Account"])
    return account_id, str(region)


def iam_policy(
    domain: DomainOpt,
    declarations: DeclarationsOpt = None,
    account_id: Annotated[
        str | None,
        typer.Option(help="AWS account id (default: STS get-caller-identity of the credentials)."),
    ] = None,
    region: Annotated[
        str | None, typer.Option(help="AWS region (default: the credentials' region).")
    ] = None,
    kind: Annotated[
        PolicyKind,
        typer.Option(
            help="runtime: the domain's flows and listener; provisioning: its deploy pipeline; "
            "operator: its DLQ tooling (`dlq list|show|redrive|purge`); "
            "replay: `replay --domain <domain>` (read its archive, re-publish); "
            'both: {"runtime": ..., "provisioning": ...}.'
        ),
    ] = "runtime",
    topic_lookup: Annotated[
        bool,
        typer.Option(
            help="Runtime: allow sns:ListTopics (resource '*') to find the topic by name; not "
            "needed when publishing through the SnsTopic block or with --topic-arn."
        ),
    ] = True,
    retire_queue: Annotated[
        bool,
        typer.Option(
            help="Provisioning of a domain that subscribes to nothing any more: also allow "
            "unsubscribing and clearing the queue it had."
        ),
    ] = False,
    archive: Annotated[
        bool,
        typer.Option(
            help="Runtime/provisioning: include the event archive (S3), as `provision` sets it "
            "up by default."
        ),
    ] = True,
    archive_bucket: ArchiveBucketOpt = None,
    aws_credentials_block: CredentialsOpt = None,
) -> None:
    """Print the domain's least-privilege IAM policy (JSON) for its runtime or its provisioning."""
    from prefect_federation.archive import default_archive_bucket, validate_bucket_name
    from prefect_federation.declarations import load_federation
    from prefect_federation.iam import (
        operator_policy,
        provisioning_policy,
        replay_policy,
        runtime_policy,
    )

    try:
        settings = build_settings(declarations, aws_credentials_block)
        federation = load_federation(settings.declarations)
        federation.domain(domain)  # an unknown domain fails before any AWS call
        account, aws_region = resolve_account_and_region(settings, account_id, region)
        bucket = (
            validate_bucket_name(archive_bucket)
            if archive_bucket
            else default_archive_bucket(settings.name_prefix)
        )
        archived = bucket if archive else None
        documents: dict[str, dict[str, Any]] = {}
        if kind in ("runtime", "both"):
            documents["runtime"] = runtime_policy(
                federation,
                domain,
                settings,
                account,
                aws_region,
                topic_lookup=topic_lookup,
                archive_bucket=archived,
            ).to_dict()
        if kind in ("provisioning", "both"):
            documents["provisioning"] = provisioning_policy(
                federation,
                domain,
                settings,
                account,
                aws_region,
                retire_queue=retire_queue,
                archive_bucket=archived,
            ).to_dict()
        if kind == "replay":
            documents["replay"] = replay_policy(
                federation, domain, settings, account, aws_region, archive_bucket=bucket
            ).to_dict()
        if kind == "operator":
            documents["operator"] = operator_policy(
                federation, domain, settings, account, aws_region, archive_bucket=archived
            ).to_dict()
    except (ConfigError, ValueError) as exc:
        raise fail(str(exc)) from exc
    print(json.dumps(documents if kind == "both" else documents[kind], indent=2))
