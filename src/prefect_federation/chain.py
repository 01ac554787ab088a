"""Follow one chain of domains through Prefect: the runs an event's correlation id started."""

from __future__ import annotations

from typing import TYPE_CHECKING
from uuid import UUID

if TYPE_CHECKING:
    from prefect.client.orchestration import SyncPrefectClient
    from prefect.client.schemas.objects import FlowRun

__all__ = ["chain_runs", "correlation_tag"]


def correlation_tag(correlation_id: UUID | str) -> str:
    """The tag every run of a chain carries (see `listener.pipeline.run_tags`)."""
    return f"correlation-id:{correlation_id}"


def chain_runs(client: SyncPrefectClient, correlation_id: UUID | str) -> list[FlowRun]:
    """Every flow run the chain started on this Prefect server, oldest first."""
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterTags
    from prefect.client.schemas.sorting import FlowRunSort

    return client.read_flow_runs(
        flow_run_filter=FlowRunFilter(
            tags=FlowRunFilterTags(all_=[correlation_tag(correlation_id)])
        ),
        sort=FlowRunSort.EXPECTED_START_TIME_ASC,
        limit=200,
    )
