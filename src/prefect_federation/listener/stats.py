"""What a listener counts (heartbeats, `status`, the exit line) and how one message ended."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime

from prefect_federation.listener.launcher import StartedRun
from prefect_federation.listener.outcome import Outcome
from prefect_federation.queue import ReceivedMessage

__all__ = ["ListenerStats", "MessageResult"]


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
