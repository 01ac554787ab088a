"""The health rules of `prefect-federation status`: pure functions of observed facts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from prefect_federation.status import (
    AgeSource,
    HealthThresholds,
    ListenerHeartbeat,
    QueueObservation,
    build_status,
    format_duration,
    health_reasons,
    heartbeat_from_event,
)

NOW = datetime(2026, 11, 24, 12, 0, 0, tzinfo=UTC)
THRESHOLDS = HealthThresholds(heartbeat_misses=3, heartbeat_seconds=30, max_oldest_age_seconds=300)


def queue(**changes: Any) -> QueueObservation:
    fields: dict[str, Any] = {
        "queue": "federation-scoring-inbox",
        "dlq": "federation-scoring-inbox-dlq",
        "visible": 0,
        "in_flight": 0,
        "dlq_depth": 0,
        "oldest_age_seconds": None,
        "oldest_age_source": AgeSource.peek,
    }
    fields.update(changes)
    return QueueObservation(**fields)


def beat(
    seconds_ago: float, phase: str = "alive", interval: float | None = 30
) -> ListenerHeartbeat:
    return ListenerHeartbeat(
        occurred=NOW - timedelta(seconds=seconds_ago),
        phase=phase,
        interval_seconds=interval,
        host="worker-1",
    )


def reasons(
    q: QueueObservation | None = None, hb: ListenerHeartbeat | None = None, **kw: Any
) -> list[str]:
    return health_reasons("scoring", q or queue(), hb, NOW, THRESHOLDS, **kw)


def test_an_empty_dlq_a_fresh_heartbeat_and_a_young_message_are_healthy() -> None:
    assert reasons(queue(visible=3, oldest_age_seconds=12.0), beat(5)) == []


def test_a_message_in_the_dlq_makes_the_domain_unhealthy_naming_the_count_and_the_command() -> None:
    [reason] = reasons(queue(dlq_depth=2), beat(5))

    assert "holds 2 message(s)" in reason
    assert "federation-scoring-inbox-dlq" in reason
    assert "prefect-federation dlq list --domain scoring" in reason


def test_a_listener_never_seen_is_unhealthy() -> None:
    [reason] = reasons(queue(), None)

    assert reason.startswith("listener never seen")
    assert "listen --domain scoring" in reason


def test_a_listener_silent_for_more_than_three_heartbeats_is_unhealthy() -> None:
    [reason] = reasons(queue(), beat(91))

    assert reason == "listener silent for 1m 31s (allowed 1m 30s: 3 x its 30s heartbeat)"


def test_a_listener_silent_for_exactly_the_allowed_time_is_still_healthy() -> None:
    assert reasons(queue(), beat(90)) == []


def test_the_listeners_own_heartbeat_interval_decides_how_long_it_may_be_silent() -> None:
    assert reasons(queue(), beat(20, interval=5)) != []
    assert reasons(queue(), beat(200, interval=120)) == []


def test_a_heartbeat_without_an_interval_uses_the_assumed_one() -> None:
    assert reasons(queue(), beat(80, interval=None)) == []
    assert reasons(queue(), beat(100, interval=None)) != []


def test_a_listener_whose_last_heartbeat_said_stopped_is_unhealthy_even_if_recent() -> None:
    [reason] = reasons(queue(), beat(2, phase="stopped"))

    assert reason.startswith("listener stopped 2s ago")
    assert "worker-1" in reason


def test_a_heartbeat_from_a_clock_ahead_of_ours_counts_as_fresh() -> None:
    assert reasons(queue(), beat(-40)) == []


def test_an_oldest_message_older_than_the_threshold_is_unhealthy() -> None:
    [reason] = reasons(queue(visible=1, oldest_age_seconds=301.0), beat(1))

    assert reason == "oldest waiting message is 5m 01s old (more than 5m 00s)"


def test_an_unknown_oldest_age_is_not_a_reason() -> None:
    assert reasons(queue(visible=50, oldest_age_seconds=None), beat(1)) == []


def test_a_missing_deployment_is_a_reason_naming_it() -> None:
    [reason] = reasons(queue(), beat(1), missing_deployments=["score/daily"])

    assert "'score/daily' does not exist" in reason


def test_what_could_not_be_observed_is_a_reason_and_heartbeat_rules_are_skipped_if_unread() -> None:
    result = reasons(
        queue(),
        None,
        problems=["cannot read listener heartbeats from Prefect: ConnectError: refused"],
        listener_observed=False,
    )

    assert result == ["cannot read listener heartbeats from Prefect: ConnectError: refused"]


def test_every_failing_rule_is_reported_not_only_the_first() -> None:
    result = reasons(queue(dlq_depth=1, visible=1, oldest_age_seconds=4000.0), None)

    assert len(result) == 3


def test_build_status_is_healthy_only_without_reasons_and_carries_the_facts() -> None:
    heartbeat = beat(10)
    healthy = build_status(
        "scoring", queue(visible=2, in_flight=1), heartbeat, NOW, THRESHOLDS, runs_last_hour=4
    )
    sick = build_status("scoring", queue(dlq_depth=1), heartbeat, NOW, THRESHOLDS)

    assert healthy.healthy
    assert (healthy.visible, healthy.in_flight, healthy.runs_last_hour) == (2, 1, 4)
    assert healthy.heartbeat_age_seconds == 10
    assert healthy.last_heartbeat_at == heartbeat.occurred
    assert not sick.healthy
    assert sick.dlq_depth == 1
    assert sick.reasons


def test_build_status_keeps_why_the_oldest_age_is_unknown_as_a_note_not_a_reason() -> None:
    status = build_status(
        "scoring",
        queue(visible=1, oldest_age_note="no CloudWatch datapoint"),
        beat(1),
        NOW,
        THRESHOLDS,
    )

    assert status.healthy
    assert status.notes == ["no CloudWatch datapoint"]


def test_a_status_whose_queue_could_not_be_observed_is_unhealthy_with_empty_queue_facts() -> None:
    status = build_status(
        "scoring", None, beat(1), NOW, THRESHOLDS, problems=["cannot observe the queues: gone"]
    )

    assert not status.healthy
    assert status.visible is None
    assert status.dlq_depth is None


def test_a_heartbeat_event_payload_becomes_interval_phase_and_counters() -> None:
    heartbeat = heartbeat_from_event(
        NOW,
        {
            "phase": "alive",
            "pid": 42,
            "host": "h",
            "interval_seconds": 15.0,
            "runs_created": 7,
            "last_event_type": "ingestion.completed",
        },
    )

    assert heartbeat.phase == "alive"
    assert heartbeat.interval_seconds == 15.0
    assert heartbeat.pid == 42
    assert heartbeat.counters == {"runs_created": 7, "last_event_type": "ingestion.completed"}


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (59.4, "59s"),
        (60, "1m 00s"),
        (3599, "59m 59s"),
        (3600, "1h 00m"),
        (90000, "1d 01h"),
    ],
)
def test_durations_read_like_a_person_would_write_them(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text
