"""Reading an archive: list a window's days by key, bound by the key's time, read, filter.

Both archives (S3, in memory) list keys and read objects their own way; the rest is here, once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from uuid import UUID

from pydantic import ValidationError

from prefect_federation.archive.keys import (
    day_prefix,
    days_between,
    key_stamp,
    key_time,
    utc_moment,
)
from prefect_federation.errors import ArchiveError
from prefect_federation.events import EventEnvelope

__all__ = ["KeyedArchive", "ListKeys"]

ListKeys = Callable[[str, str | None], Iterable[str]]
"""(prefix, start_after) -> the keys under prefix after start_after, in lexicographic order."""


class KeyedArchive:
    """An archive that can list its keys and read one: `iter_events` from those two."""

    def _list_keys(self, prefix: str, start_after: str | None) -> Iterable[str]:
        raise NotImplementedError

    def _read(self, key: str) -> str:
        raise NotImplementedError

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
        return _select(topic_name, since, until, self._list_keys, self._read, type, correlation_id)


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
    since, until = utc_moment(since, "since"), utc_moment(until, "until")
    if since >= until:
        raise ValueError(f"since ({since.isoformat()}) must be before until ({until.isoformat()})")
    correlation = UUID(str(correlation_id)) if correlation_id is not None else None
    for day in days_between(since, until):
        prefix = day_prefix(topic_name, day)
        # on the first day, skip what is earlier than `since` without reading it
        start_after = f"{prefix}{key_stamp(since)}" if day == since.date() else None
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
