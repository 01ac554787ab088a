"""The listener as a process: `prefect-federation listen` end to end, when it is ready, and how
it stops: within its bound (8 s by default) after SIGTERM, SIGINT or SIGHUP, even while it
long-polls or executes a long flow run, and never leaving its fork server or flow runs behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from prefect.client.orchestration import get_client

from prefect_federation.chain import chain_runs
from prefect_federation.declarations import load_federation
from prefect_federation.local import LocalFederation, ManagedProcess, quiet_env
from prefect_federation.local.reaper import group_members
from prefect_federation.provision import provision
from prefect_federation.publisher import SnsPublisher
from prefect_federation.settings import FederationSettings, ListenerSettings
from prefect_federation.testing import make_event, wait_until

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
STOP_BOUND = ListenerSettings().stop_timeout_seconds


@pytest.fixture
def federation(tmp_path: Path) -> Iterator[LocalFederation]:
    """The test's listener processes: stopped at the end, pass or fail, and by the stack's
    reaper if this test run itself is killed."""
    with LocalFederation(tmp_path / "stack") as federation:
        yield federation


def launch(
    federation: LocalFederation, declarations: Path, prefix: str, prefect_api: str, *args: str
) -> ManagedProcess:
    """`prefect-federation listen --domain scoring ARGS`; waits until it is ready."""
    env = quiet_env(
        {
            "PREFECT_API_URL": prefect_api,
            "PREFECT_FEDERATION_DECLARATIONS": str(declarations),
            "PREFECT_FEDERATION_NAME_PREFIX": prefix,
            "PREFECT_FEDERATION_LISTENER_HEARTBEAT_SECONDS": "1",
        }
    )
    return federation.start_listener(
        "scoring", env, name="listener", args=args, cwd=ROOT, term_group=False, timeout=120
    )


def test_the_listener_process_turns_an_event_into_a_run_and_stops_cleanly_on_sigterm(
    aws_env: str,
    sns: Any,
    sqs: Any,
    name_prefix: str,
    prefect_api: str,
    scoring_domain_dir: Path,
    federation: LocalFederation,
) -> None:
    settings = FederationSettings(name_prefix=name_prefix)
    report = provision(load_federation(scoring_domain_dir), sns, sqs, settings)
    process = launch(federation, scoring_domain_dir, name_prefix, prefect_api, "--wait-time", "2")

    one_event_one_run_then_sigterm(process, sns, report.resources["customer-master"].topic_arn)


def one_event_one_run_then_sigterm(
    process: ManagedProcess, sns: Any, topic_arn: str | None, timeout: float = 30
) -> str:
    """Publish a `customer-master.completed` to the listener's upstream topic, wait for its run
    (with the event's `snapshot_date`), SIGTERM the listener: it exits 0, having said so and
    created that one run. Returns its output."""
    assert topic_arn is not None
    day = f"2026-11-{uuid4().int % 28 + 1:02d}"
    envelope = make_event("customer-master.completed", {"snapshot_date": day})
    SnsPublisher(sns, topic_arn).publish(envelope)
    deadline = time.monotonic() + timeout
    with get_client(sync_client=True) as client:  # on the server of this test's PREFECT_API_URL
        while not (runs := chain_runs(client, envelope.correlationid)):
            assert time.monotonic() < deadline, process.output()
            time.sleep(0.2)
    assert runs[0].parameters == {"snapshot_date": day}

    process.popen.send_signal(signal.SIGTERM)
    code = process.popen.wait(30)

    output = process.output()
    assert code == 0, output
    assert "SIGTERM: finishing what is in flight, taking nothing new" in output
    assert "'runs_created': 1" in output
    return output


def test_run_listener_once_turns_a_waiting_event_into_a_run_without_typer(
    aws_env: str, sns: Any, sqs: Any, name_prefix: str, prefect_api: str, scoring_domain_dir: Path
) -> None:
    from prefect_federation.listener.service import run_listener

    settings = FederationSettings(name_prefix=name_prefix, declarations=scoring_domain_dir)
    report = provision(load_federation(scoring_domain_dir), sns, sqs, settings)
    envelope = make_event("customer-master.completed", {"snapshot_date": "2026-11-21"})
    SnsPublisher(sns, report.resources["customer-master"].topic_arn).publish(envelope)

    code = run_listener("scoring", settings, once=True, wait_time=5)

    assert code == 0
    with get_client(sync_client=True) as client:
        runs = chain_runs(client, envelope.correlationid)
    assert [r.parameters for r in runs] == [{"snapshot_date": "2026-11-21"}]


def test_a_listener_for_an_unknown_domain_exits_2_naming_it(
    aws_env: str, scoring_domain_dir: Path, prefect_api: str
) -> None:
    env = quiet_env({"PREFECT_FEDERATION_DECLARATIONS": str(scoring_domain_dir)})
    cli = str(Path(sys.executable).with_name("prefect-federation"))
    result = subprocess.run(
        [cli, "listen", "--domain", "billing"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "unknown domain 'billing'" in result.stderr
    assert "scoring" in result.stderr


# -- readiness and stopping --------------------------------------------------------------------


def sleeper(seconds: float, path: str) -> None:
    """The parameter schema of tests/flows/probe.py:sleep."""


@pytest.fixture
def sleeping_domain(
    tmp_path: Path, prefect_api: str, work_pool: str, scoring_declarations: Any
) -> Path:
    """Domain `scoring` runs probe-sleep (tests/flows/probe.py) for customer-master.completed."""
    from prefect.utilities.callables import parameter_schema

    with get_client(sync_client=True) as client:
        flow_id = client.create_flow_from_name("probe-sleep")
        client.create_deployment(
            flow_id=flow_id,
            name="listener-stop",
            work_pool_name=work_pool,
            entrypoint="tests/flows/probe.py:sleep",
            parameter_openapi_schema=parameter_schema(sleeper).model_dump_for_openapi(),
            pull_steps=[
                {"prefect.deployments.steps.set_working_directory": {"directory": str(ROOT)}}
            ],
        )
    return scoring_declarations(
        tmp_path / "declarations",
        "probe-sleep/listener-stop",
        {"seconds": "{{ event.data.seconds }}", "path": "{{ event.data.path }}"},
    )


def stop_and_time(process: ManagedProcess, signum: int) -> float:
    started = time.monotonic()
    process.popen.send_signal(signum)
    try:
        process.popen.wait(STOP_BOUND + 30)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"still running {STOP_BOUND + 30:.0f}s after {signum}") from None
    took = time.monotonic() - started
    print(f"stopped in {took:.2f}s after {signal.Signals(signum).name}")
    return took


def test_a_listener_is_ready_once_it_has_received_from_its_queue_and_says_so_in_its_ready_file(
    aws_env: str,
    sns: Any,
    sqs: Any,
    name_prefix: str,
    prefect_api: str,
    scoring_domain_dir: Path,
    federation: LocalFederation,
) -> None:
    settings = FederationSettings(name_prefix=name_prefix)
    report = provision(load_federation(scoring_domain_dir), sns, sqs, settings)
    process = launch(federation, scoring_domain_dir, name_prefix, prefect_api, "--wait-time", "20")

    assert process.ready_file is not None
    assert process.ready_file.read_text().split() == [str(process.pid)]
    output = process.output()
    assert output.index("polling") < output.index("ready: received from its queue")
    envelope = make_event("customer-master.completed", {"snapshot_date": "2026-11-21"})
    SnsPublisher(sns, report.resources["customer-master"].topic_arn).publish(envelope)
    with get_client(sync_client=True) as client:
        wait_until(lambda: chain_runs(client, envelope.correlationid), 60, "the run")

    assert stop_and_time(process, signal.SIGTERM) < STOP_BOUND
    assert process.popen.returncode == 0, process.output()
    assert not process.ready_file.exists()  # a stopped listener is not ready


@pytest.mark.parametrize(
    "signum", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP], ids=lambda s: s.name
)
def test_a_listener_in_a_long_poll_stops_within_its_bound_on_sigterm_sigint_and_sighup(
    signum: signal.Signals,
    aws_env: str,
    sns: Any,
    sqs: Any,
    name_prefix: str,
    prefect_api: str,
    scoring_domain_dir: Path,
    federation: LocalFederation,
) -> None:
    provision(
        load_federation(scoring_domain_dir), sns, sqs, FederationSettings(name_prefix=name_prefix)
    )
    process = launch(federation, scoring_domain_dir, name_prefix, prefect_api, "--wait-time", "20")

    took = stop_and_time(process, signum)

    output = process.output()
    assert process.popen.returncode == 0, output
    assert f"{signum.name}: finishing what is in flight, taking nothing new" in output
    assert "stats: {" in output
    assert took < STOP_BOUND, output


def run_a_long_flow(
    sns: Any, sqs: Any, name_prefix: str, declarations: Path, tmp_path: Path
) -> Path:
    """Publish the event that makes the listener execute probe-sleep for 120 s."""
    report = provision(
        load_federation(declarations), sns, sqs, FederationSettings(name_prefix=name_prefix)
    )
    started = tmp_path / "flow-started"
    envelope = make_event("customer-master.completed", {"seconds": 120, "path": str(started)})
    SnsPublisher(sns, report.resources["customer-master"].topic_arn).publish(envelope)
    return started


def flow_run_of(started: Path) -> Any:
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs()
        return next(r for r in runs if r.parameters.get("path") == str(started))


LongFlow = tuple[ManagedProcess, Path, list[int]]


@pytest.fixture
def long_flow_running(
    aws_env: str,
    sns: Any,
    sqs: Any,
    name_prefix: str,
    prefect_api: str,
    sleeping_domain: Path,
    tmp_path: Path,
    federation: LocalFederation,
) -> LongFlow:
    """A listener (`--execute`) whose forked child is running probe-sleep for 120 s."""
    started = run_a_long_flow(sns, sqs, name_prefix, sleeping_domain, tmp_path)
    process = launch(federation, sleeping_domain, name_prefix, prefect_api, "--execute")
    wait_until(started.exists, 60, f"the flow run started:\n{process.output()}")
    # the listener, its fork server, the run's child and the next child forked ahead (spare)
    wait_until(lambda: len(group_members(process.pid)) == 4, 10, "the spare child forked")
    return process, started, group_members(process.pid)


def test_a_listener_executing_a_long_flow_run_stops_within_its_bound_and_the_run_ends_crashed(
    long_flow_running: LongFlow,
) -> None:
    process, started, family = long_flow_running
    assert len(family) == 4, family  # the listener, its fork server, the run's child, the spare

    took = stop_and_time(process, signal.SIGTERM)

    output = process.output()
    assert took < STOP_BOUND + 0.5, output
    assert process.popen.returncode == 0, output
    wait_until(lambda: not group_members(process.pid), 5, f"no survivor of {family}")
    run = flow_run_of(started)
    assert run.state is not None
    assert run.state.type.value == "CRASHED", (run.state, output)


def test_a_listener_killed_with_sigkill_takes_its_fork_server_and_flow_runs_with_it(
    long_flow_running: LongFlow,
) -> None:
    process, _started, family = long_flow_running
    assert len(family) == 4, family

    os.kill(process.pid, signal.SIGKILL)  # the listener only, not its group
    process.popen.wait(5)

    wait_until(lambda: not group_members(process.pid), 5, f"no survivor of {family}")
