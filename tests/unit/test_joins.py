"""Joins and expectations, pure: the planner, the in-memory store's decisions, the coordinator
and the listener over an in-memory queue (the DynamoDB store: tests/integration/test_joins.py)."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from prefect_federation.declarations import DomainDeclaration, build_federation
from prefect_federation.errors import ConfigError
from prefect_federation.events import EventEnvelope
from prefect_federation.joins.coordinator import JoinCoordinator
from prefect_federation.joins.planner import (
    arrival_of,
    due_instances,
    instance_for_arrival,
    join_item_id,
)
from prefect_federation.joins.store import MemoryJoinStore
from prefect_federation.listener.consumer import Listener
from prefect_federation.listener.pipeline import plan_message
from prefect_federation.publisher import InMemoryPublisher
from prefect_federation.testing import InMemoryQueue, RecordingLauncher, make_event

START = datetime(2026, 11, 24, 5, 0, tzinfo=UTC)  # 06:00 in Berlin


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


REPORTING: dict[str, Any] = {
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
            "deployment": "write-risk-report/reporting",
            "parameters": {
                "scores_path": "{{ events['scoring.completed'].data.scores_path }}",
                "master_path": "{{ events['customer-master.completed'].data.master_path }}",
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
}


def reporting(**changes: Any) -> DomainDeclaration:
    return DomainDeclaration.model_validate({**REPORTING, **changes})


def scoring(region: str = "north", day: str = "2026-11-23", **fields: Any) -> EventEnvelope:
    data = {"snapshot_date": day, "region": region, "scores_path": f"s/{region}.csv"}
    return make_event("scoring.completed", data, **fields)


def master(region: str = "north", day: str = "2026-11-23", **fields: Any) -> EventEnvelope:
    data = {"snapshot_date": day, "region": region, "master_path": f"m/{region}.csv"}
    return make_event("customer-master.completed", data, **fields)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store() -> MemoryJoinStore:
    return MemoryJoinStore()


@pytest.fixture
def coordinator(clock: Clock, store: MemoryJoinStore) -> JoinCoordinator:
    return JoinCoordinator(reporting(), store, InMemoryPublisher(), clock=clock)


def listener_of(coordinator: JoinCoordinator, queue: InMemoryQueue) -> Listener:
    return Listener(coordinator.domain, queue, RecordingLauncher(), joins=coordinator)


# -- declarations ---------------------------------------------------------------------------------


def test_a_join_declares_its_types_key_and_window() -> None:
    subscription = reporting().subscribes[0]
    assert subscription.join is not None
    assert subscription.join.within == timedelta(hours=6)
    assert subscription.event_types == ["scoring.completed", "customer-master.completed"]
    assert reporting().upstreams() == {
        "scoring": ["scoring.completed"],
        "customer-master": ["customer-master.completed"],
    }


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"event": "scoring.completed"}, "either `event`"),
        ({"join": {**REPORTING["subscribes"][0]["join"], "key": "fixed"}}, "not a template"),
        ({"join": {**REPORTING["subscribes"][0]["join"], "events": ["a.b"]}}, "at least 2"),
    ],
)
def test_a_bad_join_is_refused(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        reporting(subscribes=[{**REPORTING["subscribes"][0], **change}])


def test_joins_and_expectations_need_their_alert_types_published() -> None:
    with pytest.raises(ValueError, match=r"add reporting\.join\.expired"):
        reporting(publishes=[{"type": "reporting.sla.missed"}, {"type": "reporting.sla.recovered"}])


def test_an_expectation_of_an_event_the_domain_does_not_receive_is_refused() -> None:
    with pytest.raises(ValueError, match="must subscribe to it"):
        reporting(expects=[{"event": "ingestion.completed", "by": "07:00"}])


def test_check_refuses_a_key_that_a_joined_contract_does_not_require() -> None:
    scoring_decl = DomainDeclaration.model_validate(
        {
            "domain": "scoring",
            "publishes": [{"type": "scoring.completed", "schema": {"required": ["snapshot_date"]}}],
        }
    )
    master_decl = DomainDeclaration.model_validate(
        {"domain": "customer-master", "publishes": [{"type": "customer-master.completed"}]}
    )
    with pytest.raises(ConfigError, match=r"reads data\.region, which 'scoring\.completed'"):
        build_federation([("s", scoring_decl), ("m", master_decl), ("r", reporting())])


def test_check_refuses_a_join_of_an_unpublished_type() -> None:
    scoring_decl = DomainDeclaration.model_validate(
        {"domain": "scoring", "publishes": [{"type": "scoring.other"}]}
    )
    with pytest.raises(ConfigError, match=r"join.events 'scoring.completed'"):
        build_federation([("s", scoring_decl), ("r", reporting())])


# -- the planner ----------------------------------------------------------------------------------


def test_the_key_renders_from_each_event() -> None:
    arrival = arrival_of(reporting().subscribes[0], master("south"))
    assert (arrival.subscription, arrival.key) == ("daily-report", "2026-11-23:south")


def test_the_pipeline_turns_a_joined_event_into_an_arrival_not_a_run() -> None:
    plan = plan_message(scoring().to_json(), reporting())
    assert plan.requests == []
    assert [a.key for a in plan.arrivals] == ["2026-11-23:north"]


def test_deadlines_are_local_times_of_the_expectation() -> None:
    expectation = reporting().expects[0]
    assert due_instances(expectation, START) == []  # 06:00 in Berlin
    due = due_instances(expectation, START + timedelta(hours=1))  # 07:00 in Berlin
    assert [i.item_id for i in due] == [
        "sla#scoring.completed#2026-11-24#north",
        "sla#scoring.completed#2026-11-24#south",
    ]
    assert instance_for_arrival(expectation, scoring("east"), START) is None


# -- the store's decisions -------------------------------------------------------------------------


def _record(store: MemoryJoinStore, event: EventEnvelope, now: datetime) -> str:
    result = store.record_arrival(
        join_item_id("j", "k"), "j", "k", event.type, event.to_json(), now, now + timedelta(hours=1)
    )
    return result.outcome


def test_the_store_keeps_the_first_event_of_a_type_and_knows_a_redelivery(
    store: MemoryJoinStore,
) -> None:
    first, second = scoring(), scoring()
    assert _record(store, first, START) == "recorded"
    assert _record(store, first, START) == "recorded"  # a redelivery: the same event
    assert _record(store, second, START) == "duplicate"
    assert store.joins()[0].envelopes()["scoring.completed"].id == first.id


def test_after_the_window_an_event_is_late_and_recorded(store: MemoryJoinStore) -> None:
    first, late = scoring(), master()
    _record(store, first, START)
    assert _record(store, late, START + timedelta(hours=2)) == "late"
    assert store.joins()[0].late == [f"customer-master.completed {late.id}"]
    assert store.claim_expiry(join_item_id("j", "k"), START + timedelta(hours=2), ["x", "y"])
    assert not store.claim_expiry(join_item_id("j", "k"), START + timedelta(hours=2), ["x"])


# -- the coordinator -------------------------------------------------------------------------------


@pytest.mark.parametrize("order", ["scoring-first", "master-first"])
def test_one_run_when_the_second_event_arrives_in_either_order(
    coordinator: JoinCoordinator, order: str
) -> None:
    events = [scoring(), master()]
    if order == "master-first":
        events.reverse()
    queue = InMemoryQueue()
    listener = listener_of(coordinator, queue)
    queue.put(events[0].to_json())
    assert [r.runs for r in listener.poll_once(0)] == [[]]
    queue.put(events[1].to_json())
    (_result,) = listener.poll_once(0)
    launcher = listener.launcher
    assert isinstance(launcher, RecordingLauncher)
    (request,) = launcher.requests
    assert request.parameters == {
        "scores_path": "s/north.csv",
        "master_path": "m/north.csv",
        "key": "2026-11-23:north",
    }
    assert queue.deleted
    assert not queue.messages
    assert coordinator.store.joins()[0].status == "started"


def test_duplicates_and_redeliveries_start_no_second_run(coordinator: JoinCoordinator) -> None:
    queue = InMemoryQueue()
    listener = listener_of(coordinator, queue)
    s, m = scoring(), master()
    for body in [s, s, m, m, s, scoring(), master()]:
        queue.put(body.to_json())
        listener.poll_once(0)
    launcher = listener.launcher
    assert isinstance(launcher, RecordingLauncher)
    assert len(launcher.runs) == 1
    assert len(launcher.requests) == 1  # after the run started, nothing asks again
    assert coordinator.counts["late"] == 2  # the two other events after the run


def test_window_expiry_publishes_one_join_expired_naming_what_is_missing(
    coordinator: JoinCoordinator, clock: Clock
) -> None:
    queue = InMemoryQueue()
    listener = listener_of(coordinator, queue)
    queue.put(scoring().to_json())
    listener.poll_once(0)
    assert coordinator.tick() == []
    clock.now += timedelta(hours=6)
    (expired,) = [e for e in coordinator.tick() if e.type.endswith("join.expired")]
    assert coordinator.tick() == []
    assert expired.type == "reporting.join.expired"
    assert expired.data["missing"] == ["customer-master.completed"]
    assert expired.data["arrived"] == ["scoring.completed"]
    queue.put(master().to_json())  # late: recorded, acked, no run
    (result,) = listener.poll_once(0)
    assert result.outcome.action == "ack"
    assert result.runs == []
    assert coordinator.store.joins()[0].late


def test_a_missed_deadline_alerts_once_across_two_coordinators_and_recovers_once(
    store: MemoryJoinStore, clock: Clock
) -> None:
    one = JoinCoordinator(reporting(), store, InMemoryPublisher(), clock=clock)
    two = JoinCoordinator(reporting(), store, InMemoryPublisher(), clock=clock)
    one.observe(scoring("north"))  # north is in time, south is not
    clock.now = START + timedelta(hours=1, seconds=5)
    missed = one.tick() + two.tick() + one.tick()
    assert [(e.type, e.data["value"]) for e in missed] == [("reporting.sla.missed", "south")]
    clock.now += timedelta(hours=1)
    two.observe(scoring("south"))
    one.observe(scoring("south"))
    recovered = one.published[1:] + two.published
    assert [(e.type, e.data["value"]) for e in recovered] == [("reporting.sla.recovered", "south")]


class RacyStore(MemoryJoinStore):
    """Claims as moto decides them: read, a pause in which another request may run, write."""

    def claim_sla(self, instance: Any, what: Any, now: datetime) -> bool:
        record = self._sla(instance)
        time.sleep(0.05)
        if what == "recovered" and (record.missed_at is None or record.recovered_at):
            return False
        if what == "missed" and (record.arrived_at or record.missed_at):
            return False
        field = "recovered_at" if what == "recovered" else "missed_at"
        self._slas[instance.item_id] = self._sla(instance).model_copy(update={field: now})
        return True


def test_one_listener_claims_one_recovery_when_an_event_and_its_duplicate_race(
    clock: Clock,
) -> None:
    coordinator = JoinCoordinator(reporting(), RacyStore(), InMemoryPublisher(), clock=clock)
    clock.now = START + timedelta(hours=1, seconds=5)
    coordinator.tick()  # north and south missed
    clock.now += timedelta(hours=1)
    late = scoring("south")
    threads = [threading.Thread(target=coordinator.observe, args=(e,)) for e in (late, late)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    recovered = [e for e in coordinator.published if e.type == "reporting.sla.recovered"]
    assert [e.data["value"] for e in recovered] == ["south"]


def test_a_listener_of_a_joining_domain_needs_a_store() -> None:
    with pytest.raises(ConfigError, match="needs their store"):
        Listener(reporting(), InMemoryQueue(), RecordingLauncher())


def test_provisioning_a_joining_domain_without_a_dynamodb_client_is_refused_first() -> None:
    from prefect_federation.provision import provision

    class Untouchable:
        def __getattr__(self, name: str) -> Any:
            raise AssertionError(f"called {name} before refusing")

    federation = build_federation([("reporting", reporting())])
    with pytest.raises(ConfigError, match=r"domain\(s\) reporting declare joins or expectations"):
        provision(federation, Untouchable(), Untouchable())


def test_status_summarizes_waiting_expired_late_and_missed(
    coordinator: JoinCoordinator, clock: Clock
) -> None:
    from prefect_federation.joins.report import summarize

    queue = InMemoryQueue()
    listener = listener_of(coordinator, queue)
    queue.put(scoring("north").to_json())
    listener.poll_once(0)
    waiting = summarize(coordinator.domain, coordinator.store)
    assert (waiting.open, waiting.expired) == (1, 0)
    assert waiting.lines == [
        "join daily-report [2026-11-23:north]: scoring.completed arrived; waiting for "
        "customer-master.completed until 2026-11-24T11:00:00+00:00"
    ]
    clock.now += timedelta(hours=7)
    coordinator.tick()
    late = master("north")
    queue.put(late.to_json())
    listener.poll_once(0)
    after = summarize(coordinator.domain, coordinator.store)
    assert (after.open, after.expired, after.late_events, after.sla_missed) == (0, 1, 1, 1)
    assert f"late: customer-master.completed {late.id}" in " ".join(after.lines)
    assert "expectation scoring.completed 2026-11-24 south: missed its deadline" in " ".join(
        after.lines
    )


def test_check_reads_the_join_key_against_each_joined_contract() -> None:
    from prefect_federation.contracts.check import check_join_key
    from prefect_federation.contracts.models import Contract

    schema = {
        "type": "object",
        "properties": {"snapshot_date": {"type": "string"}, "region": {"type": "string"}},
        "required": ["snapshot_date", "region"],
    }
    contracts = {
        "scoring.completed": Contract(
            type="scoring.completed",
            version=1,
            producer="scoring",
            data_schema=schema,
            origin="schema",
        ),
        "customer-master.completed": Contract(
            type="customer-master.completed",
            version=1,
            producer="customer-master",
            data_schema={**schema, "properties": {"snapshot_date": {"type": "string"}}},
            origin="schema",
        ),
    }
    problems = check_join_key(contracts, "reporting", 0, reporting().subscribes[0])
    assert [(p.producer, p.message) for p in problems if p.field == "join.key"] == [
        (
            "customer-master",
            "reads `event.data.region`, but customer-master.completed v1 (producer "
            "customer-master) has no `data.region`",
        )
    ]
