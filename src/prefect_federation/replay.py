"""Re-send history: re-publish archived events, unchanged, with their original ids.

Consumers start one run per event id and subscription (the idempotency key
`federation:<source>:<event id>:<deployment>`), so a replay is safe: a domain that already ran for
an event gets the event again and starts nothing; a domain that subscribed after the event was
first published starts its runs now.

```python
report = replay(S3EventArchive(s3, bucket), SnsPublisher(sns, topic_arn), "federation-scoring",
                since=datetime(2026, 11, 1, tzinfo=UTC), until=datetime.now(UTC))
```

The whole window is read from the archive before anything is published, so an unreadable
archive fails the replay before it sends anything. Events go out oldest first. An id archived
more than once (a publish retried in a later second) is sent once. Publish to the topic itself,
not through an `ArchivingPublisher`: a replayed event is already in the archive.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from uuid import UUID

from prefect_federation.archive import EventArchive
from prefect_federation.errors import FederationError, ReplayError
from prefect_federation.events import EventEnvelope
from prefect_federation.publisher import Publisher

__all__ = ["ReplayReport", "parse_when", "replay"]

OnEvent = Callable[[EventEnvelope, int, int], None]
"""Called after each event is re-published (or, in a dry run, selected): (event, done, total)."""

_AGE = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


@dataclass
class ReplayReport:
    """What a replay selected and what it re-published."""

    topic_name: str
    since: datetime
    until: datetime
    dry_run: bool = False
    events: list[EventEnvelope] = field(default_factory=list)
    """The selected events, oldest first, one per id."""
    published: int = 0
    duplicates: int = 0
    """Archived copies of an id already selected (sent once)."""


def parse_when(text: str, now: datetime | None = None) -> datetime:
    """A moment from the command line: an ISO 8601 time (UTC unless it has an offset; a date
    alone is its midnight) or an age before `now`: `45s`, `30m`, `2h`, `3d`, `1w`."""
    now = now or datetime.now(UTC)
    age = _AGE.match(text)
    if age:
        return now - timedelta(**{_UNITS[age[2]]: int(age[1])})
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f"{text!r} is neither an ISO time (2026-11-24T06:00:00Z, 2026-11-24) nor an age "
            "(45s, 30m, 2h, 3d, 1w)"
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def replay(
    archive: EventArchive,
    publisher: Publisher,
    topic_name: str,
    since: datetime,
    until: datetime,
    type: str | None = None,
    correlation_id: UUID | str | None = None,
    dry_run: bool = False,
    on_event: OnEvent | None = None,
) -> ReplayReport:
    """Re-publish `topic_name`'s archived events with `since <= time < until` (optionally of one
    type and/or one correlation id), unchanged and oldest first. `dry_run` selects and publishes
    nothing. Raises `ArchiveError` (nothing published) or `ReplayError` (stopped part-way)."""
    report = ReplayReport(topic_name, since, until, dry_run)
    seen: set[UUID] = set()
    for envelope in archive.iter_events(topic_name, since, until, type, correlation_id):
        if envelope.id in seen:
            report.duplicates += 1
            continue
        seen.add(envelope.id)
        report.events.append(envelope)
    total = len(report.events)
    for done, envelope in enumerate(report.events, start=1):
        if not dry_run:
            try:
                publisher.publish(envelope)
            except (FederationError, ValueError) as exc:
                raise ReplayError(report, envelope, exc) from exc
            report.published += 1
        if on_event is not None:
            on_event(envelope, done, total)
    return report
