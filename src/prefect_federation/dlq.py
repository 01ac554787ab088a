"""A domain's dead-letter queue, for operators: list, show, redrive, purge.

Every operation works by receiving from the DLQ with a short visibility timeout, so nothing is
lost when the process dies half-way: a message it held comes back by itself after
`visibility_timeout` seconds. Messages looked at but not acted upon are made visible again
(visibility 0) as soon as the operation ends.

Redrive is done message by message (send to the source queue, then delete from the DLQ), not with
SQS's own `StartMessageMoveTask`, because:

- the listener dead-letters with `SendMessage` (to add `federation-reason` and friends), and a
  move task keeps every attribute as it is, so the redriven message would still carry them;
- a move task is asynchronous (it reports progress, not what moved) and cannot pick messages;
- moto (the test AWS) does not implement it (moto 5.2: `NotImplementedError`).

Peeking (listing) costs one receive per message: the DLQ's `ApproximateReceiveCount` goes up.
A DLQ has no redrive policy of its own, so that is harmless there.

On a FIFO DLQ, SQS hands out at most one batch of a message group while that batch is held, so a
listing shows at most 10 messages per group, and an id further back in a group is found only
once the messages before it are redriven or purged.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from contextlib import suppress
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from prefect_federation.errors import ConfigError
from prefect_federation.naming import dlq_name, queue_name
from prefect_federation.queue import DLQ_ATTRIBUTE_PREFIX, _aws_call

__all__ = [
    "DeadLetter",
    "DeadLetterAction",
    "DlqReport",
    "DomainQueues",
    "dead_letter_from_sqs",
    "find_dead_letter",
    "list_dead_letters",
    "locate_queues",
    "purge",
    "queue_depth",
    "redrive",
    "redrive_attributes",
]

PREVIEW_CHARS = 120
DEFAULT_VISIBILITY_TIMEOUT = 30
"""Seconds a message stays hidden while an operation holds it (it comes back by itself after)."""
DEFAULT_WAIT_SECONDS = 1
"""Long poll per receive: short polls on a standard queue sample a subset of SQS's servers."""
DEFAULT_LIST_MAX = 100

ProgressCallback = Callable[["DeadLetterAction"], None]


class DeadLetter(BaseModel):
    """One message in a dead-letter queue, as an operator needs to see it."""

    model_config = ConfigDict(frozen=True)

    message_id: str = Field(description="The message's id in the DLQ (what the CLI takes).")
    receipt_handle: str = Field(description="Valid until the message is received again.")
    body: str = Field(repr=False)
    body_preview: str
    event_type: str | None = None
    event_id: str | None = None
    event_source: str | None = None
    reason: str | None = Field(default=None, description="`federation-reason`.")
    receive_count: int | None = Field(
        default=None, description="`federation-receive-count`: receives before it was given up."
    )
    dead_lettered_at: datetime | None = Field(
        default=None, description="`federation-dead-lettered-at`, else when the DLQ got it."
    )
    source_queue: str | None = Field(default=None, description="`federation-source-queue`.")
    original_message_id: str | None = Field(
        default=None, description="`federation-original-message-id`: its id in the source queue."
    )
    group_id: str | None = None
    attributes: dict[str, str] = Field(
        default_factory=dict, description="Every string message attribute, ours included."
    )

    def matches(self, selector: str) -> bool:
        """True when `selector` is this message's DLQ id or its id in the source queue."""
        return selector in (self.message_id, self.original_message_id)


class DeadLetterAction(BaseModel):
    """What happened to one message during a redrive or purge."""

    message_id: str
    action: str = Field(description="`redriven`, `purged` or `failed`.")
    error: str | None = None


class DlqReport(BaseModel):
    """The outcome of a redrive or purge."""

    done: list[str] = Field(default_factory=list, description="DLQ message ids acted upon.")
    failed: dict[str, str] = Field(default_factory=dict, description="message id -> error.")
    not_found: list[str] = Field(
        default_factory=list, description="Ids asked for that are not in the DLQ."
    )

    @property
    def ok(self) -> bool:
        return not self.failed and not self.not_found


# -- pure helpers ---------------------------------------------------------------------------


def _event_fields(
    body: str, attributes: dict[str, str]
) -> tuple[str | None, str | None, str | None]:
    """(type, id, source) of the event in a body, as far as it can be read; never raises."""
    event_type = attributes.get("type")
    event_source = attributes.get("source")
    event_id: str | None = None
    try:
        document = json.loads(body)
        if isinstance(document, dict) and document.get("Type") == "Notification":
            document = json.loads(document.get("Message", ""))  # SNS without raw delivery
    except (ValueError, TypeError):
        document = None
    if isinstance(document, dict):

        def text(name: str) -> str | None:
            value = document.get(name)
            return str(value) if isinstance(value, str | int) and value != "" else None

        event_type = text("type") or event_type
        event_source = text("source") or event_source
        event_id = text("id")
    return event_type, event_id, event_source


def _preview(body: str, limit: int = PREVIEW_CHARS) -> str:
    flat = " ".join(body.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def _parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def dead_letter_from_sqs(raw: dict[str, Any]) -> DeadLetter:
    """A DeadLetter from one message of a `receive_message` response."""
    system = raw.get("Attributes", {})
    attributes = {
        name: value["StringValue"]
        for name, value in raw.get("MessageAttributes", {}).items()
        if "StringValue" in value
    }
    body = raw.get("Body", "")
    event_type, event_id, event_source = _event_fields(body, attributes)

    def ours(name: str) -> str | None:
        return attributes.get(f"{DLQ_ATTRIBUTE_PREFIX}{name}")

    dead_lettered_at = _parse_time(ours("dead-lettered-at"))
    if dead_lettered_at is None and system.get("SentTimestamp"):
        dead_lettered_at = datetime.fromtimestamp(int(system["SentTimestamp"]) / 1000, UTC)
    return DeadLetter(
        message_id=raw["MessageId"],
        receipt_handle=raw["ReceiptHandle"],
        body=body,
        body_preview=_preview(body),
        event_type=event_type,
        event_id=event_id,
        event_source=event_source,
        reason=ours("reason"),
        receive_count=_int_or_none(ours("receive-count")),
        dead_lettered_at=dead_lettered_at,
        source_queue=ours("source-queue"),
        original_message_id=ours("original-message-id"),
        group_id=system.get("MessageGroupId"),
        attributes=attributes,
    )


def redrive_attributes(message_attributes: dict[str, Any]) -> dict[str, Any]:
    """The message attributes to send back with: the original ones, without `federation-*`."""
    kept: dict[str, Any] = {}
    for name, value in message_attributes.items():
        if name.startswith(DLQ_ATTRIBUTE_PREFIX):
            continue
        entry = {"DataType": value["DataType"]}
        for field in ("StringValue", "BinaryValue"):
            if field in value:
                entry[field] = value[field]
        kept[name] = entry
    return kept


# -- SQS I/O ---------------------------------------------------------------------------------


def _receive(sqs: Any, url: str, count: int, visibility_timeout: int, wait: int) -> list[Any]:
    response = _aws_call(
        "receive_message from the DLQ",
        sqs.receive_message,
        QueueUrl=url,
        MaxNumberOfMessages=max(1, min(10, count)),
        VisibilityTimeout=visibility_timeout,
        WaitTimeSeconds=wait,  # always explicit: a queue's own default may be a 20 s long poll
        MessageAttributeNames=["All"],
        MessageSystemAttributeNames=["SentTimestamp", "ApproximateReceiveCount", "MessageGroupId"],
    )
    return list(response.get("Messages", []))


def _release(sqs: Any, url: str, receipt_handles: Iterable[str]) -> None:
    """Make held messages visible again at once (best effort: they come back anyway)."""
    handles = list(dict.fromkeys(receipt_handles))
    for start in range(0, len(handles), 10):
        chunk = handles[start : start + 10]
        entries = [
            {"Id": str(i), "ReceiptHandle": handle, "VisibilityTimeout": 0}
            for i, handle in enumerate(chunk)
        ]
        with suppress(Exception):  # they reappear after the visibility timeout anyway
            sqs.change_message_visibility_batch(QueueUrl=url, Entries=entries)


class _Scan:
    """Every message of a queue once, up to `limit`, each held hidden while the scan lasts.

    Use as a context manager: on exit, every message received and not `consumed()` (deleted) is
    made visible again, including those a receive returned after the caller stopped iterating.
    """

    def __init__(
        self,
        sqs: Any,
        url: str,
        *,
        visibility_timeout: int,
        wait_seconds: int,
        limit: int | None = None,
    ) -> None:
        self.sqs = sqs
        self.url = url
        self.visibility_timeout = visibility_timeout
        self.wait_seconds = wait_seconds
        self.limit = limit
        self._held: dict[str, str] = {}  # message id -> its latest receipt handle
        self._consumed: set[str] = set()

    def __enter__(self) -> _Scan:
        return self

    def __exit__(self, *exc_info: object) -> None:
        _release(self.sqs, self.url, self._held.values())
        self._held.clear()

    def __iter__(self) -> Iterator[dict[str, Any]]:
        yielded = 0
        while self.limit is None or yielded < self.limit:
            want = 10 if self.limit is None else self.limit - yielded
            batch = _receive(self.sqs, self.url, want, self.visibility_timeout, self.wait_seconds)
            if not batch:
                return
            fresh = []
            for raw in batch:
                message_id, handle = raw["MessageId"], raw["ReceiptHandle"]
                if message_id in self._consumed:  # delivered twice and already deleted
                    with suppress(Exception):
                        _delete(self.sqs, self.url, handle)
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

    def consumed(self, raw: dict[str, Any]) -> None:
        """The message was deleted: do not release it."""
        self._held.pop(raw["MessageId"], None)
        self._consumed.add(raw["MessageId"])

    def handle(self, raw: dict[str, Any]) -> str:
        """The receipt handle that currently works for this message."""
        return self._held.get(raw["MessageId"]) or str(raw["ReceiptHandle"])


def list_dead_letters(
    sqs: Any,
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
    with _Scan(
        sqs, dlq_url, visibility_timeout=visibility_timeout, wait_seconds=wait_seconds, limit=max
    ) as scan:
        found = [dead_letter_from_sqs(raw) for raw in scan]
    epoch = datetime.min.replace(tzinfo=UTC)
    return sorted(found, key=lambda d: (d.dead_lettered_at or epoch, d.message_id))


def find_dead_letter(
    sqs: Any,
    dlq_url: str,
    message_id: str,
    *,
    max_scan: int = 1000,
    visibility_timeout: int = DEFAULT_VISIBILITY_TIMEOUT,
    wait_seconds: int = DEFAULT_WAIT_SECONDS,
) -> DeadLetter | None:
    """The message with this DLQ id (or source-queue id), without consuming it; None if absent."""
    with _Scan(
        sqs,
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


def _delete(sqs: Any, dlq_url: str, receipt_handle: str) -> None:
    _aws_call(
        "delete_message from the DLQ",
        sqs.delete_message,
        QueueUrl=dlq_url,
        ReceiptHandle=receipt_handle,
    )


def _send_back(sqs: Any, queue_url: str, raw: dict[str, Any]) -> None:
    kwargs: dict[str, Any] = {
        "QueueUrl": queue_url,
        "MessageBody": raw.get("Body") or "(empty body)",
    }
    attributes = redrive_attributes(raw.get("MessageAttributes", {}))
    if attributes:
        kwargs["MessageAttributes"] = attributes
    if queue_url.endswith(".fifo"):
        system = raw.get("Attributes", {})
        kwargs["MessageGroupId"] = system.get("MessageGroupId") or "redriven"
        # One DLQ message -> one redrive, even when a crash makes us send it twice; not the
        # event id, which the source queue may still remember from the first delivery.
        kwargs["MessageDeduplicationId"] = f"redrive-{raw['MessageId']}"
    _aws_call("send_message back to the source queue", sqs.send_message, **kwargs)


def _act_on_selected(
    sqs: Any,
    dlq_url: str,
    message_ids: list[str] | None,
    act: Callable[[dict[str, Any]], None],
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
    with _Scan(
        sqs, dlq_url, visibility_timeout=visibility_timeout, wait_seconds=wait_seconds, limit=limit
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
                _delete(sqs, dlq_url, scan.handle(raw))
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
    sqs: Any,
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
        sqs,
        dlq_url,
        message_ids,
        lambda raw: _send_back(sqs, queue_url, raw),
        "redriven",
        on_progress=on_progress,
        limit=limit,
        visibility_timeout=visibility_timeout,
        wait_seconds=wait_seconds,
    )


def purge(
    sqs: Any,
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
        sqs,
        dlq_url,
        message_ids,
        lambda raw: None,
        "purged",
        on_progress=on_progress,
        limit=limit,
        visibility_timeout=visibility_timeout,
        wait_seconds=wait_seconds,
    )


def queue_depth(sqs: Any, url: str) -> int:
    """ApproximateNumberOfMessages + ...NotVisible: every message the queue holds."""
    attributes = _aws_call(
        "get_queue_attributes",
        sqs.get_queue_attributes,
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    ).get("Attributes", {})
    return int(attributes.get("ApproximateNumberOfMessages", 0)) + int(
        attributes.get("ApproximateNumberOfMessagesNotVisible", 0)
    )


class DomainQueues(BaseModel):
    """A domain's queue and dead-letter queue, found by their conventional names."""

    model_config = ConfigDict(frozen=True)

    domain: str
    queue_name: str
    queue_url: str
    dlq_name: str
    dlq_url: str

    @property
    def fifo(self) -> bool:
        return self.queue_url.endswith(".fifo")


def _queue_url_or_none(sqs: Any, name: str) -> str | None:
    try:
        response = _aws_call("get_queue_url", sqs.get_queue_url, QueueName=name)
    except sqs.exceptions.QueueDoesNotExist:
        return None
    return str(response["QueueUrl"])


def locate_queues(sqs: Any, prefix: str, domain: str, fifo: bool | None = None) -> DomainQueues:
    """The domain's queue and DLQ (standard or FIFO, whichever exists when `fifo` is None).

    Raises:
        ConfigError: either queue does not exist (not provisioned, or another name prefix).
    """
    for candidate in (False, True) if fifo is None else (fifo,):
        name = queue_name(prefix, domain, candidate)
        url = _queue_url_or_none(sqs, name)
        if url is None:
            continue
        dlq = dlq_name(prefix, domain, candidate)
        dlq_url = _queue_url_or_none(sqs, dlq)
        if dlq_url is None:
            raise ConfigError(
                f"queue {name!r} exists but its dead-letter queue {dlq!r} does not: run "
                "`prefect-federation provision`"
            )
        return DomainQueues(
            domain=domain, queue_name=name, queue_url=url, dlq_name=dlq, dlq_url=dlq_url
        )
    raise ConfigError(
        f"domain {domain!r} has no queue {queue_name(prefix, domain)!r} (name prefix "
        f"{prefix!r}): run `prefect-federation provision`, or set PREFECT_FEDERATION_NAME_PREFIX"
    )
