"""The run-label contract: how a flow run names the event that started it.

Every run the listener creates carries its triggering event twice (`run_labels`, `run_tags`):

- labels, key -> value, for code: `federation.event.id/type/source/time`,
  `federation.correlation.id` and, for every event but a chain's first, `federation.causation.id`
  (the event that started the run that published this one);
- tags, for people in the Prefect UI: `correlation-id:<id>` first (the runs list shows the first
  tags and hides the rest), `event-type:<type>`, `event-id:<id>`, `source:<domain>`, then
  `federation` (what `status` counts).

Deployments are tagged `domain:<name>` (prefect.yaml); `trace` names a run's domain from it.

Chaining (`publishing.chain_context`), `trace`, `status`, the demo and the bench read these back
here (`read_chain`, `read_run_event`, `tag_value`): no other module spells the names, and a unit
test keeps it so. Other domains' listeners and runs already on the servers carry these exact
strings: renaming one is a change of the wire contract, not a refactoring.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, NamedTuple
from uuid import UUID

from prefect_federation.values import parse_time

if TYPE_CHECKING:
    from prefect_federation.events import EventEnvelope

__all__ = [
    "CAUSATION_ID",
    "CORRELATION_ID",
    "CORRELATION_TAG",
    "DOMAIN_TAG",
    "EVENT_ID",
    "EVENT_ID_TAG",
    "EVENT_SOURCE",
    "EVENT_TIME",
    "EVENT_TYPE",
    "EVENT_TYPE_TAG",
    "FEDERATION_TAG",
    "SOURCE_TAG",
    "ChainLink",
    "RunEvent",
    "correlation_tag",
    "domain_tag",
    "event_id_tag",
    "read_chain",
    "read_run_event",
    "run_labels",
    "run_tags",
    "tag",
    "tag_value",
]

# -- the names -------------------------------------------------------------------------------

EVENT_ID = "federation.event.id"
EVENT_TYPE = "federation.event.type"
EVENT_SOURCE = "federation.event.source"
EVENT_TIME = "federation.event.time"
CORRELATION_ID = "federation.correlation.id"
CAUSATION_ID = "federation.causation.id"

CORRELATION_TAG = "correlation-id"
EVENT_TYPE_TAG = "event-type"
EVENT_ID_TAG = "event-id"
SOURCE_TAG = "source"
DOMAIN_TAG = "domain"
FEDERATION_TAG = "federation"
"""A tag without a value: on every run the listener created."""


def tag(name: str, value: object) -> str:
    """`name:value`, the shape of every valued tag."""
    return f"{name}:{value}"


def correlation_tag(correlation_id: UUID | str) -> str:
    """The tag every run of a chain carries."""
    return tag(CORRELATION_TAG, correlation_id)


def event_id_tag(event_id: UUID | str) -> str:
    """The tag every run an event started carries."""
    return tag(EVENT_ID_TAG, event_id)


def domain_tag(domain: str) -> str:
    """The tag of a domain's deployments (and of its automations)."""
    return tag(DOMAIN_TAG, domain)


# -- the writer ------------------------------------------------------------------------------


def run_tags(envelope: EventEnvelope) -> list[str]:
    """Tags that make the run findable in the Prefect UI by chain and event (chain first: it is
    what a person looks for, and the UI shows the first tags)."""
    return [
        correlation_tag(envelope.correlationid),
        tag(EVENT_TYPE_TAG, envelope.type),
        event_id_tag(envelope.id),
        tag(SOURCE_TAG, envelope.source),
        FEDERATION_TAG,
    ]


def run_labels(envelope: EventEnvelope) -> dict[str, str]:
    """Key-value labels carrying the triggering event (read back by `read_run_event`)."""
    labels = {
        EVENT_ID: str(envelope.id),
        EVENT_TYPE: envelope.type,
        EVENT_SOURCE: envelope.source,
        CORRELATION_ID: str(envelope.correlationid),
        EVENT_TIME: envelope.time.isoformat(),
    }
    if envelope.causationid is not None:
        labels[CAUSATION_ID] = str(envelope.causationid)
    return labels


# -- the readers -----------------------------------------------------------------------------


def tag_value(tags: Iterable[str], name: str) -> str | None:
    """The value of the first `name:<value>` tag; None when there is none."""
    prefix = f"{name}:"
    return next((t.removeprefix(prefix) for t in tags if t.startswith(prefix)), None)


@dataclass(frozen=True)
class RunEvent:
    """The triggering event as a run's labels name it; None where a label is missing."""

    event_id: UUID | None = None
    event_type: str | None = None
    event_source: str | None = None
    event_time: datetime | None = None
    correlation_id: UUID | None = None
    causation_id: UUID | None = None


def read_run_event(labels: Mapping[str, object] | None) -> RunEvent:
    """The event named by a run's labels (`run_labels`). Lenient, for showing runs: a value that
    does not parse reads as None, and a time without a zone as UTC."""
    found = {str(k): str(v) for k, v in (labels or {}).items()}
    return RunEvent(
        event_id=_uuid(found.get(EVENT_ID)),
        event_type=found.get(EVENT_TYPE),
        event_source=found.get(EVENT_SOURCE),
        event_time=parse_time(found.get(EVENT_TIME)),
        correlation_id=_uuid(found.get(CORRELATION_ID)),
        causation_id=_uuid(found.get(CAUSATION_ID)),
    )


class ChainLink(NamedTuple):
    """Where a run sits in its chain: what an event it publishes carries along."""

    correlation_id: UUID | None
    event_id: UUID | None


def read_chain(labels: Mapping[str, object] | None, tags: Iterable[str]) -> ChainLink:
    """The chain and the event that started a run: from its labels, else from its tags.

    Strict, for chaining: a value that is not a UUID raises ValueError, so a run whose chain
    cannot be read fails its publish instead of silently starting a new chain.
    """
    found = {str(k): str(v) for k, v in (labels or {}).items()}
    tags = list(tags)
    correlation = found.get(CORRELATION_ID) or tag_value(tags, CORRELATION_TAG)
    event = found.get(EVENT_ID) or tag_value(tags, EVENT_ID_TAG)
    return ChainLink(
        correlation_id=UUID(correlation) if correlation else None,
        event_id=UUID(event) if event else None,
    )


def _uuid(value: str | None) -> UUID | None:
    if value is None:
        return None
    try:
        return UUID(value)
    except ValueError:
        return None
