"""What a chain's tree is built from: one `RunRecord` per flow run, read off its Prefect server.

A record is plain data (no client): the run's domain, `flow/deployment`, state and times, the
event that started it (its labels, `prefect_federation.labels`) and its page in the Prefect UI.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, computed_field

from prefect_federation.labels import DOMAIN_TAG, read_run_event, tag_value

if TYPE_CHECKING:
    from prefect.client.schemas.objects import FlowRun

__all__ = ["FINAL_STATES", "RunRecord", "record_from_flow_run", "sort_time", "ui_url_of"]

FINAL_STATES = frozenset({"COMPLETED", "FAILED", "CRASHED", "CANCELLED"})
"""Prefect's terminal state types: a run in one of them will not change any more."""


class RunRecord(BaseModel):
    """One flow run of the chain, as read from its Prefect server: what the tree is built from."""

    model_config = ConfigDict(frozen=True)

    id: UUID
    name: str
    server: str = Field(description="The API URL of the Prefect server the run lives on.")
    url: str | None = Field(default=None, description="The run's page in the Prefect UI.")
    domain: str | None = Field(
        default=None, description="Tag `domain:<d>` (from the deployment), else its work pool."
    )
    deployment: str | None = Field(default=None, description="`flow/deployment`.")
    state: str = Field(default="SCHEDULED", description="State type: COMPLETED, FAILED, ...")
    state_name: str | None = Field(default=None, description="State name, e.g. Late, Crashed.")
    message: str | None = Field(default=None, description="The state's message.")
    created: datetime | None = None
    start: datetime | None = None
    end: datetime | None = None
    event_id: UUID | None = Field(default=None, description="The event that started the run.")
    event_type: str | None = None
    event_source: str | None = None
    event_time: datetime | None = None
    causation_id: UUID | None = Field(
        default=None, description="The event that started the run that published this run's event."
    )

    @property
    def final(self) -> bool:
        return self.state in FINAL_STATES

    @computed_field  # type: ignore[prop-decorator]
    @property
    def duration_seconds(self) -> float | None:
        """Run time, start to end; None until it has both."""
        if self.start is None or self.end is None:
            return None
        return max(0.0, (self.end - self.start).total_seconds())

    def describe(self) -> str:
        """`scoring score-customers/scoring (run scoring.completed-1a2b3c4d)`."""
        return f"{self.domain or '?'} {self.deployment or '?'} (run {self.name})"


def sort_time(run: RunRecord) -> datetime:
    """When a run happened, for ordering: its start, else its creation, else its event's time."""
    return run.start or run.created or run.event_time or datetime.max.replace(tzinfo=UTC)


def ui_url_of(api_url: str) -> str:
    """The UI of a Prefect server from its API URL: `http://host:4200/api` -> `http://host:4200`."""
    return api_url.rstrip("/").removesuffix("/api")


def record_from_flow_run(
    run: FlowRun,
    server: str,
    *,
    deployment: str | None = None,
    deployment_tags: Sequence[str] = (),
    work_pool: str | None = None,
    ui_url: str | None = None,
) -> RunRecord:
    """A `RunRecord` from a Prefect `FlowRun` and what its deployment says."""
    event = read_run_event(run.labels)
    domain = tag_value([*(run.tags or []), *deployment_tags], DOMAIN_TAG)
    state = run.state
    ui = (ui_url or ui_url_of(server)).rstrip("/")
    return RunRecord(
        id=run.id,
        name=run.name,
        server=server,
        url=f"{ui}/runs/flow-run/{run.id}",
        domain=domain or work_pool or run.work_pool_name,
        deployment=deployment,
        state=state.type.value if state is not None else "SCHEDULED",
        state_name=state.name if state is not None else None,
        message=state.message if state is not None else None,
        created=_aware(run.created),
        start=_aware(run.start_time),
        end=_aware(run.end_time),
        event_id=event.event_id,
        event_type=event.event_type,
        event_source=event.event_source,
        event_time=event.event_time,
        causation_id=event.causation_id,
    )


def _aware(moment: datetime | None) -> datetime | None:
    """A Prefect time as an aware datetime (a naive one is UTC)."""
    if moment is None:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
