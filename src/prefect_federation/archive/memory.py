"""An archive in a dict (tests, dry runs)."""

from __future__ import annotations

import threading

from prefect_federation.archive.keys import archive_key
from prefect_federation.archive.reader import KeyedArchive
from prefect_federation.events import EventEnvelope

__all__ = ["InMemoryEventArchive"]


class InMemoryEventArchive(KeyedArchive):
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
