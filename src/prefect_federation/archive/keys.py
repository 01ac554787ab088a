"""The archive's names: the bucket, and a key per event (topic, UTC day, time, id)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

from prefect_federation.errors import ConfigError
from prefect_federation.events import EventEnvelope

__all__ = [
    "ARCHIVE_BUCKET_SUFFIX",
    "archive_key",
    "day_prefix",
    "days_between",
    "default_archive_bucket",
    "key_stamp",
    "key_time",
    "topic_name_of",
    "utc_moment",
    "validate_bucket_name",
]

ARCHIVE_BUCKET_SUFFIX = "event-archive"
"""The default bucket is `<name_prefix>event-archive`."""

_TIME_FORMAT = "%Y-%m-%dT%H-%M-%S.%fZ"
_KEY_FILE = re.compile(
    r"^(?P<time>\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}\.\d{6}Z)_(?P<id>[0-9a-fA-F-]{36})\.json$"
)
_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


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


def utc_moment(moment: datetime, name: str) -> datetime:
    if moment.tzinfo is None:
        raise ValueError(f"{name} must be timezone-aware (got {moment.isoformat()})")
    return moment.astimezone(UTC)


def key_stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(_TIME_FORMAT)


def day_prefix(topic_name: str, day: date) -> str:
    """`<topic>/<YYYY>/<MM>/<DD>/`: one topic's events of one UTC day."""
    return f"{topic_name}/{day:%Y/%m/%d}/"


def archive_key(envelope: EventEnvelope, topic_name: str) -> str:
    """`<topic>/<YYYY>/<MM>/<DD>/<time, colons replaced by ->_<id>.json`, day and time in UTC."""
    moment = envelope.time.astimezone(UTC)
    return f"{day_prefix(topic_name, moment.date())}{key_stamp(moment)}_{envelope.id}.json"


def key_time(key: str) -> datetime | None:
    """The event time an archive key carries, or None when the key is not an event's."""
    match = _KEY_FILE.match(key.rsplit("/", 1)[-1])
    if match is None:
        return None
    return datetime.strptime(match["time"], _TIME_FORMAT).replace(tzinfo=UTC)


def days_between(since: datetime, until: datetime) -> list[date]:
    """The UTC days a window `[since, until)` touches, oldest first."""
    first = utc_moment(since, "since").date()
    last = (utc_moment(until, "until") - timedelta(microseconds=1)).date()
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]
