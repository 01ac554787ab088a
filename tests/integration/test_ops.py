"""Day-two operations against moto server (and the Prefect test server for heartbeats and runs):
`dlq list|show|redrive|purge` and `status`, as library calls and as CLI commands."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml
from typer.testing import CliRunner

from prefect_federation.cli.dlq import dlq_app
from prefect_federation.cli.status import status
from prefect_federation.dlq import (
    DomainQueues,
    find_dead_letter,
    list_dead_letters,
    locate_queues,
    purge,
    redrive,
)
from prefect_federation.local import quiet_env
from prefect_federation.queue import SqsQueueClient
from prefect_federation.queue_admin import SqsQueueAdmin
from prefect_federation.status import (
    AgeSource,
    ListenerHeartbeat,
    observe_queue,
    oldest_age_by_peek,
    oldest_age_from_cloudwatch,
    read_last_heartbeat,
)
from prefect_federation.testing import make_event

pytestmark = pytest.mark.integration

Provision = Callable[..., Any]


def make_app() -> typer.Typer:
    """The commands as `cli.py` registers them."""
    app = typer.Typer()
    app.add_typer(dlq_app, name="dlq")
    app.command()(status)
    return app


APP = make_app()


def _flat(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture
def runner(aws_env: str, name_prefix: str, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    """A CLI runner pointed at moto, with this test's name prefix."""
    monkeypatch.setenv("PREFECT_FEDERATION_NAME_PREFIX", name_prefix)
    monkeypatch.setenv("COLUMNS", "400")  # rich must not wrap ids and reasons
    return CliRunner()


@pytest.fixture
def domain(name_prefix: str) -> str:
    """A domain name unique to the test: heartbeats are keyed by domain on a shared server."""
    return f"ops-{name_prefix[1:-1]}"


def declarations_of(domain: str, deployment: str = "ops-flow/ops") -> list[dict[str, Any]]:
    upstream = f"{domain}-up"
    return [
        {"domain": upstream, "publishes": [{"type": f"{upstream}.done"}]},
        {
            "domain": domain,
            "subscribes": [
                {
                    "event": f"{upstream}.done",
                    "deployment": deployment,
                    "parameters": {"day": "{{ event.data.day }}"},
                }
            ],
        },
    ]


@pytest.fixture
def queues(provisioned: Provision, sqs: Any, domain: str, name_prefix: str) -> DomainQueues:
    provisioned(*declarations_of(domain))
    return locate_queues(SqsQueueAdmin(sqs), name_prefix, domain)


def send_event(sqs: Any, queues: DomainQueues, day: str) -> None:
    """What SNS (raw delivery) puts in the inbox: the envelope, with type/source attributes."""
    envelope = make_event(f"{queues.domain}-up.done", {"day": day})
    sqs.send_message(
        QueueUrl=queues.queue_url,
        MessageBody=envelope.to_json(),
        MessageAttributes={
            "type": {"DataType": "String", "StringValue": envelope.type},
            "source": {"DataType": "String", "StringValue": envelope.source},
        },
    )


def dead_letter(sqs: Any, queues: DomainQueues, reasons: list[str]) -> list[str]:
    """Send one event per reason to the inbox and dead-letter each as the listener does; returns
    their ids in the source queue."""
    for index in range(len(reasons)):
        send_event(sqs, queues, f"2026-11-{index + 1:02d}")
    client = SqsQueueClient(sqs, queues.queue_url)
    received = []
    while len(received) < len(reasons):
        batch = client.receive(10, 1)
        assert batch, "the events did not arrive in the inbox"
        received += batch
    for message, reason in zip(received, reasons, strict=True):
        client.dead_letter(message, reason)
        client.delete(message)
    return [m.message_id for m in received]


def depth(sqs: Any, url: str) -> int:
    """Visible + in flight."""
    return SqsQueueAdmin(sqs).counts(url).held


def receive_all(sqs: Any, url: str) -> list[dict[str, Any]]:
    return list(
        sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1, MessageAttributeNames=["All"]
        ).get("Messages", [])
    )


# -- dlq ---------------------------------------------------------------------------------------


def test_a_dead_lettered_message_is_listed_with_its_reason_and_stays_in_the_dlq(
    sqs: Any, queues: DomainQueues
) -> None:
    [original_id] = dead_letter(sqs, queues, ["DeploymentNotFound: ops-flow/ops does not exist"])

    first = list_dead_letters(SqsQueueAdmin(sqs), queues.dlq_url)
    second = list_dead_letters(SqsQueueAdmin(sqs), queues.dlq_url)

    [letter] = first
    assert letter.reason == "DeploymentNotFound: ops-flow/ops does not exist"
    assert letter.original_message_id == original_id
    assert letter.source_queue == queues.queue_url
    assert letter.receive_count == 1
    assert letter.event_type == f"{queues.domain}-up.done"
    assert letter.dead_lettered_at is not None
    assert [d.message_id for d in second] == [letter.message_id]
    assert depth(sqs, queues.dlq_url) == 1
    visible = SqsQueueAdmin(sqs).counts(queues.dlq_url).visible
    assert visible == 1  # made visible again at once, not after the visibility timeout


def test_listing_more_than_one_receive_returns_sees_every_message_once(
    sqs: Any, queues: DomainQueues
) -> None:
    dead_letter(sqs, queues, [f"reason {i}" for i in range(13)])

    letters = list_dead_letters(SqsQueueAdmin(sqs), queues.dlq_url)
    capped = list_dead_letters(SqsQueueAdmin(sqs), queues.dlq_url, max=4)

    assert sorted(d.reason or "" for d in letters) == sorted(f"reason {i}" for i in range(13))
    assert len({d.message_id for d in letters}) == 13
    assert len(capped) == 4


def test_cli_dlq_list_and_show_print_the_reason_and_the_body(
    runner: CliRunner, sqs: Any, queues: DomainQueues
) -> None:
    dead_letter(sqs, queues, ["ParameterRenderError: parameters.day: 'day' is undefined"])
    [letter] = list_dead_letters(SqsQueueAdmin(sqs), queues.dlq_url)

    listed = runner.invoke(APP, ["dlq", "list", "--domain", queues.domain])
    shown = runner.invoke(APP, ["dlq", "show", letter.message_id, "--domain", queues.domain])
    missing = runner.invoke(APP, ["dlq", "show", "no-such-id", "--domain", queues.domain])

    assert listed.exit_code == 0, listed.output
    assert letter.message_id in listed.stdout
    assert "ParameterRenderError: parameters.day: 'day' is undefined" in _flat(listed.stdout)
    assert "1 message(s)" in listed.stdout
    assert shown.exit_code == 0, shown.output
    assert "'day' is undefined" in shown.stdout
    assert '"day": "2026-11-01"' in shown.stdout  # the body, pretty-printed
    assert queues.queue_url in "".join(shown.stdout.split())  # a long URL may be wrapped
    assert missing.exit_code == 1
    assert "no-such-id" in missing.stderr


BUSY_PREFECT_CLI = textwrap.dedent(
    """
    import asyncio, sys

    from prefect.events.clients import PrefectEventsClient

    RECORD = sys.argv[1]
    connect, emit = PrefectEventsClient.__aenter__, PrefectEventsClient._emit


    async def slow_connect(self):  # a busy server: the events socket takes 4 s to open
        await asyncio.sleep(4)
        return await connect(self)


    async def recorded_emit(self, event):
        await emit(self, event)
        with open(RECORD, "a") as f:
            f.write(event.event + "\\n")


    PrefectEventsClient.__aenter__ = slow_connect
    PrefectEventsClient._emit = recorded_emit
    from prefect_federation.cli import app

    sys.argv = ["prefect-federation", *sys.argv[2:]]
    app()
    """
)
"""The real CLI in its own process, with Prefect's events going to a slow-to-connect client: what
a busy server (the demo's, with five listeners) does, and what makes an event still queued when
a short command exits."""


def test_cli_dlq_show_with_a_credentials_block_prints_no_prefect_events_worker_lines(
    prefect_api: str,
    aws_env: str,
    sqs: Any,
    queues: DomainQueues,
    name_prefix: str,
    tmp_path: Path,
) -> None:
    """Loading the block emits Prefect's `...aws-credentials.loaded` event; Prefect sends it at
    exit and logs "Still processing items" while it does. The event is still sent, the log line
    stays out of the command's output."""
    from prefect_aws import AwsClientParameters, AwsCredentials

    block = f"ops-{name_prefix[1:-1]}"
    AwsCredentials(
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
        aws_client_parameters=AwsClientParameters(endpoint_url=aws_env),
    ).save(block, overwrite=True)
    dead_letter(sqs, queues, ["EnvelopeParseError: not JSON"])
    [letter] = list_dead_letters(SqsQueueAdmin(sqs), queues.dlq_url)
    record = tmp_path / "events.txt"
    env = quiet_env({"PREFECT_API_URL": prefect_api, "PREFECT_FEDERATION_NAME_PREFIX": name_prefix})
    env.pop("AWS_ENDPOINT_URL")  # the block says where AWS is

    completed = subprocess.run(
        [
            *(sys.executable, "-c", BUSY_PREFECT_CLI, str(record)),
            *("dlq", "show", letter.message_id, "--domain", queues.domain),
            *("--aws-credentials-block", block),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "EnvelopeParseError: not JSON" in completed.stdout
    assert "Still processing items" not in completed.stdout + completed.stderr
    assert "EventsWorker" not in completed.stdout + completed.stderr
    assert record.read_text().split() == ["prefect.block.aws-credentials.loaded"]


def test_redrive_of_a_chosen_message_returns_it_without_federation_attributes_and_leaves_the_rest(
    runner: CliRunner, sqs: Any, queues: DomainQueues
) -> None:
    dead_letter(sqs, queues, ["deployment missing", "bad data"])
    letters = {d.reason: d for d in list_dead_letters(SqsQueueAdmin(sqs), queues.dlq_url)}
    chosen = letters["deployment missing"]

    result = runner.invoke(APP, ["dlq", "redrive", chosen.message_id, "--domain", queues.domain])

    assert result.exit_code == 0, result.output
    assert "redrove 1 message(s)" in result.stdout
    [back] = receive_all(sqs, queues.queue_url)
    assert back["Body"] == chosen.body
    assert {k: v["StringValue"] for k, v in back["MessageAttributes"].items()} == {
        "type": f"{queues.domain}-up.done",
        "source": f"{queues.domain}-up",
    }
    [left] = list_dead_letters(SqsQueueAdmin(sqs), queues.dlq_url)
    assert left.reason == "bad data"


def test_a_redrive_can_name_the_message_by_its_id_in_the_source_queue(
    sqs: Any, queues: DomainQueues
) -> None:
    [original_id] = dead_letter(sqs, queues, ["gone"])

    report = redrive(SqsQueueAdmin(sqs), queues.dlq_url, queues.queue_url, [original_id])

    assert report.ok
    assert len(report.done) == 1
    assert depth(sqs, queues.dlq_url) == 0
    assert depth(sqs, queues.queue_url) == 1


def test_redrive_of_an_id_not_in_the_dlq_exits_1_naming_it_and_moves_nothing(
    runner: CliRunner, sqs: Any, queues: DomainQueues
) -> None:
    dead_letter(sqs, queues, ["stays"])

    result = runner.invoke(APP, ["dlq", "redrive", "not-there", "--domain", queues.domain])

    assert result.exit_code == 1
    assert "not-there" in result.stderr
    assert depth(sqs, queues.dlq_url) == 1
    assert depth(sqs, queues.queue_url) == 0


def test_redrive_all_after_the_cause_was_fixed_empties_the_dlq_into_the_source_queue(
    runner: CliRunner, sqs: Any, queues: DomainQueues
) -> None:
    dead_letter(sqs, queues, [f"reason {i}" for i in range(12)])  # more than one receive holds

    result = runner.invoke(APP, ["dlq", "redrive", "--all", "--domain", queues.domain])

    assert result.exit_code == 0, result.output
    assert "redrove 12 message(s)" in result.stdout
    assert depth(sqs, queues.dlq_url) == 0
    assert depth(sqs, queues.queue_url) == 12
    for message in receive_all(sqs, queues.queue_url):
        assert not [n for n in message.get("MessageAttributes", {}) if n.startswith("federation")]


def test_purge_yes_empties_the_dlq_without_asking(
    runner: CliRunner, sqs: Any, queues: DomainQueues
) -> None:
    dead_letter(sqs, queues, ["a", "b", "c"])

    result = runner.invoke(APP, ["dlq", "purge", "--all", "--yes", "--domain", queues.domain])

    assert result.exit_code == 0, result.output
    assert "deleted 3 message(s)" in result.stdout
    assert depth(sqs, queues.dlq_url) == 0
    assert depth(sqs, queues.queue_url) == 0
    again = runner.invoke(APP, ["dlq", "purge", "--all", "--domain", queues.domain])
    assert again.exit_code == 0, again.output
    assert "is empty: nothing to delete" in again.stdout  # and it did not ask


def test_purge_asks_first_and_a_no_deletes_nothing(
    runner: CliRunner, sqs: Any, queues: DomainQueues
) -> None:
    dead_letter(sqs, queues, ["a", "b"])

    declined = runner.invoke(APP, ["dlq", "purge", "--all", "--domain", queues.domain], input="n\n")

    assert declined.exit_code == 1
    assert "Delete all 2 message(s)" in declined.output
    assert depth(sqs, queues.dlq_url) == 2


def test_purge_of_chosen_ids_deletes_only_them(sqs: Any, queues: DomainQueues) -> None:
    dead_letter(sqs, queues, ["purge me", "keep me"])
    letters = {d.reason: d for d in list_dead_letters(SqsQueueAdmin(sqs), queues.dlq_url)}

    report = purge(SqsQueueAdmin(sqs), queues.dlq_url, [letters["purge me"].message_id])

    assert report.done == [letters["purge me"].message_id]
    admin = SqsQueueAdmin(sqs)
    assert find_dead_letter(admin, queues.dlq_url, letters["purge me"].message_id) is None
    assert find_dead_letter(admin, queues.dlq_url, letters["keep me"].message_id) is not None


@pytest.mark.parametrize("command", ["redrive", "purge"])
def test_redrive_and_purge_need_ids_or_all_and_exit_2_otherwise(
    runner: CliRunner, queues: DomainQueues, command: str
) -> None:
    neither = runner.invoke(APP, ["dlq", command, "--domain", queues.domain])
    both = runner.invoke(APP, ["dlq", command, "x", "--all", "--domain", queues.domain])

    assert neither.exit_code == 2
    assert "--all" in neither.stderr
    assert both.exit_code == 2
    assert "not both" in both.stderr


def test_dlq_commands_for_an_unprovisioned_domain_exit_2_naming_the_queue(
    runner: CliRunner, name_prefix: str
) -> None:
    result = runner.invoke(APP, ["dlq", "list", "--domain", "nowhere"])

    assert result.exit_code == 2
    assert f"{name_prefix}nowhere-inbox" in _flat(result.stderr)


# -- oldest message ------------------------------------------------------------------------------


def test_peeking_reads_the_age_of_the_oldest_message_and_leaves_it_visible(
    sqs: Any, queues: DomainQueues
) -> None:
    send_event(sqs, queues, "2026-11-01")
    send_event(sqs, queues, "2026-11-02")
    later = datetime.now(UTC) + timedelta(seconds=30)  # the clock is an argument: no sleeping

    age = oldest_age_by_peek(SqsQueueAdmin(sqs), queues.queue_url, later)
    observed = observe_queue(SqsQueueAdmin(sqs), queues, later, age_source=AgeSource.peek)

    assert age is not None
    assert 30.0 <= age < 40
    assert observed.visible == 2
    assert observed.in_flight == 0
    assert observed.oldest_age_seconds is not None
    assert observed.oldest_age_seconds >= 30.0


def test_cloudwatch_age_is_the_latest_datapoint_and_unknown_without_one(
    aws_env: str, sqs: Any, queues: DomainQueues
) -> None:
    import boto3

    cloudwatch = boto3.client("cloudwatch", region_name="us-east-1", endpoint_url=aws_env)
    now = datetime.now(UTC)
    send_event(sqs, queues, "2026-11-01")
    unknown = observe_queue(
        SqsQueueAdmin(sqs), queues, now, age_source=AgeSource.cloudwatch, cloudwatch=cloudwatch
    )
    for minutes_ago, value in [(5, 100.0), (1, 400.0)]:
        cloudwatch.put_metric_data(  # what SQS publishes on real AWS
            Namespace="AWS/SQS",
            MetricData=[
                {
                    "MetricName": "ApproximateAgeOfOldestMessage",
                    "Dimensions": [{"Name": "QueueName", "Value": queues.queue_name}],
                    "Timestamp": now - timedelta(minutes=minutes_ago),
                    "Value": value,
                    "Unit": "Seconds",
                }
            ],
        )

    age = oldest_age_from_cloudwatch(cloudwatch, queues.queue_name, datetime.now(UTC))

    assert unknown.oldest_age_seconds is None
    assert unknown.oldest_age_note is not None
    assert "CloudWatch has no ApproximateAgeOfOldestMessage" in unknown.oldest_age_note
    assert age == 400.0


# -- status --------------------------------------------------------------------------------------


def write_declarations(directory: Path, declarations: list[dict[str, Any]]) -> Path:
    directory.mkdir(exist_ok=True)
    for declaration in declarations:
        (directory / f"{declaration['domain']}.yaml").write_text(yaml.safe_dump(declaration))
    return directory


def wait_for_heartbeat(domain: str, after: datetime, timeout: float = 30) -> ListenerHeartbeat:
    """Heartbeats reach the server asynchronously: poll until the events API has this one."""
    from prefect.client.orchestration import get_client

    deadline = time.monotonic() + timeout
    with get_client(sync_client=True) as client:
        while time.monotonic() < deadline:
            heartbeat = read_last_heartbeat(client, domain, after - timedelta(seconds=5))
            if heartbeat is not None and heartbeat.occurred >= after - timedelta(seconds=1):
                return heartbeat
            time.sleep(0.3)
    raise AssertionError(f"no heartbeat of {domain!r} reached the Prefect server in {timeout}s")


def status_json(runner: CliRunner, directory: Path, domain: str, *extra: str) -> Any:
    result = runner.invoke(
        APP, ["status", "-d", str(directory), "--domain", domain, "--json", *extra]
    )
    assert result.exit_code in (0, 1), result.output
    document = json.loads(result.stdout)
    [domain_status] = document["domains"]
    assert document["healthy"] is (result.exit_code == 0)
    return result.exit_code, domain_status


def day(day: str) -> None:
    """The signature of the test deployment's flow."""


def test_status_shows_the_dlq_and_is_unhealthy_then_healthy_after_fix_redrive_and_consume(
    runner: CliRunner,
    provisioned: Provision,
    sqs: Any,
    make_deployment: Any,
    prefect_api: str,
    domain: str,
    name_prefix: str,
    tmp_path: Path,
) -> None:
    from prefect_federation.heartbeat import emit_heartbeat
    from prefect_federation.listener import Listener, PrefectLauncher
    from prefect_federation.settings import ListenerSettings

    deployment = f"{domain}-flow/{domain}"
    declarations = declarations_of(domain, deployment)
    federation, _ = provisioned(*declarations)
    directory = write_declarations(tmp_path / "deployments", declarations)
    queues = locate_queues(SqsQueueAdmin(sqs), name_prefix, domain)
    launcher = PrefectLauncher()
    listener = Listener(
        federation.domain(domain),
        SqsQueueClient(sqs, queues.queue_url),
        launcher,
        federation=federation,
        settings=ListenerSettings(domain=domain, wait_time_seconds=1),
    )
    try:
        # Nothing seen yet: no heartbeat, and the deployment does not exist.
        code, never = status_json(runner, directory, domain)
        assert code == 1
        assert any(r.startswith("listener never seen") for r in never["reasons"])
        assert any(f"{deployment!r} does not exist" in r for r in never["reasons"])

        # The listener beats and dead-letters an event whose deployment does not exist.
        send_event(sqs, queues, "2026-11-05")
        [result] = listener.poll_once(wait_seconds=1)
        assert result.outcome.action == "dead-letter"
        beat_at = datetime.now(UTC)
        emit_heartbeat(listener, "alive")
        wait_for_heartbeat(domain, beat_at)

        code, sick = status_json(runner, directory, domain)
        table = runner.invoke(APP, ["status", "-d", str(directory), "--domain", domain])

        assert code == 1
        assert sick["healthy"] is False
        assert sick["dlq_depth"] == 1
        assert sick["visible"] == 0
        assert sick["heartbeat_phase"] == "alive"
        assert sick["listener_counters"]["dead_lettered"] == 1
        assert any("holds 1 message(s)" in r for r in sick["reasons"])
        assert not any(r.startswith("listener") for r in sick["reasons"])
        assert table.exit_code == 1
        assert "UNHEALTHY" in table.stdout
        assert f"dlq list --domain {domain}" in _flat(table.stdout)
        assert "0 healthy, 1 unhealthy" in table.stdout

        # The cause is fixed (the deployment now exists); redrive; the listener consumes it.
        make_deployment(day, f"{domain}-flow", domain)
        redriven = runner.invoke(APP, ["dlq", "redrive", "--all", "--domain", domain])
        assert redriven.exit_code == 0, redriven.output
        [result] = listener.poll_once(wait_seconds=1)
        assert result.outcome.action == "ack", result.outcome.reason
        beat_at = datetime.now(UTC)
        emit_heartbeat(listener, "alive")
        wait_for_heartbeat(domain, beat_at)

        code, healthy = status_json(runner, directory, domain, "--oldest-age", "peek")
        table = runner.invoke(APP, ["status", "-d", str(directory), "--domain", domain])

        assert code == 0, healthy["reasons"]
        assert healthy["reasons"] == []
        assert healthy["dlq_depth"] == 0
        assert (healthy["visible"], healthy["in_flight"]) == (0, 0)
        assert healthy["runs_last_hour"] == 1
        assert healthy["listener_counters"]["runs_created"] == 1
        assert table.exit_code == 0
        assert "1 healthy, 0 unhealthy" in table.stdout
    finally:
        launcher.close()


def test_status_is_unhealthy_when_the_oldest_waiting_message_is_older_than_the_threshold(
    runner: CliRunner,
    provisioned: Provision,
    sqs: Any,
    prefect_api: str,
    domain: str,
    name_prefix: str,
    tmp_path: Path,
) -> None:
    from prefect.events import emit_event

    from prefect_federation.heartbeat import HEARTBEAT_EVENT, listener_resource_id

    declarations = declarations_of(domain)
    provisioned(*declarations)
    directory = write_declarations(tmp_path / "deployments", declarations)
    queues = locate_queues(SqsQueueAdmin(sqs), name_prefix, domain)
    send_event(sqs, queues, "2026-11-06")
    beat_at = datetime.now(UTC)
    emit_event(
        event=HEARTBEAT_EVENT,
        resource={"prefect.resource.id": listener_resource_id(domain)},
        payload={"phase": "alive", "interval_seconds": 30},
    )
    wait_for_heartbeat(domain, beat_at)

    code, old = status_json(runner, directory, domain, "--oldest-age", "peek", "--max-age", "0.001")
    _, lenient = status_json(runner, directory, domain, "--oldest-age", "peek", "--max-age", "600")

    assert code == 1
    assert old["oldest_age_seconds"] > 0.001
    assert any(r.startswith("oldest waiting message is") for r in old["reasons"])
    assert not any(r.startswith("oldest waiting message") for r in lenient["reasons"])
    assert depth(sqs, queues.queue_url) == 1  # peeking consumed nothing


def test_status_says_so_when_the_domains_prefect_server_cannot_be_reached(
    runner: CliRunner, provisioned: Provision, domain: str, tmp_path: Path
) -> None:
    declarations = declarations_of(domain)
    declarations[1]["prefect_api_url"] = "http://127.0.0.1:9/api"  # discard port: nothing listens
    provisioned(*declarations)
    directory = write_declarations(tmp_path / "deployments", declarations)

    result = runner.invoke(APP, ["status", "-d", str(directory), "--domain", domain])

    assert result.exit_code == 1
    assert "cannot read listener heartbeats from Prefect" in _flat(result.stdout)
    assert "never seen" not in result.stdout
    assert "unknown" in result.stdout


def test_status_of_an_unknown_domain_exits_2_naming_the_declared_ones(
    runner: CliRunner, domain: str, tmp_path: Path
) -> None:
    directory = write_declarations(tmp_path / "deployments", declarations_of(domain))

    result = runner.invoke(APP, ["status", "-d", str(directory), "--domain", "nope"])

    assert result.exit_code == 2
    assert "unknown domain 'nope'" in _flat(result.stderr)
