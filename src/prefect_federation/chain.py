"""Follow one chain of domains through Prefect: the runs an event's correlation id started."""

from __future__ import annotations

from typing import TYPE_CHECKING
from uuid import UUID

from prefect_federation.labels import correlation_tag

if TYPE_CHECKING:
    from prefect.client.orchestration import SyncPrefectClient
    from prefect.client.schemas.objects import FlowRun

__all__ = ["chain_runs"]


def chain_runs(
    client: SyncPrefectClient, correlation_id: UUID | str, *, limit: int = 200, offset: int = 0
) -> list[FlowRun]:
    """The flow runs the chain started on this Prefect server, oldest first: `limit` of them
    from `offset` (one page; `trace.RunReader` reads them all)."""
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterTags
    from prefect.client.schemas.sorting import FlowRunSort

    return client.read_flow_runs(
        flow_run_filter=FlowRunFilter(
            tags=FlowRunFilterTags(all_=[correlation_tag(correlation_id)])
        ),
        sort=FlowRunSort.EXPECTED_START_TIME_ASC,
        limit=limit,
        offset=offset,
    )
