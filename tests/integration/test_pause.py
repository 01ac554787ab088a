"""Pause and resume against moto server and a Prefect server: hold keeps the messages in SQS,
skip acks and records them, resume lets them through, `replay --skipped` brings back exactly the
skipped ones (and starts nothing that already ran)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import boto3
import pytest
from prefect.client.orchestration import SyncPrefectClient, get_client

from prefect_federation.archive import default_archive_bucket, ensure_archive
from prefect_federation.chain import chain_runs
from prefect_federation.explain import ExplainSources, explain_event
from prefect_federation.explain.notes import pause_notes
from prefect_federation.listener import Listener, PrefectLauncher
from prefect_federation.listener.gate import Gate
from prefect_federation.listener.pause import (
    PAUSED_EVENT,
    PauseReader,
    apply_pause,
    apply_resume,
    read_pause_state,
)
from prefect_federation.listener.skipped import SkipRecords, resend_skipped
from prefect_federation.publisher import SnsPublisher
from prefect_federation.queue import SqsQueueClient
from prefect_federation.queue_admin import SqsQueueAdmin
from prefect_federation.settings import ListenerSettings
from prefect_federation.testing import make_event

pytestmark = pytest.mark.integration
T = TypeVar("T")


def bill(order_id: str) -> None:
    """The signature of both deployments."""


@pytest.fixture(scope="module")
def deployments(make_deployment: Any) -> tuple[str, str]:
    return make_deployment(bill, "pause-bill", "billing"), make_deployment(
        bill, "pause-audit", "billing"
    )


@pytest.fixture
def client(prefect_api: str) -> Iterator[SyncPrefectClient]:
    with get_client(sync_client=True) as client:
        yield client


def wait_for(read: Callable[[], T], done: Callable[[T], bool], timeout: float = 30) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if done(value) or time.monotonic() > deadline:
            return value
        time.sleep(0.3)


def test_hold_skip_resume_and_replay_of_the_skipped(
    provisioned: Any,
    sns: Any,
    sqs: Any,
    aws_env: str,
    name_prefix: str,
    deployments: tuple[str, str],
    client: SyncPrefectClient,
    depth: Any,
) -> None:
    s3 = boto3.client("s3", region_name="us-east-1", endpoint_url=aws_env)
    bill_deployment, audit_deployment = deployments
    params = {"order_id": "{{ event.data.order_id }}"}
    federation, report = provisioned(
        {"domain": "orders", "publishes": [{"type": "orders.placed"}]},
        {
            "domain": "billing",
            "subscribes": [
                {"event": "orders.placed", "deployment": bill_deployment, "parameters": params},
                {
                    "event": "orders.placed",
                    "deployment": audit_deployment,
                    "name": "audit",
                    "parameters": params,
                },
            ],
        },
    )
    billing = federation.domain("billing")
    bucket = default_archive_bucket(name_prefix)
    ensure_archive(s3, bucket)
    skips = SkipRecords(s3, bucket)
    queue_url = report.resources["billing"].queue_url
    topic = SnsPublisher(sns, report.resources["orders"].topic_arn)
    gate = Gate(
        billing,
        pause=PauseReader(lambda: read_pause_state(client, "billing"), ttl=0),
        skips=skips,
        pause_delay_seconds=1,
    )
    listener = Listener(
        billing,
        SqsQueueClient(sqs, queue_url),
        PrefectLauncher(client),
        federation=federation,
        settings=ListenerSettings(domain="billing", wait_time_seconds=1),
        gate=gate,
    )
    api = str(client.api_url).rstrip("/")

    def explain(event_id: Any) -> dict[str, str]:
        sources = ExplainSources(
            federation=federation,
            clients={api: client},
            admin=SqsQueueAdmin(sqs),
            name_prefix=name_prefix,
            notes=pause_notes(federation, {api: client}, skips),
        )
        [verdict] = [d for d in explain_event(sources, event_id).domains if d.domain == "billing"]
        return {s.name or "bill": s.outcome.sentence for s in verdict.subscriptions if s.outcome}

    def runs_of(envelope: Any) -> dict[str, int]:
        counts: dict[str, int] = {}
        for run in chain_runs(client, envelope.correlationid):
            counts[str(run.deployment_id)] = counts.get(str(run.deployment_id), 0) + 1
        return counts

    # -- hold: audit's message waits in SQS; bill keeps flowing ------------------------------
    apply_pause(client, billing, "audit", "hold", "migrating the audit table")
    held = make_event("orders.placed", {"order_id": "h1"})
    topic.publish(held)
    for _ in range(4):
        listener.poll_once(1)
        time.sleep(1.1)  # the held message comes back after its 1 s delay
    assert len(runs_of(held)) == 1  # bill ran; audit did not
    assert sum(depth(queue_url)) == 1  # still in the queue, not dead-lettered
    sentences = explain(held.id)
    assert sentences["audit"].startswith("paused: hold since ")
    assert "migrating the audit table" in sentences["audit"]
    assert "created, Scheduled" in sentences["bill"]
    paused_events = wait_for(
        lambda: client.read_events(limit=50).events,
        lambda events: any(e.event == PAUSED_EVENT for e in events),
    )
    [paused] = [e for e in paused_events if e.event == PAUSED_EVENT]
    assert paused.payload["reason"] == "migrating the audit table"
    assert "@" in paused.payload["by"]

    # -- resume: the held message becomes audit's run ----------------------------------------
    apply_resume(client, billing, "audit")
    wait_for(lambda: (listener.poll_once(1), runs_of(held))[1], lambda r: len(r) == 2, 20)
    assert sorted(runs_of(held).values()) == [1, 1]

    # -- skip: acked, recorded; replay --skipped brings back exactly those --------------------
    apply_pause(client, billing, "audit", "skip", None)
    skipped = make_event("orders.placed", {"order_id": "s1"})
    topic.publish(skipped)
    listener.poll_once(2)
    assert sum(depth(queue_url)) == 0  # acknowledged
    assert len(runs_of(skipped)) == 1
    assert skips.skipped_ids("billing", "audit") == {str(skipped.id)}
    assert explain(skipped.id)["audit"].startswith("skipped while paused (skip since")
    apply_resume(client, billing, "audit")

    sent = resend_skipped(skips, SqsQueueAdmin(sqs), queue_url, "billing")

    assert [e.id for e in sent] == [skipped.id]
    assert skips.skipped_ids("billing", "audit") == set()
    listener.poll_once(2)
    assert sorted(runs_of(skipped).values()) == [1, 1]  # audit now; bill not a second time
    assert sorted(runs_of(held).values()) == [1, 1]  # nothing that already ran came back


def test_the_pause_and_resume_commands_write_the_state_every_listener_reads(
    client: SyncPrefectClient, tmp_path: Any, deployments: tuple[str, str]
) -> None:
    import yaml
    from typer.testing import CliRunner

    from prefect_federation.cli import app

    domain = f"pausecli-{time.time_ns() % 10**8}"
    (tmp_path / "d.yaml").write_text(
        yaml.safe_dump(
            {
                "domain": domain,
                "subscribes": [
                    {"event": "orders.placed", "deployment": deployments[0], "name": "audit"}
                ],
            }
        )
    )
    runner = CliRunner()
    paused = runner.invoke(
        app,
        ["pause", "--domain", domain, "--subscription", "audit", "--reason", "table migration"],
        env={"PREFECT_FEDERATION_DECLARATIONS": str(tmp_path)},
    )
    print(paused.stdout)
    assert paused.exit_code == 0, paused.stdout + paused.stderr
    assert paused.stdout.startswith(f"paused {domain} audit (hold since ")
    state = read_pause_state(client, domain)
    assert state.paused["audit"].reason == "table migration"

    unknown = runner.invoke(
        app,
        ["pause", "--domain", domain, "--subscription", "nope"],
        env={"PREFECT_FEDERATION_DECLARATIONS": str(tmp_path)},
    )
    assert unknown.exit_code == 2
    assert "has no subscription 'nope' (its subscriptions: audit)" in " ".join(
        unknown.stderr.split()
    )

    resumed = runner.invoke(
        app,
        ["resume", "--domain", domain, "--subscription", "audit"],
        env={"PREFECT_FEDERATION_DECLARATIONS": str(tmp_path)},
    )
    print(resumed.stdout)
    assert resumed.exit_code == 0
    assert resumed.stdout.strip() == f"resumed {domain} audit"
    assert read_pause_state(client, domain).paused == {}
