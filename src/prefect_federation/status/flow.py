"""What `status` says of pauses and backpressure (pure): each paused subscription with how many
messages wait and how close the oldest is to the queue's retention; each held-back subscription
(from the listener's last heartbeat), why and since when."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from prefect_federation.listener.pause import ALL, PauseState
from prefect_federation.status.rules import DomainStatus, format_duration

__all__ = ["flow_lines"]


def _retention(oldest: str | None, retention_seconds: float | None, now: datetime) -> str | None:
    if oldest is None or not retention_seconds:
        return None
    try:
        first = datetime.fromisoformat(oldest)
    except ValueError:
        return None
    age = max(0.0, (now - first.astimezone(UTC)).total_seconds())
    share = 100 * age / retention_seconds
    return (
        f"oldest held message arrived {format_duration(age)} ago: {share:.0f}% of the queue's "
        f"retention ({format_duration(retention_seconds)})"
    )


def flow_lines(
    status: DomainStatus,
    pause: PauseState,
    retention_seconds: float | None,
    now: datetime | None = None,
) -> list[str]:
    """One line per paused and per held-back subscription."""
    now = now or datetime.now(UTC)
    lines = []
    waiting = (status.visible or 0) + (status.in_flight or 0) + (status.delayed or 0)
    held: Mapping[str, Any] = status.listener_counters.get("held_back") or {}
    for key, entry in sorted(pause.paused.items()):
        what = "every subscription" if key == ALL else key
        line = f"paused: {what}: {entry.describe()}"
        if entry.mode == "hold":
            line += f"; {waiting} message(s) in the queue"
            hold = held.get(key) if key != ALL else next(iter(held.values()), None)
            age = _retention(
                hold.get("oldest") if isinstance(hold, dict) else None, retention_seconds, now
            )
            if age:
                line += f"; {age}"
        lines.append(line)
    for key, hold in sorted(held.items()):
        if not isinstance(hold, dict) or hold.get("kind") != "backpressure":
            continue
        line = f"held back: {key}: {hold.get('reason')} (since {hold.get('since')})"
        age = _retention(hold.get("oldest"), retention_seconds, now)
        if age:
            line += f"; {age}"
        lines.append(line)
    return lines
