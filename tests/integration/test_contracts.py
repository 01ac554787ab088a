"""Contracts end to end: a flow whose return value breaks its contract fails and publishes
nothing (Prefect test server, moto server); the `publish` CLI checks a model's contract without
importing Prefect."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from prefect_federation.connect import find_topic_arn
from prefect_federation.errors import ContractViolation
from prefect_federation.local import quiet_env
from prefect_federation.naming import queue_name, topic_name
from prefect_federation.publisher import SnsPublisher

pytestmark = pytest.mark.integration

MODELS = """
from pydantic import BaseModel, Field

class Scored(BaseModel):
    batch_id: str
    high_risk: int = Field(ge=0)
"""
URN = "urn:prefect-federation:scoring.completed:v1"
SCORING = {
    "domain": "scoring",
    "publishes": [{"type": "scoring.completed", "model": "integ_contract_models:Scored"}],
}
REPORTING = {
    "domain": "reporting",
    "subscribes": [
        {
            "event": "scoring.completed",
            "deployment": "write-risk-report/reporting",
            "parameters": {"batch_id": "{{ event.data.batch_id }}"},
        }
    ],
}


@pytest.fixture
def declarations(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The project: the model's module at its root, the declarations in `deployments/`."""
    import yaml

    (tmp_path / "integ_contract_models.py").write_text(textwrap.dedent(MODELS))
    directory = tmp_path / "deployments"
    directory.mkdir()
    for domain in (SCORING, REPORTING):
        (directory / f"{domain['domain']}.yaml").write_text(yaml.safe_dump(domain))
    monkeypatch.setenv("PREFECT_FEDERATION_DECLARATIONS", str(directory))
    return directory


class CountingPublisher:
    def __init__(self, inner: SnsPublisher) -> None:
        self.inner = inner
        self.attempts = 0

    def publish(self, envelope: Any) -> str:
        self.attempts += 1
        return self.inner.publish(envelope)


def receive_one(sqs: Any, queue_url: str) -> dict[str, Any]:
    """The next message's envelope (long polls until one is there)."""
    for _ in range(10):
        messages = sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=2).get("Messages", [])
        if messages:
            [message] = messages
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
            return dict(json.loads(message["Body"]))
    raise AssertionError("no message arrived")


def test_a_flow_whose_return_value_breaks_its_contract_fails_and_publishes_nothing(
    prefect_api: str,
    declarations: Path,
    provisioned: Any,
    sns: Any,
    sqs: Any,
    name_prefix: str,
) -> None:
    from prefect import flow
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    from prefect_federation import publishing

    provisioned(SCORING, REPORTING)
    topic = find_topic_arn(sns, topic_name(name_prefix, "scoring"))
    assert topic is not None
    queue_url = sqs.get_queue_url(QueueName=queue_name(name_prefix, "reporting"))["QueueUrl"]
    publisher = CountingPublisher(SnsPublisher(sns, topic))

    @flow(name="contract-producer")
    @publishing.publishes("scoring.completed")
    def produce(batch_id: str, high_risk: int) -> dict[str, Any]:
        return {"batch_id": batch_id, "high_risk": high_risk}

    with publishing.use_publisher(publisher):
        broken = produce("b-broken", -1, return_state=True)
        valid = produce("b-valid", 3, return_state=True)

    assert broken.is_failed()
    error = broken.result(raise_on_failure=False)
    assert isinstance(error, ContractViolation), repr(error)
    assert f"breaks the contract {URN}" in str(error)
    assert "data.high_risk: -1 is less than the minimum of 0" in str(error)
    assert publisher.attempts == 1  # the valid run's: the broken one never reached SNS
    with get_client(sync_client=True) as client:
        flow_run_id = broken.state_details.flow_run_id
        assert flow_run_id is not None
        task_runs = client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
        )
    [publish] = [t for t in task_runs if t.name.startswith("publish")]
    assert publish.run_count == 1  # a contract violation is not retried
    assert valid.is_completed()
    first = receive_one(sqs, queue_url)  # the first message the queue ever got is the valid one
    assert first["data"] == {"batch_id": "b-valid", "high_risk": 3}
    assert first["dataschema"] == URN


CLI = str(Path(sys.executable).with_name("prefect-federation"))


def test_the_publish_cli_checks_a_models_contract_without_importing_prefect(
    declarations: Path, provisioned: Any, sqs: Any, name_prefix: str, aws_env: str
) -> None:
    provisioned(SCORING, REPORTING)
    queue_url = sqs.get_queue_url(QueueName=queue_name(name_prefix, "reporting"))["QueueUrl"]

    def publish(data: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [CLI, "publish", "scoring.completed", "--data", data, "--no-archive"],
            env=quiet_env(
                {
                    "PYTHONPROFILEIMPORTTIME": "1",
                    "PREFECT_FEDERATION_NAME_PREFIX": name_prefix,
                    "COLUMNS": "300",
                }
            ),
            capture_output=True,
            text=True,
            timeout=120,
        )

    broken = publish('{"batch_id": "b1", "high_risk": "many"}')
    valid = publish('{"batch_id": "b2", "high_risk": 2}')

    assert broken.returncode == 2
    message = " ".join(broken.stderr.split())
    assert f"breaks the contract {URN} (model integ_contract_models:Scored)" in message
    assert "data.high_risk: 'many' is not of type 'integer'" in message
    assert valid.returncode == 0, valid.stderr[-3000:]
    for done in (broken, valid):
        imported = {
            line.rsplit("|", 1)[-1].strip()
            for line in done.stderr.splitlines()
            if line.startswith("import time:") and "|" in line
        }
        assert "prefect_federation.contracts.registry" in imported  # the path was logged
        assert {name.split(".")[0] for name in imported} & {"prefect", "prefect_aws"} == set()
    first = receive_one(sqs, queue_url)
    assert first["data"] == {"batch_id": "b2", "high_risk": 2}
    assert first["dataschema"] == URN
