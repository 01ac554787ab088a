"""What happens to a message: the one place that maps how handling ended to an outcome.

A message's outcome is decided in one place, `decide()`:
- handled (runs exist, or filtered out)    -> ack (delete);
- `PermanentError`                         -> dead-letter with the reason, then delete;
- `HeldBack` (FIFO)                        -> retry after the delay of the message it waits for;
- `Held` (paused with hold, backpressure)  -> retry after its delay, never dead-lettered for its
  receives: one receive short of `maxReceiveCount` it is `requeue`d instead (a fresh copy, same
  body and event id, receive count 0, sent with the delay; then the original is deleted), so
  neither `decide` nor SQS's own redrive ever dead-letters a message only for having waited;
- anything else (`RetryableError`, a bug)  -> retry: it comes back after a back-off delay,
  and once it has been received `maxReceiveCount` times it is dead-lettered with the last error;
- `SettleError` (acting on an outcome failed) -> left as it is: it comes back after its
  visibility timeout and is decided again (runs are idempotent).

The queue's own redrive (SQS moves a message to the DLQ on its `maxReceiveCount`+1-th receive)
is only a backstop for messages no listener ever settled (one that crashed on every receive):
`decide` dead-letters at `maxReceiveCount`, with the reason, first.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from prefect_federation.errors import Held, HeldBack, PermanentError, SettleError

__all__ = ["Outcome", "backoff_seconds", "decide", "describe_action"]


@dataclass(frozen=True)
class Outcome:
    """What happens to a message: ack, dead-letter (with reason) or retry (after a delay)."""

    action: Literal["ack", "dead-letter", "retry", "left", "requeue"]
    reason: str | None = None
    delay_seconds: int = 0


def backoff_seconds(receive_count: int, base: float = 2.0, cap: float = 300.0) -> int:
    """Exponential back-off for the n-th receive: 2, 4, 8 ... capped."""
    return int(min(cap, base ** min(max(1, receive_count), 32)))


def decide(
    error: BaseException | None, receive_count: int, max_receive_count: int | None
) -> Outcome:
    """The one place that maps how handling ended to what happens to the message."""
    if error is None:
        return Outcome("ack")
    reason = f"{type(error).__name__}: {error}"
    if isinstance(error, SettleError):
        return Outcome("left", reason)
    if isinstance(error, PermanentError):
        return Outcome("dead-letter", reason)
    if isinstance(error, Held):
        if max_receive_count is not None and receive_count >= max_receive_count - 1:
            return Outcome("requeue", reason, error.delay_seconds)
        return Outcome("retry", reason, error.delay_seconds)
    if max_receive_count is not None and receive_count >= max_receive_count:
        return Outcome(
            "dead-letter", f"gave up after {receive_count} receives; last error: {reason}"
        )
    if isinstance(error, HeldBack):
        return Outcome("retry", reason, error.delay_seconds)
    return Outcome("retry", reason, backoff_seconds(receive_count))


def describe_action(outcome: Outcome) -> str:
    return {
        "ack": "delete the message",
        "dead-letter": "send the message to the dead-letter queue",
        "retry": "change the message's visibility",
        "requeue": "send a fresh copy of the message and delete the original",
    }.get(outcome.action, outcome.action)
