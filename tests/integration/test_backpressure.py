"""Backpressure against moto server and a Prefect server: a deployment with concurrency limit 1
and slow runs never has more than `max_waiting` runs waiting, and every event runs exactly once;
a pool without a live worker holds its messages in SQS until a worker shows up."""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from prefect.client.orchestration import SyncPrefectClient, get_client
from prefect.client.schemas.actions import WorkPoolCreate
from prefect.client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterDeploymentId,
    FlowRunFilterState,
    FlowRunFilterStateType,
)
from prefect.client.schemas.objects import StateType
from test_ops import wait_for_heartbeat  # tests/integration is on sys.path (rootdir-relative)

from prefect_federation.executor import ExecutingLauncher, ForkExecutor
from prefect_federation.listener import Listener, PrefectLauncher
from prefect_federation.listener.capacity import CapacityGate, PrefectCapacityProbe
from prefect_federation.listener.gate import Gate
from prefect_federation.publisher import SnsPublisher
from prefect_federation.queue import SqsQueueClient
from prefect_federation.settings import ListenerSettings
from prefect_federation.testing import make_event

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def client(prefect_api: str) -> Any:
    with get_client(sync_client=True) as client:
        yield client


def count(client: SyncPrefectClient, deployment_id: Any, *states: StateType) -> int:
    return client.count_flow_runs(
        flow_run_filter=FlowRunFilter(
            deployment_id=FlowRunFilterDeploymentId(any_=[deployment_id]),
            state=FlowRunFilterState(type=FlowRunFilterStateType(any_=list(states))),
        )
    )


def world(provisioned: Any, deployment: str, **subscription: Any) -> tuple[Any, Any]:
    federation, report = provisioned(
        {"domain": "orders", "publishes": [{"type": "orders.placed"}]},
        {
            "domain": "billing",
            "subscribes": [{"event": "orders.placed", "deployment": deployment, **subscription}],
        },
    )
    return federation, report


def listener(federation: Any, report: Any, sqs: Any, launcher: Any, client: Any) -> Listener:
    gate = Gate(
        federation.domain("billing"),
        capacity=CapacityGate(PrefectCapacityProbe(client), ttl=0.5),
        hold_delay_seconds=1,
    )
    return Listener(
        federation.domain("billing"),
        SqsQueueClient(sqs, report.resources["billing"].queue_url),
        launcher,
        federation=federation,
        settings=ListenerSettings(domain="billing", wait_time_seconds=1, heartbeat_seconds=3600),
        gate=gate,
    )


def test_a_full_deployment_never_has_more_than_max_waiting_and_every_event_runs_once(
    provisioned: Any, sns: Any, sqs: Any, client: SyncPrefectClient, depth: Any, tmp_path: Path
) -> None:
    pool = f"bp-{uuid4().hex[:8]}"
    client.create_work_pool(WorkPoolCreate(name=pool, type="process"))
    flow_id = client.create_flow_from_name("probe-tally")
    deployment_id = client.create_deployment(
        flow_id=flow_id,
        name=pool,
        work_pool_name=pool,
        entrypoint="tests/flows/probe.py:tally",
        concurrency_limit=1,
        pull_steps=[{"prefect.deployments.steps.set_working_directory": {"directory": str(ROOT)}}],
    )
    name = f"probe-tally/{pool}"
    tally = tmp_path / "tally.txt"
    federation, report = world(
        provisioned,
        name,
        max_waiting=3,
        parameters={"path": str(tally), "key": "{{ event.data.key }}", "seconds": 0.5},
    )
    executor = ForkExecutor(client, [name], poll_seconds=0.5, log_path=str(tmp_path / "fork.log"))
    executor.start()
    subject = listener(
        federation, report, sqs, ExecutingLauncher(PrefectLauncher(client), executor), client
    )
    topic = SnsPublisher(sns, report.resources["orders"].topic_arn)
    for n in range(20):
        topic.publish(make_event("orders.placed", {"key": f"e{n}"}))
    loop = threading.Thread(target=subject.run, daemon=True)
    waiting_seen: list[int] = []
    active_seen: list[int] = []
    loop.start()
    started = time.monotonic()
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            waiting_seen.append(
                count(client, deployment_id, StateType.SCHEDULED, StateType.PENDING)
            )
            active_seen.append(waiting_seen[-1] + count(client, deployment_id, StateType.RUNNING))
            if count(client, deployment_id, StateType.COMPLETED) == 20:
                break
            time.sleep(0.2)
    finally:
        subject.stop()
        loop.join(30)
        executor.stop(grace=5)

    executions = Counter(tally.read_text().split())
    took = time.monotonic() - started
    print(f"max waiting {max(waiting_seen)}, max active {max(active_seen)}, took {took:.1f}s")
    print(subject.stats.as_dict())
    assert count(client, deployment_id, StateType.COMPLETED) == 20
    assert executions == Counter({f"e{n}": 1 for n in range(20)})  # every event, none twice
    assert max(waiting_seen) <= 3
    assert max(active_seen) <= 2  # the limit, and one run being claimed as the last one ends
    assert subject.stats.dead_lettered == 0
    assert subject.stats.retried > 0  # it did hold some back
    assert depth(report.resources["billing"].dlq_url) == (0, 0)


def status_text(federation: Any, directory: Path, domain: str) -> str:
    """`prefect-federation status --domain D` as a user runs it, over the written declarations."""
    import yaml
    from typer.testing import CliRunner

    from prefect_federation.cli import app

    directory.mkdir(exist_ok=True)
    for declaration in federation:
        dumped = declaration.model_dump(mode="json", by_alias=True, exclude_defaults=True)
        (directory / f"{declaration.domain}.yaml").write_text(yaml.safe_dump(dumped))
    result = CliRunner().invoke(app, ["status", "-d", str(directory), "--domain", domain])
    assert result.exit_code in (0, 1), result.output
    return " ".join(result.stdout.split())


def start_worker(pool: str) -> None:
    """What a starting `prefect worker start --pool P` does first: sync with the backend (its
    first heartbeat marks it, and so the pool, live)."""
    import asyncio

    from prefect.workers.process import ProcessWorker

    async def start() -> None:
        async with ProcessWorker(work_pool_name=pool, name="worker-1") as worker:
            await worker.sync_with_backend()

    asyncio.run(start())


def test_a_pool_without_a_live_worker_holds_then_drains_when_one_starts(
    provisioned: Any,
    sns: Any,
    sqs: Any,
    client: SyncPrefectClient,
    depth: Any,
    name_prefix: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from prefect_federation.heartbeat import emit_heartbeat

    pool = f"bp-{uuid4().hex[:8]}"
    client.create_work_pool(WorkPoolCreate(name=pool, type="process"))
    flow_id = client.create_flow_from_name("probe-idle")
    deployment_id = client.create_deployment(
        flow_id=flow_id, name=pool, work_pool_name=pool, entrypoint="flows/none.py:none"
    )
    federation, report = world(provisioned, f"probe-idle/{pool}")
    queue_url = report.resources["billing"].queue_url
    subject = listener(federation, report, sqs, PrefectLauncher(client), client)
    topic = SnsPublisher(sns, report.resources["orders"].topic_arn)
    for n in range(3):
        topic.publish(make_event("orders.placed", {"n": n}))

    for _ in range(3):
        subject.poll_once(1)
    assert count(client, deployment_id, *StateType) == 0
    [held] = subject.gate.held().values()  # type: ignore[union-attr]
    assert held["reason"] == f"work pool {pool} has no live worker or runner"
    assert sum(depth(queue_url)) == 3

    # the listener's heartbeat carries the hold, and `status` shows it: what, why, since when
    beat_at = datetime.now(UTC)
    emit_heartbeat(subject, "alive")
    held_back = wait_for_heartbeat("billing", beat_at).counters.get("held_back")
    assert isinstance(held_back, dict)
    assert list(held_back.values()) == [held]
    monkeypatch.setenv("PREFECT_FEDERATION_NAME_PREFIX", name_prefix)
    monkeypatch.setenv("COLUMNS", "400")
    text = status_text(federation, tmp_path / "deployments", "billing")
    assert (
        f"held back: probe-idle/{pool}: work pool {pool} has no live worker "
        f"or runner (since {held['since']})"
    ) in text, text

    start_worker(pool)
    deadline = time.monotonic() + 60
    while count(client, deployment_id, *StateType) < 3 and time.monotonic() < deadline:
        subject.poll_once(1)
    assert count(client, deployment_id, *StateType) == 3
    assert subject.gate.held() == {}  # type: ignore[union-attr]
    assert subject.stats.dead_lettered == 0
    assert sum(depth(queue_url)) == 0
