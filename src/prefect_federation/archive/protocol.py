"""What an archive does, for code that takes any archive (replay, the publisher)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Protocol
from uuid import UUID

from prefect_federation.events import EventEnvelope

__all__ = ["EventArchive"]


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
