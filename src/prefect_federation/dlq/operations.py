"""Acting on dead letters: redrive (send back, then delete) and purge (delete), one by one."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from prefect_federation.dlq.models import (
    DeadLetterAction,
    DlqReport,
    ProgressCallback,
    dead_letter_from_sqs,
    redrive_attributes,
)
from prefect_federation.dlq.scan import DEFAULT_VISIBILITY_TIMEOUT, DEFAULT_WAIT_SECONDS, Scan

if TYPE_CHECKING:
    from mypy_boto3_sqs.type_defs import MessageTypeDef

    from prefect_federation.queue_admin import QueueAdmin

__all__ = ["purge", "queue_depth", "redrive"]


def _send_back(admin: QueueAdmin, queue_url: str, raw: MessageTypeDef) -> None:
    group_id = deduplication_id = None
    if queue_url.endswith(".fifo"):
        group_id = raw.get("Attributes", {}).get("MessageGroupId") or "redriven"
        # One DLQ message -> one redrive, even when a crash makes us send it twice; not the
        # event id, which the source queue may still remember from the first delivery.
        deduplication_id = f"redrive-{raw['MessageId']}"
    admin.send(
        queue_url,
        raw.get("Body") or "(empty body)",
        redrive_attributes(raw.get("MessageAttributes", {})),
        group_id=group_id,
        deduplication_id=deduplication_id,
    )


def _act_on_selected(
    admin: QueueAdmin,
    dlq_url: str,
    message_ids: list[str] | None,
    act: Callable[[MessageTypeDef], None],
    action: str,
    *,
    on_progress: ProgressCallback | None,
    limit: int | None,
    visibility_timeout: int,
    wait_seconds: int,
) -> DlqReport:
    """Scan the DLQ; for every selected message, `act` then delete it; release the others."""
    report = DlqReport()
    wanted = None if message_ids is None else list(dict.fromkeys(message_ids))
    remaining = None if wanted is None else set(wanted)
    with Scan(
        admin,
        dlq_url,
        visibility_timeout=visibility_timeout,
        wait_seconds=wait_seconds,
        limit=limit,
    ) as scan:
        for raw in scan:
            letter = dead_letter_from_sqs(raw)
            if remaining is not None:
                hit = next((s for s in remaining if letter.matches(s)), None)
                if hit is None:
                    continue
                remaining.discard(hit)
            try:
                act(raw)
                admin.delete(dlq_url, scan.handle(raw))
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}"
                report.failed[letter.message_id] = error
                result = DeadLetterAction(
                    message_id=letter.message_id, action="failed", error=error
                )
            else:
                scan.consumed(raw)
                report.done.append(letter.message_id)
                result = DeadLetterAction(message_id=letter.message_id, action=action)
            if on_progress is not None:
                on_progress(result)
            if remaining is not None and not remaining:
                break
    if wanted is not None and remaining:
        report.not_found = [m for m in wanted if m in remaining]
    return report


def redrive(
    admin: QueueAdmin,
    dlq_url: str,
    queue_url: str,
    message_ids: list[str] | None = None,
    *,
    on_progress: ProgressCallback | None = None,
    limit: int | None = None,
    visibility_timeout: int = DEFAULT_VISIBILITY_TIMEOUT,
    wait_seconds: int = DEFAULT_WAIT_SECONDS,
) -> DlqReport:
    """Send dead letters back to `queue_url` (all, or those in `message_ids`), then delete them.

    Each goes back with its body, message group and original message attributes, without the
    `federation-*` ones, as a new message (receive count 1). Sent before deleted: a crash in
    between leaves it in both queues, and the listener's idempotency keys make that harmless.
    `message_ids` may name DLQ ids or source-queue ids; ids not found are reported.
    """
    return _act_on_selected(
        admin,
        dlq_url,
        message_ids,
        lambda raw: _send_back(admin, queue_url, raw),
        "redriven",
        on_progress=on_progress,
        limit=limit,
        visibility_timeout=visibility_timeout,
        wait_seconds=wait_seconds,
    )


def purge(
    admin: QueueAdmin,
    dlq_url: str,
    message_ids: list[str] | None = None,
    *,
    on_progress: ProgressCallback | None = None,
    limit: int | None = None,
    visibility_timeout: int = DEFAULT_VISIBILITY_TIMEOUT,
    wait_seconds: int = DEFAULT_WAIT_SECONDS,
) -> DlqReport:
    """Delete dead letters for good (all, or those in `message_ids`).

    Message by message rather than SQS's `PurgeQueue`, which may also delete messages that arrive
    up to a minute later, unseen, and says nothing about what it deleted.
    """
    return _act_on_selected(
        admin,
        dlq_url,
        message_ids,
        lambda raw: None,
        "purged",
        on_progress=on_progress,
        limit=limit,
        visibility_timeout=visibility_timeout,
        wait_seconds=wait_seconds,
    )


def queue_depth(admin: QueueAdmin, url: str) -> int:
    """Visible + in flight: every message the queue holds."""
    return admin.counts(url).held
