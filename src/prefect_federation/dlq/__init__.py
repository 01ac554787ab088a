"""A domain's dead-letter queue, for operators: list, show, redrive, purge.

`models` (what a dead letter shows, pure), `scan` (reading without consuming: list, show),
`operations` (redrive, purge); all through a `queue_admin.QueueAdmin`.

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

from prefect_federation.dlq.models import (
    DeadLetter,
    DeadLetterAction,
    DlqReport,
    ProgressCallback,
    dead_letter_from_sqs,
    redrive_attributes,
)
from prefect_federation.dlq.operations import purge, queue_depth, redrive
from prefect_federation.dlq.scan import find_dead_letter, list_dead_letters
from prefect_federation.queue_admin import DomainQueues, locate_queues

__all__ = [
    "DeadLetter",
    "DeadLetterAction",
    "DlqReport",
    "DomainQueues",
    "ProgressCallback",
    "dead_letter_from_sqs",
    "find_dead_letter",
    "list_dead_letters",
    "locate_queues",
    "purge",
    "queue_depth",
    "redrive",
    "redrive_attributes",
]
