"""Listener heartbeats as Prefect events: liveness and counters where operators already look.

Each listener emits `prefect-federation.listener.heartbeat` (phase `started`, `alive` every
`heartbeat_seconds`, `stopped`) about the resource `prefect-federation.listener.<domain>`, with
its counters as the payload. `status` reads them back; a Prefect automation can alert on silence.

How often: as rarely as the silence alert allows, because every heartbeat is a line in Prefect's
event feed, where people look for the received events. A listener counts as silent (the
`alerts` automation triggers, `status` says unhealthy) after `SILENCE_HEARTBEATS` intervals
without a heartbeat, so one lost or late heartbeat never alerts. The default alert window,
`SILENCE_ALERT_MINUTES` (15 min), sets the default interval: 15 min / 3 = 5 min, that is one
feed line a minute for five listeners. `silence_alert_minutes` derives the window from an
interval (`PREFECT_FEDERATION_LISTENER_HEARTBEAT_SECONDS`) the other way round.
"""

from __future__ import annotations

import math
import os
import socket
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prefect_federation.listener.consumer import Listener

__all__ = [
    "HEARTBEAT_EVENT",
    "HEARTBEAT_SECONDS",
    "SILENCE_ALERT_MINUTES",
    "SILENCE_HEARTBEATS",
    "emit_heartbeat",
    "listener_resource_id",
    "silence_alert_minutes",
]

HEARTBEAT_EVENT = "prefect-federation.listener.heartbeat"

SILENCE_HEARTBEATS = 3
"""A listener is silent after this many heartbeat intervals without a heartbeat."""
SILENCE_ALERT_MINUTES = 15
"""The default window of the silence alert (`prefect-federation alerts --minutes`)."""
HEARTBEAT_SECONDS = SILENCE_ALERT_MINUTES * 60 / SILENCE_HEARTBEATS
"""The default heartbeat interval (300 s): the longest that still fits `SILENCE_HEARTBEATS`
heartbeats in the default alert window."""


def silence_alert_minutes(heartbeat_seconds: float) -> int:
    """The silence alert's window for listeners beating every `heartbeat_seconds`:
    `SILENCE_HEARTBEATS` intervals, in whole minutes (rounded up; at least 1)."""
    return max(1, math.ceil(SILENCE_HEARTBEATS * heartbeat_seconds / 60))


def listener_resource_id(domain: str) -> str:
    """The Prefect resource id of a domain's listener."""
    return f"prefect-federation.listener.{domain}"


def heartbeat_payload(listener: Listener, phase: str) -> dict[str, Any]:
    return {
        "phase": phase,
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "interval_seconds": listener.settings.heartbeat_seconds,
        **listener.stats.as_dict(),
        "held_back": listener.gate.held() if listener.gate is not None else {},
    }


def emit_heartbeat(listener: Listener, phase: str) -> None:
    """Emit one heartbeat event to the Prefect server the listener works for."""
    from prefect.events import emit_event

    domain = listener.domain.domain
    emit_event(
        event=HEARTBEAT_EVENT,
        resource={
            "prefect.resource.id": listener_resource_id(domain),
            "prefect.resource.name": f"listener {domain}",
            "federation.domain": domain,
            "federation.queue": listener.queue.describe(),
        },
        payload=heartbeat_payload(listener, phase),
    )
