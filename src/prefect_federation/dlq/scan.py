"""Reading a DLQ without consuming it: every message once, held hidden while the scan lasts."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import suppress
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from prefect_federation.dlq.models import DeadLetter, dead_letter_from_sqs

if TYPE_CHECKING:
    from mypy_boto3_sqs.type_defs import MessageTypeDef

    from prefect_federation.queue_admin import QueueAdmin

__all__ = ["Scan", "find_dead_letter", "list_dead_letters"]

DEFAULT_VISIBILITY_TIMEOUT = 30
"""Seconds a message stays hidden while an operation holds it (it comes back by itself after)."""
DEFAULT_WAIT_SECONDS = 1
"""Long poll per receive: short polls on a standard queue sample a subset of SQS's servers."""
DEFAULT_LIST_MAX = 100


class Scan:
    """Every message of a queue once, up to `limit`, each held hidden while the scan lasts.

    Use as a context manager: on exit, every message received and not `consumed()` (deleted) is
    made visible again, including those a receive returned after the caller stopped iterating.
    """

    def __init__(
        self,
        admin: QueueAdmin,
        url: str,
        *,
        visibility_timeout: int,
        wait_seconds: int,
        limit: int | None = None,
    ) -> None:
        self.admin = admin
        self.url = url
        self.visibility_timeout = visibility_timeout
        self.wait_seconds = wait_seconds
        self.limit = limit
        self._held: dict[str, str] = {}  # message id -> its latest receipt handle
        self._consumed: set[str] = set()

    def __enter__(self) -> Scan:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.admin.release(self.url, self._held.values())
        self._held.clear()

    def __iter__(self) -> Iterator[MessageTypeDef]:
        yielded = 0
        while self.limit is None or yielded < self.limit:
            want = 10 if self.limit is None else self.limit - yielded
            batch = self.admin.scan(
                self.url, min(10, want), self.visibility_timeout, self.wait_seconds
            )
            if not batch:
                return
            fresh = []
            for raw in batch:
                message_id, handle = raw["MessageId"], raw["ReceiptHandle"]
                if message_id in self._consumed:  # delivered twice and already deleted
                    with suppress(Exception):
                        self.admin.delete(self.url, handle)
                    continue
                seen = message_id in self._held
                self._held[message_id] = handle  # the latest handle is the one that works
                if not seen:
                    fresh.append(raw)
            for raw in fresh:
                if self.limit is not None and yielded >= self.limit:
                    return
                yielded += 1
                yield raw

    def consumed(self, raw: MessageTypeDef) -> None:
        """The message was deleted: do not release it."""
        self._held.pop(raw["MessageId"], None)
        self._consumed.add(raw["MessageId"])

    def handle(self, raw: MessageTypeDef) -> str:
        """The receipt handle that currently works for this message."""
        return self._held.get(raw["MessageId"]) or str(raw["ReceiptHandle"])


def list_dead_letters(
    admin: QueueAdmin,
    dlq_url: str,
    max: int = DEFAULT_LIST_MAX,
    *,
    visibility_timeout: int = DEFAULT_VISIBILITY_TIMEOUT,
    wait_seconds: int = DEFAULT_WAIT_SECONDS,
) -> list[DeadLetter]:
    """Up to `max` messages of the DLQ, oldest dead-lettered first, without consuming them.

    Each is received (hidden for `visibility_timeout` while the scan lasts, so a message is not
    returned twice) and made visible again when the scan ends.
    """
    with Scan(
        admin, dlq_url, visibility_timeout=visibility_timeout, wait_seconds=wait_seconds, limit=max
    ) as scan:
        found = [dead_letter_from_sqs(raw) for raw in scan]
    epoch = datetime.min.replace(tzinfo=UTC)
    return sorted(found, key=lambda d: (d.dead_lettered_at or epoch, d.message_id))


def find_dead_letter(
    admin: QueueAdmin,
    dlq_url: str,
    message_id: str,
    *,
    max_scan: int = 1000,
    visibility_timeout: int = DEFAULT_VISIBILITY_TIMEOUT,
    wait_seconds: int = DEFAULT_WAIT_SECONDS,
) -> DeadLetter | None:
    """The message with this DLQ id (or source-queue id), without consuming it; None if absent."""
    with Scan(
        admin,
        dlq_url,
        visibility_timeout=visibility_timeout,
        wait_seconds=wait_seconds,
        limit=max_scan,
    ) as scan:
        for raw in scan:
            letter = dead_letter_from_sqs(raw)
            if letter.matches(message_id):
                return letter
    return None
