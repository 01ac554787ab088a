"""The listener as a process: `prefect-federation listen` end to end, and how it stops."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from prefect.client.orchestration import get_client

from prefect_federation.chain import chain_runs
from prefect_federation.declarations import load_federation
from prefect_federation.provision import provision
from prefect_federation.publisher import SnsPublisher
from prefect_federation.settings import FederationSettings
from prefect_federation.stack import quiet_env
from prefect_federation.testing import make_event

pytestmark = pytest.mark.integration


def score(snapshot_date: str) -> None:
    """The parameter schema of the test deployment."""


@pytest.fixture
def domain_dir(tmp_path: Path, make_deployment: Any) -> Path:
    deployment = make_deployment(score, "score-process", "scoring")
    (tmp_path / "cm.yaml").write_text(
        yaml.safe_dump(
            {"domain": "customer-master", "publishes": [{"type": "customer-master.completed"}]}
        )
    )
    (tmp_path / "scoring.yaml").write_text(
        yaml.safe_dump(
            {
                "domain": "scoring",
                "subscribes": [
                    {
                        "event": "customer-master.completed",
                        "deployment": deployment,
                        "parameters": {"snapshot_date": "{{ event.data.snapshot_date }}"},
                    }
                ],
            }
        )
    )
    return tmp_path


def start_listener(domain_dir: Path, prefix: str, prefect_api: str, log: Path) -> Any:
    env = quiet_env(
        {
            "PREFECT_API_URL": prefect_api,
            "PREFECT_FEDERATION_DECLARATIONS": str(domain_dir),
            "PREFECT_FEDERATION_NAME_PREFIX": prefix,
            "PREFECT_FEDERATION_LISTENER_HEARTBEAT_SECONDS": "1",
        }
    )
    cli = str(Path(sys.executable).with_name("prefect-federation"))
    handle = log.open("wb")
    process = subprocess.Popen(
        [cli, "listen", "--domain", "scoring", "--wait-time", "2"],
        env=env,
        stdout=handle,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while "polling" not in log.read_text():
        assert process.poll() is None, log.read_text()
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.2)
    return process


def test_the_listener_process_turns_an_event_into_a_run_and_stops_cleanly_on_sigterm(
    aws_env: str,
    sns: Any,
    sqs: Any,
    name_prefix: str,
    prefect_api: str,
    domain_dir: Path,
    tmp_path: Path,
) -> None:
    settings = FederationSettings(name_prefix=name_prefix)
    report = provision(load_federation(domain_dir), sns, sqs, settings)
    log = tmp_path / "listener.log"
    process = start_listener(domain_dir, name_prefix, prefect_api, log)
    try:
        envelope = make_event("customer-master.completed", {"snapshot_date": "2026-11-20"})
        SnsPublisher(sns, report.resources["customer-master"].topic_arn).publish(envelope)
        deadline = time.monotonic() + 30
        with get_client(sync_client=True) as client:
            while not (runs := chain_runs(client, envelope.correlationid)):
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.2)
        assert runs[0].parameters == {"snapshot_date": "2026-11-20"}

        process.send_signal(signal.SIGTERM)
        code = process.wait(15)
    finally:
        if process.poll() is None:
            process.kill()

    output = log.read_text()
    assert code == 0, output
    assert "SIGTERM: finishing what is in flight, taking nothing new" in output
    assert "'runs_created': 1" in output


def test_a_listener_for_an_unknown_domain_exits_2_naming_it(
    aws_env: str, domain_dir: Path, prefect_api: str
) -> None:
    env = quiet_env({"PREFECT_FEDERATION_DECLARATIONS": str(domain_dir)})
    cli = str(Path(sys.executable).with_name("prefect-federation"))
    result = subprocess.run(
        [cli, "listen", "--domain", "billing"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "unknown domain 'billing'" in result.stderr
    assert "scoring" in result.stderr
