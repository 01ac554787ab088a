"""Events a paused (`skip`) subscription acknowledged without a run, kept for `replay --skipped`.

In the archive bucket, next to the published events, one object per event and subscription:

```
s3://<bucket>/skipped/<domain>/<subscription key, '/' -> '+'>/<YYYY>/<MM>/<DD>/<time>_<id>.json
```

The object is the envelope's JSON, as received. `replay --skipped` sends each back to the
domain's own queue (nobody else's), with its original id, and deletes the record: the domain's
listener then creates the runs (a subscription that already ran for the event finds its run by
the idempotency key and starts nothing).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from prefect_federation.archive.keys import key_stamp
from prefect_federation.errors import ArchiveError, RetryableError
from prefect_federation.events import EventEnvelope

__all__ = ["SKIPPED_PREFIX", "SkipRecords", "skipped_key"]

SKIPPED_PREFIX = "skipped"


def _part(subscription_key: str) -> str:
    return subscription_key.replace("/", "+")


def skipped_key(domain: str, subscription_key: str, envelope: EventEnvelope) -> str:
    day = envelope.time.strftime("%Y/%m/%d")
    return (
        f"{SKIPPED_PREFIX}/{domain}/{_part(subscription_key)}/{day}/"
        f"{key_stamp(envelope.time)}_{envelope.id}.json"
    )


class SkipRecords:
    """The skip records of an archive bucket."""

    def __init__(self, s3: Any, bucket: str) -> None:
        self.s3 = s3
        self.bucket = bucket

    def record(self, domain: str, subscription_key: str, envelope: EventEnvelope) -> str:
        """Keep the event as skipped; a failure is retryable (the message is not acked)."""
        key = skipped_key(domain, subscription_key, envelope)
        try:
            self.s3.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=envelope.to_json().encode(),
                ContentType="application/json",
            )
        except (ClientError, BotoCoreError) as exc:
            raise RetryableError(
                f"could not record the skipped event at s3://{self.bucket}/{key}: {exc}"
            ) from exc
        return key

    def iter_records(
        self, domain: str, subscription_key: str | None = None
    ) -> Iterator[tuple[str, EventEnvelope]]:
        """(key, envelope) of every skip record of the domain (or one subscription), oldest
        first within a subscription."""
        prefix = f"{SKIPPED_PREFIX}/{domain}/"
        if subscription_key is not None:
            prefix += f"{_part(subscription_key)}/"
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix}
        try:
            while True:
                page = self.s3.list_objects_v2(**kwargs)
                for item in page.get("Contents", []):
                    body = self.s3.get_object(Bucket=self.bucket, Key=item["Key"])["Body"].read()
                    yield str(item["Key"]), EventEnvelope.from_wire_json(body.decode())
                if not page.get("IsTruncated"):
                    return
                kwargs["ContinuationToken"] = page["NextContinuationToken"]
        except (ClientError, BotoCoreError) as exc:
            raise ArchiveError(
                f"cannot read skip records under s3://{self.bucket}/{prefix}: {exc}"
            ) from exc

    def delete(self, key: str) -> None:
        self.s3.delete_object(Bucket=self.bucket, Key=key)

    def skipped_ids(self, domain: str, subscription_key: str) -> set[str]:
        """Event ids recorded as skipped for this subscription (for `explain`)."""
        return {str(envelope.id) for _, envelope in self.iter_records(domain, subscription_key)}


def resend_skipped(
    records: SkipRecords,
    admin: Any,
    queue_url: str,
    domain: str,
    subscription_key: str | None = None,
    *,
    dry_run: bool = False,
) -> list[EventEnvelope]:
    """Send each skipped event back to the domain's own queue (original id), then delete its
    record; oldest first, each event once (skipped by two subscriptions: sent once, both run).
    Returns the events sent (or, `dry_run`, that would be)."""
    found: dict[str, tuple[list[str], EventEnvelope]] = {}
    for key, envelope in records.iter_records(domain, subscription_key):
        keys, _ = found.setdefault(str(envelope.id), ([], envelope))
        keys.append(key)
    ordered = sorted(found.values(), key=lambda item: item[1].time)
    if dry_run:
        return [envelope for _, envelope in ordered]
    fifo = queue_url.endswith(".fifo")
    for keys, envelope in ordered:
        admin.send(
            queue_url,
            envelope.to_json(),
            envelope.message_attributes(),
            group_id=envelope.source if fifo else None,
            deduplication_id=f"skipped:{envelope.id}" if fifo else None,
        )
        for key in keys:
            records.delete(key)
    return [envelope for _, envelope in ordered]
