"""What `status` says about a domain's joins and expectations, from its store."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from prefect_federation.joins.planner import missing_types

if TYPE_CHECKING:
    from prefect_federation.declarations import DomainDeclaration
    from prefect_federation.joins.store import JoinStore

__all__ = ["JoinSummary", "summarize"]


class JoinSummary(BaseModel):
    """Counts, and one line per join or expectation instance that needs a look."""

    model_config = ConfigDict(frozen=True)

    domain: str
    open: int = 0
    started: int = 0
    expired: int = 0
    late_events: int = 0
    sla_missed: int = 0
    sla_recovered: int = 0
    lines: list[str] = Field(default_factory=list)


def summarize(declaration: DomainDeclaration, store: JoinStore, limit: int = 20) -> JoinSummary:
    """Open and expired joins, late events, missed expectations: what `status` shows."""
    counts = {"open": 0, "started": 0, "expired": 0}
    lines: list[str] = []
    late = 0
    subscriptions = {s.join_id: s for s in declaration.joins()}
    for record in store.joins():
        counts[record.status] += 1
        late += len(record.late)
        where = f"join {record.subscription} [{record.key}]"
        arrived = ", ".join(sorted(record.arrivals))
        subscription = subscriptions.get(record.subscription)
        missing = ", ".join(missing_types(subscription, record)) if subscription else "?"
        if record.status == "open":
            until = record.expires_at.isoformat(timespec="seconds")
            lines.append(f"{where}: {arrived} arrived; waiting for {missing} until {until}")
        elif record.status == "expired":
            lines.append(f"{where}: expired with {arrived}; missing {missing}")
        if record.late:
            lines.append(f"{where}: {record.status}; late: {'; '.join(record.late)}")
    missed = recovered = 0
    for sla in store.expectations():
        if sla.missed_at is None:
            continue
        missed += 1
        what = f"expectation {sla.event} {sla.day}" + (f" {sla.value}" if sla.value else "")
        if sla.recovered_at is not None:
            recovered += 1
            lines.append(
                f"{what}: missed its deadline, arrived "
                f"{sla.arrived_at.isoformat(timespec='seconds') if sla.arrived_at else '?'}"
            )
        else:
            lines.append(f"{what}: missed its deadline; not arrived")
    shown = lines[:limit] + ([f"... and {len(lines) - limit} more"] if len(lines) > limit else [])
    return JoinSummary(
        domain=declaration.domain,
        late_events=late,
        sla_missed=missed,
        sla_recovered=recovered,
        lines=shown,
        **counts,
    )
