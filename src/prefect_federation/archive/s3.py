"""The archive in an S3 bucket, and the bucket itself (created versioned, never public)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from prefect_federation.archive.keys import archive_key, validate_bucket_name
from prefect_federation.archive.reader import KeyedArchive
from prefect_federation.errors import ArchiveError, ConfigError, PublishError
from prefect_federation.events import EventEnvelope

__all__ = ["S3EventArchive", "ensure_archive"]

logger = logging.getLogger("prefect_federation.archive")


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


class S3EventArchive(KeyedArchive):
    """The archive in an S3 bucket (see the module's docstring for the key layout)."""

    def __init__(self, s3_client: Any, bucket: str) -> None:
        self.client = s3_client
        self.bucket = bucket

    def describe(self) -> str:
        return f"s3://{self.bucket}"

    def put(self, envelope: EventEnvelope, topic_name: str) -> str:
        key = archive_key(envelope, topic_name)
        try:
            self.client.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=envelope.to_json().encode(),
                ContentType="application/json",
                Metadata={
                    "type": envelope.type,
                    "source": envelope.source,
                    "correlationid": str(envelope.correlationid),
                },
            )
        except (ClientError, BotoCoreError) as exc:
            raise PublishError(
                f"could not archive {envelope.type} ({envelope.id}) to s3://{self.bucket}/{key}: "
                f"{exc}"
            ) from exc
        logger.debug("archived %s to s3://%s/%s", envelope.summary(), self.bucket, key)
        return key

    def _list_keys(self, prefix: str, start_after: str | None) -> Iterator[str]:
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix}
        if start_after is not None:
            kwargs["StartAfter"] = start_after
        while True:
            try:
                page = self.client.list_objects_v2(**kwargs)
            except (ClientError, BotoCoreError) as exc:
                raise self._read_error(f"cannot list s3://{self.bucket}/{prefix}", exc) from exc
            for item in page.get("Contents", []):
                yield str(item["Key"])
            if not page.get("IsTruncated"):
                return
            kwargs["ContinuationToken"] = page["NextContinuationToken"]
            kwargs.pop("StartAfter", None)

    def _read(self, key: str) -> str:
        try:
            body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"]
            return str(body.read().decode())
        except (ClientError, BotoCoreError) as exc:
            raise self._read_error(f"cannot read s3://{self.bucket}/{key}", exc) from exc

    def _read_error(self, what: str, exc: Exception) -> ArchiveError:
        if isinstance(exc, ClientError) and _error_code(exc) == "NoSuchBucket":
            return ArchiveError(
                f"archive bucket {self.bucket!r} does not exist: run `prefect-federation "
                "provision`, or name the bucket the events were archived in (--archive-bucket)"
            )
        return ArchiveError(f"{what}: {exc}")


def ensure_archive(s3: Any, bucket: str) -> tuple[str, str, str]:
    """Create the archive bucket if it does not exist, with versioning on and every public access
    blocked; idempotent. Returns one provisioning line: (`created`/`updated`/`unchanged`,
    `s3 bucket`, name), as `ProvisionReport.add` takes it.

    S3 encrypts new objects at rest by default (SSE-S3); nothing to set for that. Raises
    ConfigError when the name is taken by another account (bucket names are global).
    """
    validate_bucket_name(bucket)
    created = False
    try:
        s3.head_bucket(Bucket=bucket)
    except ClientError as exc:
        code = _error_code(exc)
        if code in ("404", "NoSuchBucket", "NotFound"):
            created = _create_bucket(s3, bucket)
        elif code in ("403", "AccessDenied", "Forbidden"):
            raise ConfigError(
                f"S3 bucket {bucket!r} exists but this account may not use it (bucket names are "
                "global across AWS): choose another name with --archive-bucket"
            ) from exc
        else:
            raise
    changed: list[str] = []
    versioning = s3.get_bucket_versioning(Bucket=bucket).get("Status")
    if versioning != "Enabled":
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        changed.append("versioning")
    wanted = {
        "BlockPublicAcls": True,
        "IgnorePublicAcls": True,
        "BlockPublicPolicy": True,
        "RestrictPublicBuckets": True,
    }
    try:
        current = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    except ClientError as exc:
        if _error_code(exc) != "NoSuchPublicAccessBlockConfiguration":
            raise
        current = {}
    if any(current.get(name) is not True for name in wanted):
        s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=wanted)
        changed.append("public access block")
    if created:
        return ("created", "s3 bucket", bucket)
    if changed:
        return ("updated", "s3 bucket", f"{bucket} ({', '.join(changed)})")
    return ("unchanged", "s3 bucket", bucket)


def _create_bucket(s3: Any, bucket: str) -> bool:
    """Create `bucket` in the client's region; False when it turned out to exist already (ours)."""
    kwargs: dict[str, Any] = {"Bucket": bucket}
    region = getattr(getattr(s3, "meta", None), "region_name", None)
    if region and region != "us-east-1":  # us-east-1 refuses its own name as a constraint
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
    try:
        s3.create_bucket(**kwargs)
    except ClientError as exc:
        code = _error_code(exc)
        if code == "BucketAlreadyOwnedByYou":
            return False
        if code == "BucketAlreadyExists":
            raise ConfigError(
                f"S3 bucket name {bucket!r} is taken by another AWS account (bucket names are "
                "global): choose another with --archive-bucket"
            ) from exc
        raise
    return True
