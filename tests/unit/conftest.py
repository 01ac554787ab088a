"""Unit-test fixtures: declarations built in memory, and the sample bodies in tests/events."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from prefect_federation.declarations import DomainDeclaration, Federation, build_federation
from prefect_federation.testing import InMemoryQueueAdmin

from .busy_api import BusyApi, busy_api_server
from .queue_fakes import PREFIX, Clock

EVENTS = Path(__file__).resolve().parent.parent / "events"

INGESTION_SCHEMA = {
    "type": "object",
    "required": ["snapshot_date"],
    "properties": {"snapshot_date": {"type": "string"}, "rows": {"type": "integer"}},
}


@pytest.fixture
def sample_body() -> Callable[[str], str]:
    """Reads tests/events/<name>."""

    def read(name: str) -> str:
        return (EVENTS / name).read_text()

    return read


@pytest.fixture
def scoring() -> DomainDeclaration:
    """A domain with one envelope subscription (filtered on region) and one raw subscription."""
    return DomainDeclaration.model_validate(
        {
            "domain": "scoring",
            "publishes": [{"type": "scoring.completed"}],
            "subscribes": [
                {
                    "event": "ingestion.completed",
                    "filter": {"region": ["north", "south"]},
                    "deployment": "score/daily",
                    "parameters": {
                        "snapshot_date": "{{ event.data.snapshot_date }}",
                        "rows": "{{ event.data.rows }}",
                        "label": "rows={{ event.data.rows }}",
                        "trigger": {
                            "event_id": "{{ event.id }}",
                            "chain": ["{{ event.correlationid }}", "fixed"],
                        },
                    },
                },
                {
                    "event": "airflow.exported",
                    "source": "airflow",
                    "adapter": "raw",
                    "deployment": "import/table",
                    "parameters": {"table": "{{ event.data.table }}", "ds": "{{ event.data.ds }}"},
                },
            ],
        }
    )


@pytest.fixture
def ingestion() -> DomainDeclaration:
    """The upstream of `scoring`: publishes `ingestion.completed` with a data schema."""
    return DomainDeclaration.model_validate(
        {
            "domain": "ingestion",
            "publishes": [{"type": "ingestion.completed", "schema": INGESTION_SCHEMA}],
        }
    )


@pytest.fixture
def federation(ingestion: DomainDeclaration, scoring: DomainDeclaration) -> Federation:
    return build_federation([("ingestion.yaml", ingestion), ("scoring.yaml", scoring)])


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def admin(clock: Clock) -> InMemoryQueueAdmin:
    """The scoring domain's queue and DLQ, in memory, on the test's clock."""
    admin = InMemoryQueueAdmin(clock=clock)
    admin.create_queue(f"{PREFIX}scoring-inbox")
    admin.create_queue(f"{PREFIX}scoring-inbox-dlq")
    return admin


@pytest.fixture
def busy_api() -> Iterator[BusyApi]:
    """A 'Prefect API' that answers 503 while its database is busy (tests/unit/busy_api.py)."""
    with busy_api_server() as api:
        yield api
