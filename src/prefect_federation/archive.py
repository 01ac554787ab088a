"""The event archive: every published event, kept where its producer can re-send it from.

One S3 bucket per federation environment (default `<name_prefix>event-archive`); one prefix per
topic (that is, per producing domain) and UTC day:

```
s3://<bucket>/<topic name>/<YYYY>/<MM>/<DD>/<event time, ':' -> '-'>_<event id>.json
s3://federation-event-archive/federation-scoring/2026/11/24/2026-11-24T00-45-53.100000Z_4f0c.json
```

The object is the envelope's JSON (`EventEnvelope.to_json()`), exactly what was published. The
time is written with a fixed width (microseconds, `Z`), so keys sort by event time within a day:
a listing returns a day's events in the order they happened. The prefixes are what least
privilege is built on: a domain's runtime may `s3:PutObject` on `<bucket>/<its topic>/*` only,
and a replay lists only the days of its window.

`ArchivingPublisher` archives *first*, then publishes: an event that is published is archived. An
archive failure raises `PublishError` and nothing is published (the flow run fails, as when
publishing fails). The other way round is possible: an event archived whose publish then failed
stays in the archive, and a later replay may deliver it; that is harmless because consumers start
one run per event id, and a publish retry sends the same id.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol
from uuid import UUID

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import ValidationError

from prefect_federation.errors import ArchiveError, ConfigError, PublishError
from prefect_federation.events import MAX_EVENT_BYTES, EventEnvelope
from prefect_federation.publisher import Publisher

__all__ = [
    "ARCHIVE_BUCKET_SUFFIX",
    "ArchivingPublisher",
    "EventArchive",
    "InMemoryEventArchive",
    "S3EventArchive",
    "archive_key",
    "day_prefix",
    "days_between",
    "default_archive_bucket",
    "ensure_archive",
    "key_time",
    "topic_name_of",
    "validate_bucket_name",
]

logger = logging.getLogger("prefect_federation.archive")

ARCHIVE_BUCKET_SUFFIX = "event-archive"
"""The default bucket is `<name_prefix>event-archive`."""

_TIME_FORMAT = "%Y-%m-%dT%H-%M-%S.%fZ"
_KEY_FILE = re.compile(
    r"^(?P<time>\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}\.\d{6}Z)_(?P<id>[0-9a-fA-F-]{36})\.json$"
)
_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


class EventArchive(Protocol):
    """Where a producer keeps every event it published, by topic and time."""

    def put(self, envelope: EventEnvelope, topic_name: str) -> str:
        """Keep `envelope` as published to `topic_name`; returns its key. Raises `PublishError`."""
        ...

    def iter_events(
        self,
        topic_name: str,
        since: datetime,
        until: datetime,
        type: str | None = None,
        correlation_id: UUID | str | None = None,
    ) -> Iterator[EventEnvelope]:
        """The events of `topic_name` with `since <= time < until`, oldest first, optionally only
        one event type and/or one correlation id. Raises `ArchiveError`."""
        ...


# -- names and keys ----------------------------------------------------------------------------


def default_archive_bucket(name_prefix: str) -> str:
    """The environment's archive bucket: `<name_prefix>event-archive` (e.g. `federation-...`).

    S3 bucket names are global across all AWS accounts: on real AWS give a name of your own
    (`--archive-bucket`), e.g. with the account id in it.
    """
    return validate_bucket_name(f"{name_prefix}{ARCHIVE_BUCKET_SUFFIX}".lower())


def validate_bucket_name(bucket: str) -> str:
    """`bucket` if S3 accepts the name (3-63 lowercase letters, digits, '.', '-'), else
    ConfigError."""
    if not _BUCKET_NAME.match(bucket) or ".." in bucket:
        raise ConfigError(
            f"{bucket!r} is not a valid S3 bucket name (3-63 characters: lowercase letters, "
            "digits, '.', '-'; starting and ending with a letter or digit): set --archive-bucket"
        )
    return bucket


def topic_name_of(topic_arn: str) -> str:
    """`arn:aws:sns:us-east-1:123456789012:federation-scoring` -> `federation-scoring`."""
    return topic_arn.rsplit(":", 1)[-1]


def _utc(moment: datetime, name: str) -> datetime:
    if moment.tzinfo is None:
        raise ValueError(f"{name} must be timezone-aware (got {moment.isoformat()})")
    return moment.astimezone(UTC)


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(_TIME_FORMAT)


def day_prefix(topic_name: str, day: date) -> str:
    """`<topic>/<YYYY>/<MM>/<DD>/`: one topic's events of one UTC day."""
    return f"{topic_name}/{day:%Y/%m/%d}/"


def archive_key(envelope: EventEnvelope, topic_name: str) -> str:
    """`<topic>/<YYYY>/<MM>/<DD>/<time, colons replaced by ->_<id>.json`, day and time in UTC."""
    moment = envelope.time.astimezone(UTC)
    return f"{day_prefix(topic_name, moment.date())}{_stamp(moment)}_{envelope.id}.json"


def key_time(key: str) -> datetime | None:
    """The event time an archive key carries, or None when the key is not an event's."""
    match = _KEY_FILE.match(key.rsplit("/", 1)[-1])
    if match is None:
        return None
    return datetime.strptime(match["time"], _TIME_FORMAT).replace(tzinfo=UTC)


def days_between(since: datetime, until: datetime) -> list[date]:
    """The UTC days a window `[since, until)` touches, oldest first."""
    first = _utc(since, "since").date()
    last = (_utc(until, "until") - timedelta(microseconds=1)).date()
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


ListKeys = Callable[[str, str | None], Iterable[str]]
"""(prefix, start_after) -> the keys under prefix after start_after, in lexicographic order."""


def _select(
    topic_name: str,
    since: datetime,
    until: datetime,
    list_keys: ListKeys,
    read: Callable[[str], str],
    type: str | None,
    correlation_id: UUID | str | None,
) -> Iterator[EventEnvelope]:
    """What both archives share: list the window's days, bound by the key's time, read, filter."""
    since, until = _utc(since, "since"), _utc(until, "until")
    if since >= until:
        raise ValueError(f"since ({since.isoformat()}) must be before until ({until.isoformat()})")
    correlation = UUID(str(correlation_id)) if correlation_id is not None else None
    for day in days_between(since, until):
        prefix = day_prefix(topic_name, day)
        # on the first day, skip what is earlier than `since` without reading it
        start_after = f"{prefix}{_stamp(since)}" if day == since.date() else None
        for key in list_keys(prefix, start_after):
            if key.endswith("/"):
                continue  # a "folder" marker, e.g. from the S3 console
            moment = key_time(key)
            if moment is None:
                raise ArchiveError(f"{key!r} is not an archived event's key (<time>_<id>.json)")
            if moment < since:
                continue
            if moment >= until:
                break  # keys sort by time: nothing later in this day is in the window
            text = read(key)
            try:
                envelope = EventEnvelope.from_wire_json(text)
            except ValidationError as exc:
                raise ArchiveError(f"{key!r} is not a valid event envelope: {exc}") from exc
            if type is not None and envelope.type != type:
                continue
            if correlation is not None and envelope.correlationid != correlation:
                continue
            yield envelope


# -- S3 ----------------------------------------------------------------------------------------


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


class S3EventArchive:
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

    def iter_events(
        self,
        topic_name: str,
        since: datetime,
        until: datetime,
        type: str | None = None,
        correlation_id: UUID | str | None = None,
    ) -> Iterator[EventEnvelope]:
        return _select(topic_name, since, until, self._list_keys, self._read, type, correlation_id)


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


# -- in memory ---------------------------------------------------------------------------------


class InMemoryEventArchive:
    """An archive in a dict, with the S3 archive's keys and listing order (tests, dry runs).

    `listed` records every (prefix, start_after) listed, `objects` every key and body.
    """

    def __init__(self) -> None:
        self.objects: dict[str, str] = {}
        self.listed: list[tuple[str, str | None]] = []
        self._lock = threading.Lock()

    def put(self, envelope: EventEnvelope, topic_name: str) -> str:
        key = archive_key(envelope, topic_name)
        with self._lock:
            self.objects[key] = envelope.to_json()
        return key

    def _list_keys(self, prefix: str, start_after: str | None) -> list[str]:
        with self._lock:
            self.listed.append((prefix, start_after))
            return sorted(
                key
                for key in self.objects
                if key.startswith(prefix) and (start_after is None or key > start_after)
            )

    def _read(self, key: str) -> str:
        with self._lock:
            return self.objects[key]

    def iter_events(
        self,
        topic_name: str,
        since: datetime,
        until: datetime,
        type: str | None = None,
        correlation_id: UUID | str | None = None,
    ) -> Iterator[EventEnvelope]:
        return _select(topic_name, since, until, self._list_keys, self._read, type, correlation_id)


# -- the publisher -----------------------------------------------------------------------------


class ArchivingPublisher:
    """Archives each event, then publishes it through `inner`: what is published is archived.

    When the archive fails, `PublishError` is raised and nothing is published. An event too large
    for SNS is refused before it is archived (it could never be published, nor replayed).
    """

    def __init__(self, inner: Publisher, archive: EventArchive, topic_name: str) -> None:
        self.inner = inner
        self.archive = archive
        self.topic_name = topic_name

    @property
    def topic_arn(self) -> str | None:
        """The inner publisher's topic ARN, when it has one (an `SnsPublisher`)."""
        arn = getattr(self.inner, "topic_arn", None)
        return str(arn) if arn is not None else None

    def publish(self, envelope: EventEnvelope) -> str:
        size = envelope.size()
        if size > MAX_EVENT_BYTES - 1024:
            raise ValueError(
                f"event {envelope.type} is {size} bytes; SNS takes at most {MAX_EVENT_BYTES} "
                "with attributes: put large data in storage and send its address"
            )
        try:
            self.archive.put(envelope, self.topic_name)
        except PublishError:
            raise
        except Exception as exc:
            raise PublishError(
                f"could not archive {envelope.type} ({envelope.id}); not published: {exc}"
            ) from exc
        return self.inner.publish(envelope)
