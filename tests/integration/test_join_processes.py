"""Joins with real `prefect-federation listen` processes: two on one queue, both SIGKILLed
between the two arrivals of some keys, a third started afterwards; and the join latency (the
last event published -> the run created), printed.

moto server (DynamoDB, SNS, SQS) and a Prefect server; no worker: runs stay scheduled, so runs
are counted on the server (one per key) and the creations in the listeners' exit counters.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterName

from prefect_federation.declarations import load_federation
from prefect_federation.events import EventEnvelope
from prefect_federation.joins.dynamodb import DynamoJoinStore
from prefect_federation.local import LocalFederation, ManagedProcess, quiet_env
from prefect_federation.naming import join_table_name
from prefect_federation.provision import provision
from prefect_federation.publisher import SnsPublisher
from prefect_federation.settings import FederationSettings
from prefect_federation.testing import make_event

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
DAY = "2026-11-23"


def report(scores_path: str, master_path: str, key: str) -> None:
    """The parameter schema of the test deployment."""


@pytest.fixture
def declarations(tmp_path: Path, make_deployment: Any) -> Path:
    deployment = make_deployment(report, "join-report-process", "reporting")
    domains: list[dict[str, Any]] = [
        {"domain": "scoring", "publishes": [{"type": "scoring.completed"}]},
        {"domain": "customer-master", "publishes": [{"type": "customer-master.completed"}]},
        {
            "domain": "reporting",
            "publishes": [{"type": "reporting.join.expired"}],
            "subscribes": [
                {
                    "name": "daily-report",
                    "join": {
                        "events": ["scoring.completed", "customer-master.completed"],
                        "key": "{{ event.data.snapshot_date }}:{{ event.data.region }}",
                        "within": "6h",
                    },
                    "deployment": deployment,
                    "parameters": {
                        "scores_path": "{{ events['scoring.completed'].data.path }}",
                        "master_path": "{{ events['customer-master.completed'].data.path }}",
                        "key": "{{ key }}",
                    },
                }
            ],
        },
    ]
    for domain in domains:
        (tmp_path / f"{domain['domain']}.yaml").write_text(yaml.safe_dump(domain))
    return tmp_path


def runs_by_key() -> dict[str, int]:
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=["reporting"])),
            limit=200,
        )
    counts: dict[str, int] = {}
    for run in runs:
        if run.parameters.get("key", "").startswith(DAY):
            counts[run.parameters["key"]] = counts.get(run.parameters["key"], 0) + 1
    return counts


def keyed(keys: list[str]) -> set[str]:
    return {f"{DAY}:{key}" for key in keys}


def wait_until(condition: Any, timeout: float, what: str, processes: list[ManagedProcess]) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            tails = "\n".join(f"--- {p.name}\n{p.tail()}" for p in processes)
            raise AssertionError(f"not within {timeout:.0f}s: {what}\n{tails}")
        time.sleep(0.05)


def test_two_listener_processes_sigkilled_between_arrivals_leave_one_run_per_key(
    aws_env: str,
    sns: Any,
    sqs: Any,
    name_prefix: str,
    prefect_api: str,
    declarations: Path,
    tmp_path: Path,
) -> None:
    dynamodb = boto3.client("dynamodb", region_name="us-east-1", endpoint_url=aws_env)
    settings = FederationSettings(name_prefix=name_prefix)
    resources = provision(
        load_federation(declarations), sns, sqs, settings, dynamodb=dynamodb
    ).resources
    store = DynamoJoinStore(dynamodb, join_table_name(name_prefix, "reporting"))
    topics = {d: resources[d].topic_arn for d in ("scoring", "customer-master")}

    def publish(event: EventEnvelope) -> None:
        topic = topics[event.source]
        assert topic is not None
        SnsPublisher(sns, topic).publish(event)

    def pair(key: str) -> tuple[EventEnvelope, EventEnvelope]:
        data = {"snapshot_date": DAY, "region": key}
        return (
            make_event("scoring.completed", {**data, "path": f"s/{key}"}),
            make_event("customer-master.completed", {**data, "path": f"m/{key}"}),
        )

    def arrived(key: str) -> set[str]:
        return {t for r in store.joins() if r.key == f"{DAY}:{key}" for t in r.arrivals}

    env = quiet_env(
        {
            "PREFECT_API_URL": prefect_api,
            "PREFECT_FEDERATION_DECLARATIONS": str(declarations),
            "PREFECT_FEDERATION_NAME_PREFIX": name_prefix,
        }
    )
    with LocalFederation(tmp_path / "stack") as local:

        def start(name: str) -> ManagedProcess:
            return local.start_listener(
                "reporting", env, name=name, cwd=ROOT, term_group=False, timeout=180
            )

        first, second = start("listener-1"), start("listener-2")
        both = [first, second]
        early, late = [f"k{i}" for i in range(4)], [f"k{i}" for i in range(4, 8)]
        events = {key: pair(key) for key in early + late}
        # two listeners, interleaved and duplicated: early keys complete, late keys half
        for key in early:
            publish(events[key][0])
        for key in late:
            publish(events[key][0])
            publish(events[key][0])
        for key in early:
            publish(events[key][1])
            publish(events[key][0])
        wait_until(lambda: keyed(early) <= runs_by_key().keys(), 120, "early runs", both)
        wait_until(
            lambda: all(arrived(k) == {"scoring.completed"} for k in late), 60, "late halves", both
        )
        for process in both:
            process.popen.kill()  # SIGKILL: between the two arrivals of the late keys
        for process in both:
            process.popen.wait(10)
        for key in late:
            publish(events[key][1])
        third = start("listener-3")
        wait_until(lambda: keyed(late) <= runs_by_key().keys(), 120, "late runs", [third])

        # latency: the last event published -> its run created (a listener already long-polling)
        latencies = []
        for index in range(8, 14):
            key = f"k{index}"
            scores, master = pair(key)
            publish(scores)
            wait_until(lambda k=key: arrived(k), 30, "first half", [third])  # type: ignore[misc]
            published = time.monotonic()
            publish(master)
            wait_until(lambda k=key: f"{DAY}:{k}" in runs_by_key(), 30, "run", [third])  # type: ignore[misc]
            latencies.append(time.monotonic() - published)
        counts = runs_by_key()

    assert counts == {f"{DAY}:k{i}": 1 for i in range(14)}
    print(
        f"\njoin latency (last event published -> run created, n={len(latencies)}): "
        f"median {statistics.median(latencies):.2f}s, max {max(latencies):.2f}s"
    )
