"""Joins and expectations against moto server (DynamoDB, SNS, SQS) and a Prefect server.

Each test provisions its own topics, queues and join table (its `name_prefix`); the listeners
are `Listener` objects over the real queue, the real DynamoDB table and the real Prefect API;
a test's clock is a `ManualClock` (no sleeping to a deadline or to a window's end).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

import boto3
import httpx
import pytest
import yaml

from prefect_federation.declarations import Federation
from prefect_federation.events import EventEnvelope
from prefect_federation.joins.coordinator import JoinCoordinator, PrefectAlertEmitter
from prefect_federation.joins.dynamodb import DynamoJoinStore
from prefect_federation.listener.consumer import Listener
from prefect_federation.listener.launcher import PrefectLauncher
from prefect_federation.naming import join_table_name
from prefect_federation.provision import ProvisionReport, provision
from prefect_federation.publisher import SnsPublisher
from prefect_federation.queue import ReceivedMessage, SqsQueueClient
from prefect_federation.settings import FederationSettings, ListenerSettings
from prefect_federation.testing import make_event

pytestmark = pytest.mark.integration

DAY = "2026-11-23"
DEADLINE_UTC = datetime(2026, 11, 24, 6, 0, tzinfo=UTC)  # 07:00 in Berlin


def write_report(scores_path: str, master_path: str, key: str) -> None:
    """The signature the test deployment's parameter schema is made from."""


class ManualClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def declarations(deployment: str) -> list[dict[str, Any]]:
    return [
        {"domain": "scoring", "publishes": [{"type": "scoring.completed"}]},
        {"domain": "customer-master", "publishes": [{"type": "customer-master.completed"}]},
        {
            "domain": "reporting",
            "publishes": [
                {"type": "reporting.join.expired"},
                {"type": "reporting.sla.missed"},
                {"type": "reporting.sla.recovered"},
            ],
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
                        "scores_path": "{{ events['scoring.completed'].data.scores_path }}",
                        "master_path": "{{ events['customer-master.completed'].data.path }}",
                        "key": "{{ key }}",
                    },
                }
            ],
            "expects": [
                {
                    "event": "scoring.completed",
                    "by": "07:00",
                    "timezone": "Europe/Berlin",
                    "for_each": "{{ event.data.region }}",
                    "values": ["north", "south"],
                }
            ],
        },
        {  # watches reporting's alerts on SNS, as another team would
            "domain": "ops",
            "subscribes": [
                {"event": t, "deployment": "page/on-call"}
                for t in (
                    "reporting.join.expired",
                    "reporting.sla.missed",
                    "reporting.sla.recovered",
                )
            ],
        },
    ]


@dataclass
class Joins:
    federation: Federation
    report: ProvisionReport
    sns: Any
    sqs: Any
    dynamodb: Any
    table: str
    clock: ManualClock
    deployment: str
    listeners: list[Listener] = field(default_factory=list)

    def publisher(self, domain: str) -> SnsPublisher:
        arn = self.report.resources[domain].topic_arn
        assert arn is not None
        return SnsPublisher(self.sns, arn)

    def queue(self, domain: str = "reporting") -> SqsQueueClient:
        url = self.report.resources[domain].queue_url
        assert url is not None
        return SqsQueueClient(self.sqs, url)

    def coordinator(self) -> JoinCoordinator:
        """A new coordinator over a new client of the same table: as another process has."""
        return JoinCoordinator(
            self.federation.domain("reporting"),
            DynamoJoinStore(self.dynamodb, self.table),
            self.publisher("reporting"),
            emit=PrefectAlertEmitter(),
            clock=self.clock,
        )

    def listener(self, queue: Any = None) -> Listener:
        listener = Listener(
            self.federation.domain("reporting"),
            queue or self.queue(),
            PrefectLauncher(emit_events=False),
            federation=self.federation,
            settings=ListenerSettings(domain="reporting", wait_time_seconds=1),
            joins=self.coordinator(),
        )
        self.listeners.append(listener)
        return listener

    def drain(self, listener: Listener, polls: int = 6) -> None:
        """Poll until the queue is empty (visible and in flight)."""
        for _ in range(polls):
            listener.poll_once(wait_seconds=1)
            if self.depth() == (0, 0):
                return
        raise AssertionError(f"queue not drained: {self.depth()}")

    def depth(self, domain: str = "reporting") -> tuple[int, int]:
        url = self.report.resources[domain].queue_url
        attributes = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])
        values = attributes["Attributes"]
        return (
            int(values["ApproximateNumberOfMessages"]),
            int(values["ApproximateNumberOfMessagesNotVisible"]),
        )

    def runs(self, key: str) -> list[Any]:
        """The flow runs of the join's deployment for `key`, on the Prefect server."""
        from prefect.client.orchestration import get_client
        from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterName

        name = self.deployment.split("/", 1)[1]
        with get_client(sync_client=True) as client:
            runs = client.read_flow_runs(
                deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=[name])),
                limit=200,
            )
        return [r for r in runs if r.parameters.get("key") == key]

    def alerts(self, polls: int = 3) -> list[EventEnvelope]:
        """What reporting published to SNS, as ops' queue received it."""
        queue, found = self.queue("ops"), []
        for _ in range(polls):
            for message in queue.receive(10, 1):
                found.append(EventEnvelope.model_validate_json(message.body))
                queue.delete(message)
        return found


@pytest.fixture(scope="module")
def join_deployment(make_deployment: Any) -> str:
    return make_deployment(write_report, "write-risk-report", "reporting-join")


@pytest.fixture
def joins(
    sns: Any,
    sqs: Any,
    aws_env: str,
    name_prefix: str,
    join_deployment: str,
    prefect_api: str,
    federate: Any,
) -> Any:
    dynamodb = boto3.client("dynamodb", region_name="us-east-1", endpoint_url=aws_env)
    federation = federate(*declarations(join_deployment))
    settings = FederationSettings(name_prefix=name_prefix, visibility_timeout=30)
    report = provision(federation, sns, sqs, settings, dynamodb=dynamodb)
    setup = Joins(
        federation,
        report,
        sns,
        sqs,
        dynamodb,
        join_table_name(name_prefix, "reporting"),
        ManualClock(DEADLINE_UTC - timedelta(hours=2)),
        join_deployment,
    )
    yield setup
    for listener in setup.listeners:
        listener.stop()
        listener._pool.shutdown(wait=True)
        launcher = listener.launcher
        assert isinstance(launcher, PrefectLauncher)
        launcher.close()


def scoring(region: str, day: str = DAY) -> EventEnvelope:
    data = {"snapshot_date": day, "region": region, "scores_path": f"scores/{region}.csv"}
    return make_event("scoring.completed", data)


def master(region: str, day: str = DAY) -> EventEnvelope:
    data = {"snapshot_date": day, "region": region, "path": f"master/{region}.csv"}
    return make_event("customer-master.completed", data)


def distinct(alerts: Iterable[EventEnvelope]) -> list[EventEnvelope]:
    """Alerts by id: SNS delivers at least once, and a retried publish is the same alert (its id
    is derived from what it alerts about), which every consumer drops as a duplicate."""
    return list({a.id: a for a in alerts}.values())


def publish(joins: Joins, *events: EventEnvelope) -> None:
    for event in events:
        joins.publisher(event.source).publish(event)


# -- provisioning ---------------------------------------------------------------------------------


def test_provision_creates_the_join_table_once(joins: Joins) -> None:
    assert ("created", "dynamodb table", joins.table) in joins.report.actions
    again = provision(
        joins.federation,
        joins.sns,
        joins.sqs,
        FederationSettings(name_prefix=joins.table.removesuffix("reporting-joins")),
        dynamodb=joins.dynamodb,
    )
    assert ("unchanged", "dynamodb table", joins.table) in again.actions
    assert [a for a in again.actions if a[1] == "dynamodb table"] == [
        ("unchanged", "dynamodb table", joins.table)
    ]


# -- joins ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("order", ["scoring-first", "master-first"])
def test_the_run_starts_once_when_the_second_event_arrives(joins: Joins, order: str) -> None:
    region = f"r-{order}"
    first, second = scoring(region), master(region)
    if order == "master-first":
        first, second = second, first
    listener = joins.listener()
    publish(joins, first)
    joins.drain(listener)
    assert joins.runs(f"{DAY}:{region}") == []  # waiting, and the message is gone

    publish(joins, second)
    joins.drain(listener)

    (run,) = joins.runs(f"{DAY}:{region}")
    assert run.parameters == {
        "scores_path": f"scores/{region}.csv",
        "master_path": f"master/{region}.csv",
        "key": f"{DAY}:{region}",
    }
    assert run.idempotency_key.startswith("federation:join:reporting:daily-report:")
    assert listener.joins is not None
    (record,) = [r for r in listener.joins.store.joins() if r.key == f"{DAY}:{region}"]
    assert record.status == "started"
    assert record.run_id == str(run.id)


class FailingDelete:
    """A queue whose deletes fail: the message is handled, then comes back (a redelivery)."""

    def __init__(self, queue: SqsQueueClient) -> None:
        self._queue = queue

    def __getattr__(self, name: str) -> Any:
        return getattr(self._queue, name)

    def delete(self, message: ReceivedMessage) -> None:
        self._queue.retry_later(message, 0)  # visible again at once
        raise RuntimeError("delete lost")


def test_duplicates_and_redeliveries_of_each_side_make_one_run(joins: Joins) -> None:
    s, m = scoring("dup"), master("dup")
    publish(joins, s, s)  # the same event twice (a producer's retry)
    crashing = joins.listener(FailingDelete(joins.queue()))
    for _ in range(3):
        crashing.poll_once(wait_seconds=1)  # handled, never deleted: redelivered
    publish(joins, m, m)
    for _ in range(3):
        crashing.poll_once(wait_seconds=1)  # the run is asked for more than once
    healthy = joins.listener()
    joins.drain(healthy)

    assert len(joins.runs(f"{DAY}:dup")) == 1
    # created once; every other ask found it by its idempotency key
    assert crashing.stats.runs_created + healthy.stats.runs_created == 1
    assert crashing.stats.runs_existing + healthy.stats.runs_existing >= 1


def test_two_listeners_on_one_queue_with_interleaved_events_make_one_run_per_key(
    joins: Joins,
) -> None:
    keys = [f"pair-{i}" for i in range(6)]
    one, two = joins.listener(), joins.listener()
    stop = threading.Event()

    def serve(listener: Listener) -> None:
        while not stop.is_set():
            listener.poll_once(wait_seconds=1)

    threads = [threading.Thread(target=serve, args=(x,)) for x in (one, two)]
    for thread in threads:
        thread.start()
    try:
        events = [e for k in keys for e in (scoring(k), master(k))]
        publish(joins, *events[::2], *events[1::2], *events[1::3])  # interleaved, duplicated
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not all(joins.runs(f"{DAY}:{k}") for k in keys):
            time.sleep(0.5)
        while time.monotonic() < deadline and joins.depth() != (0, 0):
            time.sleep(0.5)
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)
    assert {k: len(joins.runs(f"{DAY}:{k}")) for k in keys} == dict.fromkeys(keys, 1)
    created = one.stats.runs_created + two.stats.runs_created
    assert created == len(keys)
    assert one.stats.received
    assert two.stats.received


def test_a_listener_gone_between_the_two_arrivals_leaves_one_run_to_its_successor(
    joins: Joins,
) -> None:
    first = joins.listener()
    publish(joins, scoring("restart"))
    joins.drain(first)
    first.stop()  # gone: a new process would have a new Listener, store client and launcher
    publish(joins, master("restart"))
    joins.drain(joins.listener())
    (run,) = joins.runs(f"{DAY}:restart")
    assert run.parameters["scores_path"] == "scores/restart.csv"


def _prefect_events(
    api: str, name: str, since: datetime, mine: Callable[[dict[str, Any]], bool]
) -> list[dict[str, Any]]:
    """The events `name` since `since` that are `mine`, once there are some (20 s at most)."""
    found: list[dict[str, Any]] = []
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        response = httpx.post(
            f"{api}/events/filter",
            json={
                "filter": {"event": {"name": [name]}, "occurred": {"since": since.isoformat()}},
                "limit": 50,
            },
        )
        response.raise_for_status()
        found = [e for e in response.json()["events"] if mine(e["payload"])]
        if found:
            return found
        time.sleep(0.5)
    return found


def test_a_window_that_closes_incomplete_publishes_one_join_expired(
    joins: Joins, prefect_api: str
) -> None:
    since = datetime.now(UTC) - timedelta(seconds=5)
    listener = joins.listener()
    publish(joins, scoring("lonely"))
    joins.drain(listener)
    others = [joins.coordinator(), joins.coordinator()]
    assert [c.tick() for c in others] == [[], []]  # the window is open
    joins.clock.now += timedelta(hours=6, seconds=1)
    # both listeners sweep, one after the other (moto's DynamoDB does not serialize concurrent
    # conditional writes as DynamoDB does, so they are interleaved here rather than raced)
    for coordinator in (others[0], others[1], others[0]):
        coordinator.tick()

    expired = [a for a in joins.alerts() if a.type == "reporting.join.expired"]
    assert [(a.data["key"], a.data["missing"], a.data["arrived"]) for a in expired] == [
        (f"{DAY}:lonely", ["customer-master.completed"], ["scoring.completed"])
    ]
    feed = _prefect_events(
        prefect_api, "prefect-federation.join.expired", since, lambda p: "lonely" in p["key"]
    )
    assert [e["payload"]["key"] for e in feed] == [f"{DAY}:lonely"]

    publish(joins, master("lonely"))  # late: recorded and acked, no run
    joins.drain(listener)
    assert joins.runs(f"{DAY}:lonely") == []
    (record,) = [r for r in others[0].store.joins() if r.key == f"{DAY}:lonely"]
    assert record.status == "expired"
    assert [entry.split()[0] for entry in record.late] == ["customer-master.completed"]


def test_explain_says_where_each_event_stands_in_its_join(joins: Joins, prefect_api: str) -> None:
    from prefect.client.orchestration import get_client

    from prefect_federation.archive import InMemoryEventArchive, topic_name_of
    from prefect_federation.explain import ExplainSources, SubscriptionVerdict, explain_event

    archive = InMemoryEventArchive()

    def send(*events: EventEnvelope) -> None:
        for event in events:
            publisher = joins.publisher(event.source)
            publisher.publish(event)
            assert publisher.topic_arn is not None
            archive.put(event, topic_name_of(publisher.topic_arn))

    def verdict(client: Any, event: EventEnvelope) -> SubscriptionVerdict:
        sources = ExplainSources(
            federation=joins.federation,
            clients={prefect_api: client},
            archive=archive,
            name_prefix=joins.table.removesuffix("reporting-joins"),
            join_stores={"reporting": DynamoJoinStore(joins.dynamodb, joins.table)},
        )
        explanation = explain_event(sources, event.id, depth=0)
        assert explanation.problems == []
        (reporting,) = [d for d in explanation.domains if d.domain == "reporting"]
        (subscription,) = reporting.subscriptions
        return subscription

    listener = joins.listener()
    lonely, first, second = scoring("why-lonely"), scoring("why-pair"), master("why-pair")
    send(lonely, first)
    joins.drain(listener)
    send(second)  # after: moto's DynamoDB does not serialize concurrent writes to one item
    joins.drain(listener)
    (run,) = joins.runs(f"{DAY}:why-pair")
    with get_client(sync_client=True) as client:
        waiting = verdict(client, lonely)
        assert waiting.outcome is not None
        assert waiting.outcome.status == "join-waiting"
        assert waiting.outcome.sentence.startswith(
            f"join [{DAY}:why-lonely]: arrived (scoring.completed so far); waiting for "
            "customer-master.completed until "
        )
        # the run carries the second event's id only: the first one's is found in the store
        for event in (first, second):
            paired = verdict(client, event)
            assert paired.run is not None
            assert paired.run.id == run.id
            assert paired.outcome is not None
            assert paired.outcome.ok

        joins.clock.now += timedelta(hours=6, seconds=1)
        joins.coordinator().tick()
        expired = verdict(client, lonely).outcome
        assert expired is not None
        assert (expired.status, expired.ok) == ("join-expired", False)
        assert "customer-master.completed never came" in expired.sentence

        straggler = master("why-lonely")
        send(straggler)
        joins.drain(listener)
        late = verdict(client, straggler).outcome
        assert late is not None
        assert late.status == "join-late"
        assert "arrived after the join was expired" in late.sentence


# -- expectations ---------------------------------------------------------------------------------


def test_a_missed_deadline_publishes_one_sla_missed_with_two_listeners_then_recovers(
    joins: Joins, prefect_api: str
) -> None:
    since = datetime.now(UTC) - timedelta(seconds=5)
    one, two = joins.listener(), joins.listener()
    publish(joins, scoring("north"))  # north is in time; south is not
    joins.drain(one)
    assert one.joins is not None
    assert two.joins is not None
    assert one.joins.tick() == []  # 05:00 in Berlin: nothing due
    joins.clock.now = DEADLINE_UTC + timedelta(seconds=30)  # "within a minute of the deadline"
    for coordinator in (one.joins, two.joins, one.joins):  # interleaved, as above
        coordinator.tick()

    claimed = [a for c in (one.joins, two.joins) for a in c.published]  # one claim in all
    assert [(a.type, a.data["value"]) for a in claimed] == [("reporting.sla.missed", "south")]
    missed = distinct(a for a in joins.alerts() if a.type == "reporting.sla.missed")
    assert [(a.data["event"], a.data["value"], a.data["day"]) for a in missed] == [
        ("scoring.completed", "south", "2026-11-24")
    ]
    at = joins.clock.now.isoformat()
    feed = _prefect_events(
        prefect_api, "prefect-federation.sla.missed", since, lambda p: p["missed_at"] == at
    )
    assert [e["payload"]["value"] for e in feed] == ["south"]

    joins.clock.now += timedelta(hours=1)
    publish(joins, scoring("south"), scoring("south"))  # late, and a duplicate
    joins.drain(two)
    claimed = [a for c in (one.joins, two.joins) for a in c.published]
    assert sorted((a.type, a.data["value"]) for a in claimed) == [
        ("reporting.sla.missed", "south"),
        ("reporting.sla.recovered", "south"),
    ]
    recovered = distinct(a for a in joins.alerts() if a.type == "reporting.sla.recovered")
    assert [a.data["value"] for a in recovered] == ["south"]
    stored = {r.value: r for r in one.joins.store.expectations()}
    assert stored["south"].missed_at is not None
    assert stored["south"].recovered_at is not None
    assert stored["north"].missed_at is None
    assert json.loads(json.dumps(missed[0].data))["deadline"].startswith("2026-11-24T07:00")


def test_alerts_keeps_one_automation_on_the_sla_missed_events_of_an_expecting_domain(
    prefect_api: str, tmp_path: Path
) -> None:
    from prefect.client.orchestration import get_client
    from typer.testing import CliRunner

    from prefect_federation.alerts import sla_automation_name
    from prefect_federation.cli import app

    domain = f"expecting-{uuid4().hex[:6]}"
    declarations = [
        {"domain": "scoring", "publishes": [{"type": "scoring.completed"}]},
        {
            "domain": domain,
            "publishes": [{"type": f"{domain}.sla.missed"}, {"type": f"{domain}.sla.recovered"}],
            "subscribes": [{"event": "scoring.completed", "deployment": "f/d"}],
            "expects": [{"event": "scoring.completed", "by": "07:00"}],
        },
    ]
    for declaration in declarations:
        (tmp_path / f"{declaration['domain']}.yaml").write_text(yaml.safe_dump(declaration))
    args = ["alerts", "-d", str(tmp_path), "--domain", domain]

    first = CliRunner().invoke(app, args)
    second = CliRunner().invoke(app, args)

    assert first.exit_code == 0, first.output
    assert "on each sla.missed" in " ".join(first.output.split())
    assert "2 automation(s), 0 created or updated" in " ".join(second.output.split())
    with get_client(sync_client=True) as client:
        ours = [a for a in client.read_automations() if a.name == sla_automation_name(domain)]
    (automation,) = ours
    assert automation.trigger.expect == {"prefect-federation.sla.missed"}  # type: ignore[union-attr]
    assert automation.trigger.match.root == {"federation.domain": domain}  # type: ignore[union-attr]
