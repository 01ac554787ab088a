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
from prefect.states import Cancelling, Pending, Running

from prefect_federation.events import EventEnvelope
from prefect_federation.executor import ExecutingLauncher, ForkExecutor
from prefect_federation.forkserver import SPARE_IDLE_ENV
from prefect_federation.listener.launcher import PrefectLauncher
from prefect_federation.listener.pipeline import RunRequest
from prefect_federation.local.reaper import live_processes
from prefect_federation.testing import wait_until

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def client(prefect_api: str) -> Any:
    with get_client(sync_client=True) as client:
        yield client


def deploy(
    client: SyncPrefectClient, work_pool: str, fn: str, flow_name: str, name: str = "executor-test"
) -> str:
    flow_id = client.create_flow_from_name(flow_name)
    client.create_deployment(
        flow_id=flow_id,
        name=name,
        work_pool_name=work_pool,
        entrypoint=f"tests/flows/probe.py:{fn}",
        pull_steps=[{"prefect.deployments.steps.set_working_directory": {"directory": str(ROOT)}}],
    )
    return f"{flow_name}/{name}"


@pytest.fixture(scope="module")
def executor(client: SyncPrefectClient, work_pool: str, tmp_path_factory: Any) -> Any:
    names = [
        deploy(client, work_pool, "write", "probe-write"),
        deploy(client, work_pool, "sleep", "probe-sleep"),
        deploy(client, work_pool, "die", "probe-die"),
        deploy(client, work_pool, "count", "probe-count"),
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

    started = executor.started_count

    assert executor.submit(run_id) is False

    assert run_id not in executor.running  # nothing was handed to the fork server
    assert executor.started_count == started
    assert client.read_flow_run(run_id).state.type == StateType.PENDING
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
    deadline = time.monotonic() + 30  # the child may still be draining its logs
    while run_id in executor.running and time.monotonic() < deadline:
        time.sleep(0.1)
    assert run_id not in executor.running


def dead_pid() -> int:
    """The pid of a process that has exited (a runner killed with SIGKILL leaves just that)."""
    import subprocess
    import sys

    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def executions(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


def test_a_redelivered_event_does_not_execute_its_completed_run_again(
    client: SyncPrefectClient, executor: ForkExecutor, tmp_path: Path
) -> None:
    counter = tmp_path / "count.txt"
    envelope = EventEnvelope(source="ingestion", type="ingestion.completed")
    request = RunRequest(
        deployment="probe-count/executor-test",
        parameters={"path": str(counter)},
        idempotency_key=f"test:{envelope.id}",
        name="redelivered",
        envelope=envelope,
    )
    launcher = ExecutingLauncher(PrefectLauncher(client, emit_events=False), executor)

    first = launcher.start(request)
    wait_for_state(client, first.flow_run_id, {StateType.COMPLETED})
    again = launcher.start(request)  # the same event, delivered a second time
    run_id = again.flow_run_id
    time.sleep(0.1)
    while run_id in executor.running:
        time.sleep(0.1)

    assert (first.created, again.created) == (True, False)
    assert again.flow_run_id == first.flow_run_id
    assert again.state_type == "COMPLETED"
    run = client.read_flow_run(run_id)
    assert run.state.type == StateType.COMPLETED
    assert run.run_count == 1
    assert executions(counter) == 1  # the flow body ran once, not only one run exists


def test_a_completed_run_is_not_claimed_again(
    client: SyncPrefectClient, executor: ForkExecutor, tmp_path: Path
) -> None:
    counter = tmp_path / "count.txt"
    run_id = create_run(client, "probe-count/executor-test", path=str(counter))
    assert executor.submit(run_id) is True
    wait_for_state(client, run_id, {StateType.COMPLETED})
    while run_id in executor.running:
        time.sleep(0.05)

    assert executor.submit(run_id) is False  # what a replay or a fallback race would do

    assert client.read_flow_run(run_id).state.type == StateType.COMPLETED
    assert executions(counter) == 1


def test_a_run_claimed_by_a_runner_that_was_killed_is_run_after_restart(
    client: SyncPrefectClient, work_pool: str, tmp_path: Path
) -> None:
    counter = tmp_path / "count.txt"
    # a deployment the module's running executor does not serve
    deploy(client, work_pool, "count", "probe-count", "restart-test")
    run_id = create_run(client, "probe-count/restart-test", path=str(counter))
    # What a runner killed by SIGKILL between its claim and the fork leaves: PENDING, pid gone.
    killed = ForkExecutor(client, [], poll_seconds=3600)
    client.set_flow_run_state(
        run_id, Pending(message=f"claimed by fork runner pid {dead_pid()} on {killed.host}")
    )
    restarted = ForkExecutor(client, ["probe-count/restart-test"], poll_seconds=3600)
    restarted.start()
    try:
        run = wait_for_state(client, run_id, {StateType.COMPLETED, StateType.CRASHED})
    finally:
        restarted.stop(grace=10)

    assert run_id in restarted.recovered
    assert run.state.type == StateType.COMPLETED
    assert executions(counter) == 1


def test_a_run_whose_forked_process_died_with_its_runner_is_marked_crashed(
    client: SyncPrefectClient, executor: ForkExecutor, tmp_path: Path
) -> None:
    run_id = create_run(client, "probe-count/executor-test", path=str(tmp_path / "c.txt"))
    client.set_flow_run_state(run_id, Pending(message="claimed by a worker"), force=True)
    client.set_flow_run_state(run_id, Running(), force=True)
    client.update_flow_run(run_id, infrastructure_pid=f"fork:{executor.host}:{dead_pid()}")

    recovered = executor.recover_orphans()

    assert run_id in recovered
    run = wait_for_state(client, run_id, {StateType.CRASHED})
    assert "died with its fork runner" in (run.state.message or "")


def test_a_pending_run_claimed_by_an_ordinary_worker_is_left_alone(
    client: SyncPrefectClient, executor: ForkExecutor, tmp_path: Path
) -> None:
    run_id = create_run(client, "probe-count/executor-test", path=str(tmp_path / "c.txt"))
    client.set_flow_run_state(run_id, Pending())  # a Prefect worker's claim

    assert run_id not in executor.recover_orphans()
    assert client.read_flow_run(run_id).state.type == StateType.PENDING


def test_the_runner_is_its_pools_worker_so_the_pool_is_ready(
    client: SyncPrefectClient, executor: ForkExecutor, work_pool: str
) -> None:
    workers = client.read_workers_for_work_pool(work_pool)

    assert executor.worker_name in [w.name for w in workers]
    assert str(client.read_work_pool(work_pool).status.value) == "READY"


def _children(pid: int) -> list[int]:
    return [child for child, parent, _ in live_processes() if parent == pid]


def test_an_idle_runner_retires_its_spare_and_runs_the_next_run_once(
    client: SyncPrefectClient, work_pool: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # one of this test's own: the module's executor does not poll it
    deploy(client, work_pool, "count", "probe-count", "spare-idle")
    monkeypatch.setenv(SPARE_IDLE_ENV, "1")
    runner = ForkExecutor(client, ["probe-count/spare-idle"], log_path=str(tmp_path / "fork.log"))
    runner.start()
    try:
        server = runner._server.pid
        wait_until(lambda: _children(server), 10, "no spare was forked ahead")
        wait_until(lambda: not _children(server), 10, "the idle spare was not retired")

        executions = tmp_path / "executions.txt"
        run_id = create_run(client, "probe-count/spare-idle", path=str(executions))
        assert runner.submit(run_id) is True  # no spare: the run forks its own child
        run = wait_for_state(client, run_id, {StateType.COMPLETED, StateType.CRASHED}, 60)
        assert run.state.type == StateType.COMPLETED
        assert len(executions.read_text().splitlines()) == 1  # executed once

        wait_until(lambda: not _children(server), 15, "the next spare was not retired")
        runner.prepare()  # messages arrived: a spare warms up before their runs exist
        wait_until(lambda: _children(server), 10, "prepare forked no spare")
        again = create_run(client, "probe-count/spare-idle", path=str(executions))
        assert runner.submit(again) is True
        wait_for_state(client, again, {StateType.COMPLETED}, 60)
        assert len(executions.read_text().splitlines()) == 2
    finally:
        runner.stop(grace=5)
