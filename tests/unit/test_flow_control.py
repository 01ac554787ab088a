"""Pause and backpressure in the listener: `decide` for `Held`, the gate, the capacity rule."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from prefect_federation.declarations import DomainDeclaration
from prefect_federation.errors import Held
from prefect_federation.events import EventEnvelope
from prefect_federation.listener.capacity import Capacity, CapacityGate, capacity_reason
from prefect_federation.listener.consumer import Listener
from prefect_federation.listener.gate import Gate
from prefect_federation.listener.outcome import decide
from prefect_federation.listener.pause import PauseEntry, PauseReader, PauseState
from prefect_federation.settings import ListenerSettings
from prefect_federation.testing import InMemoryQueue, RecordingLauncher, make_event_body


def held(delay: int = 10) -> Held:
    return Held("backpressure", "f/d", "full", delay)


@pytest.mark.parametrize(
    ("count", "maximum", "action"),
    [(1, 5, "retry"), (3, 5, "retry"), (4, 5, "requeue"), (5, 5, "requeue"), (50, 5, "requeue")],
)
def test_a_held_message_is_never_dead_lettered_for_its_receives(
    count: int, maximum: int, action: str
) -> None:
    outcome = decide(held(7), count, maximum)
    assert (outcome.action, outcome.delay_seconds) == (action, 7)


@pytest.mark.parametrize(
    ("capacity", "reason"),
    [
        (
            Capacity(work_pool="p", pool_status="NOT_READY"),
            "work pool p has no live worker or runner",
        ),
        (Capacity(work_pool="p", pool_status="PAUSED"), "work pool p is paused"),
        (Capacity(waiting=2, pool_status="READY"), "2 run(s) waiting to start (max_waiting 2)"),
        (
            Capacity(waiting=0, running=1, concurrency_limit=1),
            "concurrency limit 1 reached (1 running, 0 waiting)",
        ),
        (
            Capacity(waiting=1, running=0, concurrency_limit=2),
            None,
        ),
        (Capacity(waiting=1, running=1, concurrency_limit=3, pool_status="READY"), None),
    ],
)
def test_why_a_deployment_can_take_no_run(capacity: Capacity, reason: str | None) -> None:
    assert capacity_reason(capacity, 2) == reason


class Probe:
    def __init__(self, capacity: Capacity) -> None:
        self.capacity = capacity
        self.reads = 0

    def read(self, deployment: str) -> Capacity:
        self.reads += 1
        return self.capacity


def test_runs_admitted_count_as_waiting_until_their_creation_returns() -> None:
    probe = Probe(Capacity(waiting=0, pool_status="READY"))
    now = [0.0]
    gate = CapacityGate(probe, ttl=5, clock=lambda: now[0])
    assert [gate.check("f/d", 3) for _ in range(3)] == [None, None, None]
    assert gate.check("f/d", 3) == "3 run(s) waiting to start (max_waiting 3)"
    now[0] = 6.0  # a new reading while the three are still being created: still counted
    assert gate.check("f/d", 3) == "3 run(s) waiting to start (max_waiting 3)"
    probe.capacity = Capacity(waiting=1, pool_status="READY")
    gate.release("f/d")  # one created: Prefect counts it now (1) + 2 still being created
    assert gate.check("f/d", 3) == "3 run(s) waiting to start (max_waiting 3)"
    probe.capacity = Capacity(waiting=0, pool_status="READY")  # it started
    gate.release("f/d")
    assert gate.check("f/d", 3) is None  # 0 + 1 being created


def domain() -> DomainDeclaration:
    return DomainDeclaration.model_validate(
        {
            "domain": "billing",
            "subscribes": [
                {"event": "orders.placed", "deployment": "bill/one", "max_waiting": 2},
                {"event": "orders.placed", "deployment": "audit/one", "name": "audit"},
            ],
        }
    )


class Skips:
    def __init__(self) -> None:
        self.records: list[tuple[str, str, EventEnvelope]] = []

    def record(self, domain: str, key: str, envelope: EventEnvelope) -> str:
        self.records.append((domain, key, envelope))
        return "k"


def pause_of(**entries: str) -> PauseReader:
    since = datetime(2026, 12, 1, 10, tzinfo=UTC)
    state = PauseState(
        paused={
            k: PauseEntry(mode=m, reason="deploy", by="ann@h", since=since)
            for k, m in entries.items()
        }  # type: ignore[arg-type]
    )
    return PauseReader(lambda: state)


def listener(gate: Gate, queue: InMemoryQueue, launcher: RecordingLauncher) -> Listener:
    return Listener(
        gate.domain, queue, launcher, settings=ListenerSettings(domain="billing"), gate=gate
    )


def test_a_subscription_paused_with_hold_keeps_its_messages_the_others_keep_flowing() -> None:
    queue, launcher = InMemoryQueue(max_receive_count=3), RecordingLauncher()
    gate = Gate(domain(), pause=pause_of(audit="hold"), pause_delay_seconds=30)
    queue.put(make_event_body("orders.placed", {}))
    subject = listener(gate, queue, launcher)

    for _ in range(6):  # far more receives than maxReceiveCount
        subject.poll_once(0)

    assert queue.dead_letters == []
    assert queue.depth == 1  # still there (requeued as a fresh copy near the limit)
    assert queue.requeued
    assert {r.deployment for r in launcher.requests} == {"bill/one"}  # one run, found again
    assert len(launcher.runs) == 1
    assert gate.held()["audit"]["kind"] == "paused"


def test_a_subscription_paused_with_skip_acks_and_records_each_event() -> None:
    queue, launcher, skips = InMemoryQueue(), RecordingLauncher(), Skips()
    gate = Gate(domain(), pause=pause_of(**{"*": "skip"}), skips=skips)  # type: ignore[arg-type]
    queue.put(make_event_body("orders.placed", {}))

    [result] = listener(gate, queue, launcher).poll_once(0)

    assert result.outcome.action == "ack"
    assert launcher.requests == []
    assert [(d, k) for d, k, _ in skips.records] == [("billing", "bill/one"), ("billing", "audit")]


def test_backpressure_holds_one_subscription_and_resumes_by_itself() -> None:
    probe = Probe(Capacity(work_pool="billing", pool_status="NOT_READY"))
    gate = Gate(domain(), capacity=CapacityGate(probe, ttl=0), hold_delay_seconds=10)
    queue, launcher = InMemoryQueue(), RecordingLauncher()
    queue.put(make_event_body("orders.placed", {}))
    subject = listener(gate, queue, launcher)

    [first] = subject.poll_once(0)
    assert (first.outcome.action, first.outcome.delay_seconds) == ("retry", 10)
    assert gate.held()["bill/one"]["reason"] == "work pool billing has no live worker or runner"
    probe.capacity = Capacity(pool_status="READY")
    [second] = subject.poll_once(0)

    assert second.outcome.action == "ack"
    assert len(launcher.runs) == 2
    assert gate.held() == {}


def test_the_pause_state_is_read_again_only_after_its_ttl() -> None:
    reads: list[Any] = []
    now = [0.0]

    def read() -> PauseState:
        reads.append(now[0])
        return PauseState()

    reader = PauseReader(read, ttl=5, clock=lambda: now[0])
    for moment in (0.0, 1.0, 4.9, 5.0, 6.0):
        now[0] = moment
        reader.state()
    assert reads == [0.0, 5.0]


def test_status_names_each_pause_and_hold_with_the_queue_and_the_retention() -> None:
    from prefect_federation.status.flow import flow_lines
    from prefect_federation.status.rules import DomainStatus

    now = datetime(2026, 12, 1, 12, tzinfo=UTC)
    status = DomainStatus(
        domain="billing",
        checked_at=now,
        healthy=True,
        visible=3,
        in_flight=1,
        listener_counters={
            "held_back": {
                "audit": {"kind": "paused", "oldest": "2026-12-01T09:00:00+00:00"},
                "bill/one": {
                    "kind": "backpressure",
                    "reason": "work pool billing has no live worker or runner",
                    "since": "2026-12-01T11:58:00+00:00",
                },
            }
        },
    )
    pause = pause_of(audit="hold").state()

    lines = flow_lines(status, pause, retention_seconds=4 * 24 * 3600, now=now)

    assert lines == [
        "paused: audit: hold since 2026-12-01 10:00:00Z by ann@h: deploy; 4 message(s) in the "
        "queue; oldest held message arrived 3h 00m ago: 3% of the queue's retention (4d 00h)",
        "held back: bill/one: work pool billing has no live worker or runner (since "
        "2026-12-01T11:58:00+00:00)",
    ]
