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

from prefect_federation.archive.keys import (
    ARCHIVE_BUCKET_SUFFIX,
    archive_key,
    day_prefix,
    days_between,
    default_archive_bucket,
    key_time,
    topic_name_of,
    validate_bucket_name,
)
from prefect_federation.archive.memory import InMemoryEventArchive
from prefect_federation.archive.protocol import EventArchive
from prefect_federation.archive.publisher import ArchivingPublisher
from prefect_federation.archive.s3 import S3EventArchive, ensure_archive

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
