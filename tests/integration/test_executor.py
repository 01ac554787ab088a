"""The warm fork executor against a Prefect server: runs, claims, cancellation, crashes."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from prefect.client.orchestration import SyncPrefectClient, get_client
from prefect.client.schemas.objects import StateType
from prefect.states import Cancelling, Pending

from prefect_federation.executor import ForkExecutor

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def client(prefect_api: str) -> Any:
    with get_client(sync_client=True) as client:
        yield client


def deploy(client: SyncPrefectClient, work_pool: str, fn: str, flow_name: str) -> str:
    flow_id = client.create_flow_from_name(flow_name)
    client.create_deployment(
        flow_id=flow_id,
        name="executor-test",
        work_pool_name=work_pool,
        entrypoint=f"tests/flows/probe.py:{fn}",
        pull_steps=[{"prefect.deployments.steps.set_working_directory": {"directory": str(ROOT)}}],
    )
    return f"{flow_name}/executor-test"


@pytest.fixture(scope="module")
def executor(client: SyncPrefectClient, work_pool: str, tmp_path_factory: Any) -> Any:
    names = [
        deploy(client, work_pool, "write", "probe-write"),
        deploy(client, work_pool, "sleep", "probe-sleep"),
        deploy(client, work_pool, "die", "probe-die"),
    ]
    log = tmp_path_factory.mktemp("executor") / "forkserver.log"
    executor = ForkExecutor(client, names, poll_seconds=1.0, log_path=str(log))
    executor.start()
    yield executor
    executor.stop(grace=5)


def create_run(client: SyncPrefectClient, name: str, **parameters: Any) -> UUID:
    deployment = client.read_deployment_by_name(name)
    return client.create_flow_run_from_deployment(deployment.id, parameters=parameters).id


def wait_for_state(
    client: SyncPrefectClient, flow_run_id: UUID, states: set[StateType], timeout: float = 60
) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = client.read_flow_run(flow_run_id)
        if run.state is not None and run.state.type in states:
            return run
        time.sleep(0.2)
    raise AssertionError(f"run {flow_run_id} never reached {states}: {run.state}")


def test_a_pushed_run_executes_with_its_parameters_in_a_forked_child(
    client: SyncPrefectClient, executor: ForkExecutor, tmp_path: Path
) -> None:
    marker = tmp_path / "out.json"
    run_id = create_run(client, "probe-write/executor-test", path=str(marker), value=21)

    assert executor.submit(run_id) is True

    run = wait_for_state(client, run_id, {StateType.COMPLETED, StateType.FAILED, StateType.CRASHED})
    assert run.state.type == StateType.COMPLETED
    assert json.loads(marker.read_text())["value"] == 21
    assert (run.infrastructure_pid or "").startswith("fork:")


def test_a_run_is_started_once_even_when_submitted_twice(
    client: SyncPrefectClient, executor: ForkExecutor, tmp_path: Path
) -> None:
    marker = tmp_path / "once.json"
    run_id = create_run(client, "probe-write/executor-test", path=str(marker), value=1)

    first = executor.submit(run_id)
    second = executor.submit(run_id)

    assert (first, second) == (True, False)
    wait_for_state(client, run_id, {StateType.COMPLETED})


def test_a_run_someone_else_claimed_is_not_started(
    client: SyncPrefectClient, executor: ForkExecutor, tmp_path: Path
) -> None:
    marker = tmp_path / "claimed.json"
    run_id = create_run(client, "probe-write/executor-test", path=str(marker), value=2)
    client.set_flow_run_state(run_id, Pending())  # a worker got there first

    assert executor.submit(run_id) is False
    time.sleep(1.5)
    assert not marker.exists()


def test_a_run_created_elsewhere_is_picked_up_by_the_fallback_poll(
    client: SyncPrefectClient, executor: ForkExecutor, tmp_path: Path
) -> None:
    marker = tmp_path / "polled.json"
    run_id = create_run(client, "probe-write/executor-test", path=str(marker), value=3)

    run = wait_for_state(client, run_id, {StateType.COMPLETED}, timeout=30)

    assert run.state.type == StateType.COMPLETED
    assert json.loads(marker.read_text())["value"] == 3


def test_a_child_that_dies_marks_its_run_crashed(
    client: SyncPrefectClient, executor: ForkExecutor
) -> None:
    run_id = create_run(client, "probe-die/executor-test", code=3)

    assert executor.submit(run_id) is True

    run = wait_for_state(client, run_id, {StateType.CRASHED, StateType.COMPLETED, StateType.FAILED})
    assert run.state.type == StateType.CRASHED
    assert "code 3" in (run.state.message or "")


def test_cancelling_a_running_run_terminates_its_child_and_marks_it_cancelled(
    client: SyncPrefectClient, executor: ForkExecutor, tmp_path: Path
) -> None:
    marker = tmp_path / "sleeping"
    run_id = create_run(client, "probe-sleep/executor-test", seconds=120, path=str(marker))
    assert executor.submit(run_id) is True
    wait_for_state(client, run_id, {StateType.RUNNING})

    client.set_flow_run_state(run_id, Cancelling(), force=True)

    run = wait_for_state(client, run_id, {StateType.CANCELLED, StateType.CRASHED}, timeout=30)
    assert run.state.type == StateType.CANCELLED  # never reported as a crash on the way
    assert run_id not in executor.running
