"""`PrefectCapacityProbe`: what it reads of a deployment, and that a check after the first is one
round trip (the dependent reads go out with the deployment's own), redone when the deployment
changed. A fake client: no server."""

from __future__ import annotations

import threading
from types import SimpleNamespace
from typing import Any
from uuid import UUID, uuid4

import pytest

from prefect_federation.listener.capacity import PrefectCapacityProbe


class Client:
    """Answers as Prefect would; records each call (and the deployment id a count filtered)."""

    def __init__(self, deployment: Any) -> None:
        self.deployment = deployment
        self.calls: list[tuple[str, Any]] = []
        self.waiting = 2
        self.running = 1
        self.hold_deployment_read: threading.Event | None = None
        self._lock = threading.Lock()

    def _record(self, name: str, value: Any) -> None:
        with self._lock:
            self.calls.append((name, value))

    def read_deployment_by_name(self, name: str) -> Any:
        if self.hold_deployment_read is not None:  # until the dependent reads went out too
            assert self.hold_deployment_read.wait(5), "the dependent reads waited for this one"
        self._record("deployment", name)
        return self.deployment

    def read_work_pool(self, name: str) -> Any:
        self._record("pool", name)
        return SimpleNamespace(status=SimpleNamespace(value="READY"))

    def count_flow_runs(self, flow_run_filter: Any) -> int:
        states = sorted(s.value for s in flow_run_filter.state.type.any_)
        self._record("count " + "+".join(states), flow_run_filter.deployment_id.any_[0])
        if self.hold_deployment_read is not None:
            self.hold_deployment_read.set()
        return self.running if states == ["RUNNING"] else self.waiting


def deployment(limit: int | None = None, pool: str = "pool-a", id: UUID | None = None) -> Any:
    return SimpleNamespace(
        id=id or uuid4(),
        work_pool_name=pool,
        global_concurrency_limit=SimpleNamespace(limit=limit) if limit is not None else None,
    )


def test_the_first_read_reads_the_deployment_then_its_pool_and_waiting_runs() -> None:
    found = deployment()
    client = Client(found)

    capacity = PrefectCapacityProbe(client).read("flow/dep")  # type: ignore[arg-type]

    assert client.calls[0] == ("deployment", "flow/dep")
    assert sorted(client.calls[1:]) == [("count PENDING+SCHEDULED", found.id), ("pool", "pool-a")]
    assert capacity.waiting == 2
    assert capacity.running is None  # no limit: nothing to count them against
    assert capacity.pool_status == "READY"
    assert capacity.work_pool == "pool-a"


def test_with_a_concurrency_limit_the_running_runs_are_counted_too() -> None:
    found = deployment(limit=3)
    client = Client(found)

    capacity = PrefectCapacityProbe(client).read("flow/dep")  # type: ignore[arg-type]

    assert ("count RUNNING", found.id) in client.calls
    assert (capacity.running, capacity.waiting, capacity.concurrency_limit) == (1, 2, 3)


def test_a_later_read_sends_the_dependent_reads_with_the_deployments_own() -> None:
    """The deployment's read is held until a count arrives: read one after the other, the
    probe would wait for it (and fail the fake's assertion)."""
    client = Client(deployment())
    probe = PrefectCapacityProbe(client)  # type: ignore[arg-type]
    probe.read("flow/dep")
    client.calls.clear()
    client.hold_deployment_read = threading.Event()
    client.waiting = 5

    capacity = probe.read("flow/dep")

    assert sorted(name for name, _ in client.calls) == [
        "count PENDING+SCHEDULED",
        "deployment",
        "pool",
    ]
    assert capacity.waiting == 5


@pytest.mark.parametrize(
    "change",
    [
        {"id": uuid4()},  # deleted and made again
        {"pool": "pool-b"},
        {"limit": 1},
    ],
    ids=["recreated", "moved", "limited"],
)
def test_when_the_deployment_changed_its_dependent_reads_are_made_again_from_it(
    change: dict[str, Any],
) -> None:
    first = deployment()
    client = Client(first)
    probe = PrefectCapacityProbe(client)  # type: ignore[arg-type]
    probe.read("flow/dep")
    changed = deployment(
        limit=change.get("limit"), pool=change.get("pool", "pool-a"), id=change.get("id", first.id)
    )
    client.deployment = changed
    client.calls.clear()

    capacity = probe.read("flow/dep")

    redone = client.calls[-(3 if changed.global_concurrency_limit else 2) :]
    assert ("pool", changed.work_pool_name) in redone
    assert ("count PENDING+SCHEDULED", changed.id) in redone
    assert capacity.work_pool == changed.work_pool_name
    if changed.global_concurrency_limit:
        assert ("count RUNNING", changed.id) in redone
        assert capacity.running == 1
    client.calls.clear()
    probe.read("flow/dep")  # and the next read goes out at once again, with the new values
    assert ("count PENDING+SCHEDULED", changed.id) in client.calls
    assert len(client.calls) == (4 if changed.global_concurrency_limit else 3)
