"""The facts of a subscription that are neither runs nor messages: its pause, its listener's
hold (from the last heartbeat), the skip records. Read once per domain, lazily."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from uuid import UUID

from prefect_federation.declarations import DomainDeclaration, Federation, Subscription
from prefect_federation.explain.gather import DomainNote
from prefect_federation.listener.pause import PauseState, read_pause_state, subscription_key

if TYPE_CHECKING:
    from prefect.client.orchestration import SyncPrefectClient

    from prefect_federation.listener.skipped import SkipRecords

__all__ = ["pause_notes"]


def pause_notes(
    federation: Federation,
    clients: Mapping[str, SyncPrefectClient],
    skips: SkipRecords | None = None,
) -> DomainNote:
    """A `DomainNote` reading each domain's pause state and last heartbeat from its own server."""
    states: dict[str, PauseState] = {}
    holds: dict[str, dict[str, Any]] = {}
    skipped: dict[tuple[str, str], set[str]] = {}
    current = next(iter(clients.values()), None)

    def client_of(domain: DomainDeclaration) -> SyncPrefectClient | None:
        url = domain.resolved_prefect_api_url()
        return clients.get(url, current) if url else current

    def note(
        domain: DomainDeclaration, subscription: Subscription, event_id: UUID
    ) -> dict[str, str | None]:
        from prefect_federation.status.observation import read_last_heartbeat

        client = client_of(domain)
        key = subscription_key(subscription)
        if domain.domain not in states and client is not None:
            try:
                states[domain.domain] = read_pause_state(client, domain.domain)
            except Exception:
                states[domain.domain] = PauseState()
            try:
                beat = read_last_heartbeat(
                    client, domain.domain, datetime.now(UTC) - timedelta(hours=1)
                )
                held = beat.counters.get("held_back") if beat is not None else None
                holds[domain.domain] = held if isinstance(held, dict) else {}
            except Exception:
                holds[domain.domain] = {}
        entry = states.get(domain.domain, PauseState()).entry_for(subscription)
        hold = holds.get(domain.domain, {}).get(key)
        result: dict[str, str | None] = {
            "paused": entry.describe() if entry is not None and entry.mode == "hold" else None,
            "held_back": (
                f"{hold.get('reason')} (since {hold.get('since')})"
                if isinstance(hold, dict) and hold.get("kind") == "backpressure"
                else None
            ),
        }
        if skips is not None:
            if (domain.domain, key) not in skipped:
                try:
                    skipped[(domain.domain, key)] = skips.skipped_ids(domain.domain, key)
                except Exception:
                    skipped[(domain.domain, key)] = set()
            if str(event_id) in skipped[(domain.domain, key)]:
                result["skipped"] = entry.describe() if entry is not None else "pause since lifted"
        return result

    return note
