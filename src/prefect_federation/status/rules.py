"""The health rules of `status`, and the facts they judge: pure, data in, verdict out.

A domain is unhealthy when its DLQ holds messages; when its listener was never seen, said it
stopped, or has been silent for more than `heartbeat_misses` x its heartbeat interval; when the
oldest waiting message is older than `max_oldest_age_seconds`; when a subscription names a
deployment that does not exist; or when something could not be observed (health unknown).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from prefect_federation.heartbeat import HEARTBEAT_SECONDS, SILENCE_HEARTBEATS

__all__ = [
    "AgeSource",
    "DomainStatus",
    "HealthThresholds",
    "ListenerHeartbeat",
    "QueueObservation",
    "allowed_silence",
    "build_status",
    "format_duration",
    "health_reasons",
    "heartbeat_age",
    "heartbeat_from_event",
]


class AgeSource(StrEnum):
    """Where the age of a queue's oldest waiting message comes from."""

    cloudwatch = "cloudwatch"
    peek = "peek"
    off = "off"


class HealthThresholds(BaseModel):
    """When a domain counts as unhealthy."""

    model_config = ConfigDict(frozen=True)

    heartbeat_misses: float = Field(
        default=SILENCE_HEARTBEATS, gt=0, description="Silence allowed, in heartbeat intervals."
    )
    heartbeat_seconds: float = Field(
        default=HEARTBEAT_SECONDS,
        gt=0,
        description="Heartbeat interval assumed when a heartbeat does not say its own.",
    )
    max_oldest_age_seconds: float = Field(
        default=300.0, gt=0, description="Oldest waiting message allowed, in seconds."
    )
    heartbeat_lookback_seconds: float = Field(
        default=24 * 3600.0, gt=0, description="How far back to look for a heartbeat."
    )
    runs_window_seconds: float = Field(
        default=3600.0, gt=0, description="Window of the `runs_last_hour` count."
    )


class QueueObservation(BaseModel):
    """What SQS (and CloudWatch) say about a domain's queue and DLQ."""

    model_config = ConfigDict(frozen=True)

    queue: str
    dlq: str
    visible: int = Field(description="ApproximateNumberOfMessages: waiting.")
    in_flight: int = Field(description="ApproximateNumberOfMessagesNotVisible: being handled.")
    delayed: int = Field(default=0, description="ApproximateNumberOfMessagesDelayed.")
    dlq_depth: int = Field(description="Messages in the DLQ, visible or not.")
    oldest_age_seconds: float | None = Field(
        default=None, description="Age of the oldest waiting message; None: none, or unknown."
    )
    oldest_age_source: AgeSource = AgeSource.off
    oldest_age_note: str | None = Field(default=None, description="Why the age is unknown.")


class ListenerHeartbeat(BaseModel):
    """A domain listener's latest heartbeat event."""

    model_config = ConfigDict(frozen=True)

    occurred: datetime
    phase: str | None = None
    interval_seconds: float | None = None
    host: str | None = None
    pid: int | None = None
    counters: dict[str, Any] = Field(
        default_factory=dict,
        description="received, runs_created, runs_existing, acked, filtered, dead_lettered, "
        "retried, last_event_at, last_event_type.",
    )


class DomainStatus(BaseModel):
    """One subscribing domain's health, and the facts it rests on."""

    domain: str
    checked_at: datetime
    healthy: bool
    reasons: list[str] = Field(default_factory=list, description="Why it is unhealthy.")
    notes: list[str] = Field(default_factory=list, description="Worth knowing; not unhealthy.")
    queue: str | None = None
    dlq: str | None = None
    visible: int | None = None
    in_flight: int | None = None
    delayed: int | None = None
    dlq_depth: int | None = None
    oldest_age_seconds: float | None = None
    oldest_age_source: AgeSource = AgeSource.off
    listener_observed: bool = Field(
        default=True, description="False: heartbeats could not be read (Prefect unreachable)."
    )
    last_heartbeat_at: datetime | None = None
    heartbeat_phase: str | None = None
    heartbeat_age_seconds: float | None = None
    heartbeat_interval_seconds: float | None = None
    listener_host: str | None = None
    listener_counters: dict[str, Any] = Field(default_factory=dict)
    runs_last_hour: int | None = Field(
        default=None,
        description="Runs tagged `federation` of the domain's deployments expected to start "
        "in the window (the listener schedules them at once).",
    )


# -- rules -----------------------------------------------------------------------------------------


def format_duration(seconds: float) -> str:
    """`42s`, `3m 05s`, `2h 07m`, `3d 04h`."""
    total = max(0, round(seconds))
    if total < 60:
        return f"{total}s"
    minutes, secs = divmod(total, 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h {minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours:02d}h"


def heartbeat_age(heartbeat: ListenerHeartbeat, now: datetime) -> float:
    """Seconds since the heartbeat; 0 when its clock is ahead of ours."""
    return max(0.0, (now - heartbeat.occurred).total_seconds())


def allowed_silence(heartbeat: ListenerHeartbeat | None, thresholds: HealthThresholds) -> float:
    """Seconds a listener may stay silent: misses x its own interval (or the assumed one)."""
    interval = (heartbeat.interval_seconds if heartbeat else None) or thresholds.heartbeat_seconds
    return thresholds.heartbeat_misses * interval


def _listener_reasons(
    domain: str, heartbeat: ListenerHeartbeat | None, now: datetime, thresholds: HealthThresholds
) -> list[str]:
    if heartbeat is None:
        return [
            "listener never seen: no heartbeat in the last "
            f"{format_duration(thresholds.heartbeat_lookback_seconds)} (is "
            f"`prefect-federation listen --domain {domain}` running against this Prefect server?)"
        ]
    if heartbeat.phase == "stopped":
        return [
            f"listener stopped {format_duration(heartbeat_age(heartbeat, now))} ago "
            f"(its last heartbeat, from {heartbeat.host or 'an unknown host'}, said so)"
        ]
    silent = heartbeat_age(heartbeat, now)
    allowed = allowed_silence(heartbeat, thresholds)
    if silent > allowed:
        return [
            f"listener silent for {format_duration(silent)} (allowed "
            f"{format_duration(allowed)}: {thresholds.heartbeat_misses:g} x its "
            f"{format_duration(allowed / thresholds.heartbeat_misses)} heartbeat)"
        ]
    return []


def health_reasons(
    domain: str,
    queue: QueueObservation | None,
    heartbeat: ListenerHeartbeat | None,
    now: datetime,
    thresholds: HealthThresholds,
    *,
    missing_deployments: Iterable[str] = (),
    problems: Iterable[str] = (),
    listener_observed: bool = True,
) -> list[str]:
    """Why `domain` is unhealthy ([] when it is healthy). Pure: data in, reasons out.

    `problems` are facts that could not be observed; `listener_observed=False` (heartbeats could
    not be read) skips the listener rules, since a problem already says why.
    """
    reasons = list(problems)
    if queue is not None:
        if queue.dlq_depth > 0:
            reasons.append(
                f"DLQ {queue.dlq} holds {queue.dlq_depth} message(s): see "
                f"`prefect-federation dlq list --domain {domain}`"
            )
        if (
            queue.oldest_age_seconds is not None
            and queue.oldest_age_seconds > thresholds.max_oldest_age_seconds
        ):
            reasons.append(
                f"oldest waiting message is {format_duration(queue.oldest_age_seconds)} old "
                f"(more than {format_duration(thresholds.max_oldest_age_seconds)})"
            )
    if listener_observed:
        reasons.extend(_listener_reasons(domain, heartbeat, now, thresholds))
    reasons.extend(
        f"deployment {name!r} does not exist on the domain's Prefect server (its events will "
        "be dead-lettered)"
        for name in missing_deployments
    )
    return reasons


def build_status(
    domain: str,
    queue: QueueObservation | None,
    heartbeat: ListenerHeartbeat | None,
    now: datetime,
    thresholds: HealthThresholds,
    *,
    runs_last_hour: int | None = None,
    missing_deployments: Iterable[str] = (),
    problems: Iterable[str] = (),
    notes: Iterable[str] = (),
    listener_observed: bool = True,
) -> DomainStatus:
    """The status of one domain from its observed facts. Pure."""
    reasons = health_reasons(
        domain,
        queue,
        heartbeat,
        now,
        thresholds,
        missing_deployments=missing_deployments,
        problems=problems,
        listener_observed=listener_observed,
    )
    all_notes = list(notes)
    if queue is not None and queue.oldest_age_note:
        all_notes.append(queue.oldest_age_note)
    status = DomainStatus(
        domain=domain,
        checked_at=now,
        healthy=not reasons,
        reasons=reasons,
        notes=all_notes,
        runs_last_hour=runs_last_hour,
        listener_observed=listener_observed,
    )
    if queue is not None:
        status = status.model_copy(
            update={
                "queue": queue.queue,
                "dlq": queue.dlq,
                "visible": queue.visible,
                "in_flight": queue.in_flight,
                "delayed": queue.delayed,
                "dlq_depth": queue.dlq_depth,
                "oldest_age_seconds": queue.oldest_age_seconds,
                "oldest_age_source": queue.oldest_age_source,
            }
        )
    if heartbeat is not None:
        status = status.model_copy(
            update={
                "last_heartbeat_at": heartbeat.occurred,
                "heartbeat_phase": heartbeat.phase,
                "heartbeat_age_seconds": heartbeat_age(heartbeat, now),
                "heartbeat_interval_seconds": heartbeat.interval_seconds,
                "listener_host": heartbeat.host,
                "listener_counters": heartbeat.counters,
            }
        )
    return status


def heartbeat_from_event(occurred: datetime, payload: Mapping[str, Any]) -> ListenerHeartbeat:
    """A ListenerHeartbeat from a heartbeat event's time and payload (see `heartbeat.py`)."""
    counters = {
        k: v for k, v in payload.items() if k not in {"phase", "pid", "host", "interval_seconds"}
    }
    interval = payload.get("interval_seconds")
    pid = payload.get("pid")
    return ListenerHeartbeat(
        occurred=occurred if occurred.tzinfo else occurred.replace(tzinfo=UTC),
        phase=payload.get("phase") if isinstance(payload.get("phase"), str) else None,
        interval_seconds=float(interval) if isinstance(interval, int | float) else None,
        host=payload.get("host") if isinstance(payload.get("host"), str) else None,
        pid=pid if isinstance(pid, int) else None,
        counters=counters,
    )
