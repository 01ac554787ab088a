"""Listener heartbeats as Prefect events: liveness and counters where operators already look.

Each listener emits `prefect-federation.listener.heartbeat` (phase `started`, `alive` every
`heartbeat_seconds`, `stopped`) about the resource `prefect-federation.listener.<domain>`, with
its counters as the payload. `status` reads them back; a Prefect automation can alert on silence.
"""

from __future__ import annotations

import os
import socket
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prefect_federation.listener.consumer import Listener

__all__ = ["HEARTBEAT_EVENT", "emit_heartbeat", "listener_resource_id"]

HEARTBEAT_EVENT = "prefect-federation.listener.heartbeat"


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
