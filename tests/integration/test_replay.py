"""Replay against moto server (S3 + SNS + SQS) and the Prefect test harness: archived events are
re-published with their original ids, so consumers that already ran start nothing and a domain
that subscribed later starts only its own runs."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import boto3
import pytest
import typer
from typer.testing import CliRunner

from prefect_federation.archive import (
    ArchivingPublisher,
    S3EventArchive,
    default_archive_bucket,
    ensure_archive,
    topic_name_of,
)
from prefect_federation.chain import chain_runs
from prefect_federation.cli.replay import replay as replay_command
from prefect_federation.declarations import Federation
from prefect_federation.events import EventEnvelope
from prefect_federation.labels import EVENT_ID_TAG, tag_value
from prefect_federation.listener import Listener, PrefectLauncher
from prefect_federation.listener.stats import MessageResult
from prefect_federation.provision import ProvisionReport
from prefect_federation.publisher import SnsPublisher
from prefect_federation.queue import SqsQueueClient
from prefect_federation.replay import replay
from prefect_federation.settings import ListenerSettings
from prefect_federation.testing import make_event

pytestmark = pytest.mark.integration

Provision = Callable[..., tuple[Federation, ProvisionReport]]


def enrich(snapshot_date: str) -> None:
    """The parameters of the first subscriber's deployment."""


def audit(snapshot_date: str) -> None:
    """The parameters of the subscriber that comes later."""


@pytest.fixture(scope="module")
def enrich_deployment(make_deployment: Any) -> str:
    return make_deployment(enrich, "enrich-scores", "replay")


@pytest.fixture(scope="module")
def audit_deployment(make_deployment: Any) -> str:
    return make_deployment(audit, "audit-scores", "replay")


SCORING = {
    "domain": "scoring",
    "publishes": [{"type": "scoring.completed"}, {"type": "scoring.scores-written"}],
}


def subscriber(domain: str, deployment: str) -> dict[str, Any]:
    return {
        "domain": domain,
        "subscribes": [
            {
                "event": event,
                "deployment": deployment,
                "name": event.rsplit(".", 1)[-1],
                "parameters": {"snapshot_date": "{{ event.data.snapshot_date }}"},
            }
            for event in ("scoring.completed", "scoring.scores-written")
        ],
    }


@pytest.fixture
def s3(aws_env: str) -> Any:
    return boto3.client("s3", region_name="us-east-1", endpoint_url=aws_env)


@pytest.fixture
def launcher(prefect_api: str) -> Iterator[PrefectLauncher]:
    launcher = PrefectLauncher()
    yield launcher
    launcher.close()


@dataclass
class World:
    """The producer `scoring` (topic + archive) and its first subscriber, `reporting`."""

    federation: Federation
    report: ProvisionReport
    archive: S3EventArchive
    topic_arn: str
    sns: Any
    sqs: Any

    @property
    def topic(self) -> str:
        return topic_name_of(self.topic_arn)

    def archiving_publisher(self) -> ArchivingPublisher:
        return ArchivingPublisher(SnsPublisher(self.sns, self.topic_arn), self.archive, self.topic)

    def plain_publisher(self) -> SnsPublisher:
        """Replay publishes to the topic itself: the events are archived already."""
        return SnsPublisher(self.sns, self.topic_arn)

    def queue_url(self, domain: str) -> str:
        url = self.report.resources[domain].queue_url
        assert url is not None
        return url

    def listener(self, domain: str, launcher: PrefectLauncher) -> Listener:
        return Listener(
            self.federation.domain(domain),
            SqsQueueClient(self.sqs, self.queue_url(domain)),
            launcher,
            federation=self.federation,
            settings=ListenerSettings(domain=domain, wait_time_seconds=1),
        )

    def take(self, domain: str) -> list[UUID]:
        """Receive and delete every message in the domain's queue; their event ids, sorted."""
        ids: list[UUID] = []
        while True:
            messages = self.sqs.receive_message(
                QueueUrl=self.queue_url(domain), MaxNumberOfMessages=10, WaitTimeSeconds=1
            ).get("Messages", [])
            if not messages:
                return sorted(ids)
            for message in messages:
                ids.append(UUID(json.loads(message["Body"])["id"]))
                self.sqs.delete_message(
                    QueueUrl=self.queue_url(domain), ReceiptHandle=message["ReceiptHandle"]
                )


@pytest.fixture
def world(
    provisioned: Provision, sns: Any, sqs: Any, s3: Any, name_prefix: str, enrich_deployment: str
) -> World:
    federation, report = provisioned(SCORING, subscriber("reporting", enrich_deployment))
    bucket = default_archive_bucket(name_prefix)
    assert ensure_archive(s3, bucket) == ("created", "s3 bucket", bucket)
    topic_arn = report.resources["scoring"].topic_arn
    assert topic_arn is not None
    return World(federation, report, S3EventArchive(s3, bucket), topic_arn, sns, sqs)


def handle(listener: Listener, expected: int, timeout: float = 30) -> list[MessageResult]:
    """Poll until `expected` messages were handled, then once more to show there is no other."""
    results: list[MessageResult] = []
    deadline = time.monotonic() + timeout
    while len(results) < expected and time.monotonic() < deadline:
        results += listener.poll_once()
    results += listener.poll_once()
    assert len(results) == expected, [r.outcome for r in results]
    assert {r.outcome.action for r in results} == {"ack"}, [r.outcome for r in results]
    return results


def runs_by_event(launcher: PrefectLauncher, chain: UUID, deployment: str) -> dict[UUID, UUID]:
    """event id -> flow run id, for the chain's runs of one deployment (one run per event)."""
    deployment_id = launcher.client.read_deployment_by_name(deployment).id
    runs: dict[UUID, UUID] = {}
    for run in chain_runs(launcher.client, chain):
        if run.deployment_id != deployment_id:
            continue
        event_id = UUID(str(tag_value(run.tags, EVENT_ID_TAG)))
        assert event_id not in runs, f"a second run for event {event_id}"
        runs[event_id] = run.id
    return runs


def three_events(chain: UUID) -> list[EventEnvelope]:
    return [
        make_event("scoring.completed", {"snapshot_date": f"2026-11-0{day}"}, correlationid=chain)
        for day in (1, 2, 3)
    ]


def window() -> tuple[datetime, datetime]:
    now = datetime.now(UTC)
    return now - timedelta(hours=1), now + timedelta(minutes=1)


# -- idempotency: a replay starts nothing twice ------------------------------------------------


def test_a_replay_re_publishes_the_same_ids_and_the_subscriber_starts_no_second_run(
    world: World, launcher: PrefectLauncher, enrich_deployment: str
) -> None:
    chain = uuid4()
    events = three_events(chain)
    publisher = world.archiving_publisher()
    for envelope in events:
        publisher.publish(envelope)
    reporting = world.listener("reporting", launcher)
    handle(reporting, 3)
    first_runs = runs_by_event(launcher, chain, enrich_deployment)
    assert set(first_runs) == {e.id for e in events}

    report = replay(world.archive, world.plain_publisher(), world.topic, *window())

    assert report.published == 3
    assert [e.to_json() for e in report.events] == [e.to_json() for e in events]
    replayed = handle(reporting, 3)
    assert {run.flow_run_id for r in replayed for run in r.runs} == set(first_runs.values())
    assert runs_by_event(launcher, chain, enrich_deployment) == first_runs


# -- a domain that subscribes later ------------------------------------------------------------


def test_a_domain_subscribed_after_the_events_gets_only_its_own_runs_from_a_replay(
    world: World,
    provisioned: Provision,
    launcher: PrefectLauncher,
    enrich_deployment: str,
    audit_deployment: str,
) -> None:
    chain = uuid4()
    events = three_events(chain)
    publisher = world.archiving_publisher()
    for envelope in events:
        publisher.publish(envelope)
    handle(world.listener("reporting", launcher), 3)
    first_runs = runs_by_event(launcher, chain, enrich_deployment)

    world.federation, world.report = provisioned(
        SCORING, subscriber("reporting", enrich_deployment), subscriber("audit", audit_deployment)
    )
    assert world.take("audit") == []  # it subscribed after the events went out
    replay(world.archive, world.plain_publisher(), world.topic, *window())
    handle(world.listener("reporting", launcher), 3)
    handle(world.listener("audit", launcher), 3)

    assert runs_by_event(launcher, chain, enrich_deployment) == first_runs
    audit_runs = runs_by_event(launcher, chain, audit_deployment)
    assert set(audit_runs) == {e.id for e in events}
    assert not set(audit_runs.values()) & set(first_runs.values())


# -- dry run and filters -----------------------------------------------------------------------


def test_a_dry_run_lists_the_events_and_publishes_nothing(world: World) -> None:
    events = three_events(uuid4())
    publisher = world.archiving_publisher()
    for envelope in events:
        publisher.publish(envelope)
    assert world.take("reporting") == sorted(e.id for e in events)

    report = replay(world.archive, world.plain_publisher(), world.topic, *window(), dry_run=True)

    assert [e.id for e in report.events] == [e.id for e in events]
    assert report.published == 0
    assert world.take("reporting") == []


def test_the_type_filter_re_publishes_only_that_type(world: World) -> None:
    chain = uuid4()
    completed = three_events(chain)
    written = make_event("scoring.scores-written", {"snapshot_date": "x"}, correlationid=chain)
    publisher = world.archiving_publisher()
    for envelope in [*completed, written]:
        publisher.publish(envelope)
    assert len(world.take("reporting")) == 4

    report = replay(
        world.archive,
        world.plain_publisher(),
        world.topic,
        *window(),
        type="scoring.scores-written",
    )

    assert report.published == 1
    assert world.take("reporting") == [written.id]


def test_the_correlation_filter_re_publishes_only_that_chain(world: World) -> None:
    wanted, other = three_events(uuid4()), three_events(uuid4())
    publisher = world.archiving_publisher()
    for envelope in [*wanted, *other]:
        publisher.publish(envelope)
    world.take("reporting")

    replay(
        world.archive,
        world.plain_publisher(),
        world.topic,
        *window(),
        correlation_id=wanted[0].correlationid,
    )

    assert world.take("reporting") == sorted(e.id for e in wanted)


# -- the command -------------------------------------------------------------------------------


@pytest.fixture
def cli(world: World, name_prefix: str, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Any]:
    """`prefect-federation replay ...` through Typer, with this test's prefix, against moto."""
    monkeypatch.setenv("PREFECT_FEDERATION_NAME_PREFIX", name_prefix)
    monkeypatch.setenv("COLUMNS", "400")  # rich must not wrap ids in the table
    app = typer.Typer()
    app.command("replay")(replay_command)

    @app.callback()
    def main() -> None:
        """A group, so that `replay` is a subcommand as on the real app."""

    def invoke(*args: str) -> Any:
        return CliRunner().invoke(app, ["replay", *args])

    return invoke


def test_the_command_re_publishes_the_window_and_says_how_many(
    world: World, cli: Callable[..., Any]
) -> None:
    events = three_events(uuid4())
    publisher = world.archiving_publisher()
    for envelope in events:
        publisher.publish(envelope)
    world.take("reporting")

    result = cli("--source", "scoring", "--since", "1h")

    assert result.exit_code == 0, result.output
    assert f"re-published 3 events from {world.topic}" in result.stdout
    assert world.take("reporting") == sorted(e.id for e in events)


def test_the_commands_dry_run_prints_the_events_and_publishes_nothing(
    world: World, cli: Callable[..., Any]
) -> None:
    chain = uuid4()
    events = [*three_events(chain), make_event("scoring.scores-written", correlationid=chain)]
    publisher = world.archiving_publisher()
    for envelope in events:
        publisher.publish(envelope)
    world.take("reporting")

    result = cli("--source", "scoring", "--since", "2h", "--type", "scoring.completed", "--dry-run")

    assert result.exit_code == 0, result.output
    for envelope in events[:3]:
        assert str(envelope.id) in result.stdout
    assert str(events[3].id) not in result.stdout
    assert str(chain) in result.stdout
    assert "dry run: would re-publish 3 events" in result.stdout
    assert world.take("reporting") == []


def test_the_command_filters_by_correlation_id(world: World, cli: Callable[..., Any]) -> None:
    wanted, other = three_events(uuid4()), three_events(uuid4())
    publisher = world.archiving_publisher()
    for envelope in [*wanted, *other]:
        publisher.publish(envelope)
    world.take("reporting")

    result = cli("--source", "scoring", "--correlation-id", str(wanted[0].correlationid))

    assert result.exit_code == 0, result.output
    assert world.take("reporting") == sorted(e.id for e in wanted)


def test_the_command_with_a_bucket_that_does_not_exist_fails_naming_it(
    world: World, cli: Callable[..., Any]
) -> None:
    world.archiving_publisher().publish(three_events(uuid4())[0])
    world.take("reporting")

    result = cli("--source", "scoring", "--archive-bucket", "no-such-event-archive")

    assert result.exit_code == 2
    assert "no-such-event-archive" in result.stderr
    assert "does not exist" in result.stderr
    assert world.take("reporting") == []


def test_the_command_refuses_a_time_it_cannot_read(world: World, cli: Callable[..., Any]) -> None:
    result = cli("--source", "scoring", "--since", "last tuesday")

    assert result.exit_code == 2
    assert "neither an ISO time" in result.stderr


def test_the_command_says_when_the_window_is_empty(world: World, cli: Callable[..., Any]) -> None:
    result = cli("--source", "scoring", "--since", "2020-01-01", "--until", "2020-01-02")

    assert result.exit_code == 0, result.output
    assert f"no archived events from {world.topic}" in result.stdout
