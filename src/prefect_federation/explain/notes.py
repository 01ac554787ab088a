"""The facts of a subscription that are not runs or messages: pauses, holds, skips."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from prefect_federation.declarations import Federation
from prefect_federation.explain.gather import DomainNote

if TYPE_CHECKING:
    from prefect.client.orchestration import SyncPrefectClient

__all__ = ["pause_notes"]


def pause_notes(
    federation: Federation, clients: Mapping[str, SyncPrefectClient]
) -> DomainNote | None:
    """No pause state yet: nothing to add."""
    return None
