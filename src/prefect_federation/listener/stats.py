"""What a listener counts (heartbeats, `status`, the exit line) and how one message ended."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime

from prefect_federation.listener.launcher import StartedRun
from prefect_federation.listener.outcome import Outcome
from prefect_federation.queue import ReceivedMessage

__all__ = ["ListenerStats", "MessageResult", "log_result"]

logger = logging.getLogger("prefect_federation.listener")


@dataclass
class ListenerStats:
    """Counters a listener keeps (reported by heartbeats and on exit)."""

    received: int = 0
    runs_created: int = 0
    runs_existing: int = 0
    acked: int = 0
    filtered: int = 0
    dead_lettered: int = 0
    retried: int = 0
    left: int = 0
    last_event_at: datetime | None = None
    last_event_type: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, **counts: int) -> None:
        with self.lock:
            for name, value in counts.items():
                setattr(self, name, getattr(self, name) + value)

    def as_dict(self) -> dict[str, object]:
        with self.lock:
            return {
                "received": self.received,
                "runs_created": self.runs_created,
                "runs_existing": self.runs_existing,
                "acked": self.acked,
                "filtered": self.filtered,
                "dead_lettered": self.dead_lettered,
                "retried": self.retried,
                "left": self.left,
                "last_event_at": self.last_event_at.isoformat() if self.last_event_at else None,
                "last_event_type": self.last_event_type,
            }


@dataclass(frozen=True)
class MessageResult:
    """How one message ended: its outcome and the runs it started."""

    message: ReceivedMessage
    outcome: Outcome
    runs: list[StartedRun]
    error: BaseException | None = None


def log_result(result: MessageResult) -> None:
    """One log line for what happened to a message."""
    message = result.message
    if result.outcome.action == "ack":
        if result.runs:
            for run in result.runs:
                logger.info(
                    "message %s -> run %s of %s",
                    message.message_id,
                    run.flow_run_name,
                    run.deployment,
                )
        else:
            logger.info(
                "message %s started no run (filtered out, or waiting in a join); acked",
                message.message_id,
            )
    elif result.outcome.action == "dead-letter":
        logger.warning("message %s dead-lettered: %s", message.message_id, result.outcome.reason)
    elif result.outcome.action == "left":
        logger.warning(
            "message %s left as it is, back after its visibility timeout: %s",
            message.message_id,
            result.outcome.reason,
        )
    else:
        logger.warning(
            "message %s will be retried in %ss (receive %s): %s",
            message.message_id,
            result.outcome.delay_seconds,
            message.receive_count,
            result.outcome.reason,
        )
