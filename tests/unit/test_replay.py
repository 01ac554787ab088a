"""Replay: archived events re-published unchanged, oldest first, once per id; times from the CLI."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from prefect_federation.archive import InMemoryEventArchive, archive_key
from prefect_federation.errors import ArchiveError, PublishError, ReplayError
from prefect_federation.events import EventEnvelope
from prefect_federation.publisher import InMemoryPublisher
from prefect_federation.replay import parse_when, replay
from prefect_federation.testing import make_event

TOPIC = "federation-scoring"
SINCE = datetime(2026, 11, 24, tzinfo=UTC)
UNTIL = datetime(2026, 11, 25, tzinfo=UTC)


def archived(*hours: int, **fields: Any) -> tuple[InMemoryEventArchive, list[EventEnvelope]]:
    archive = InMemoryEventArchive()
    envelopes = [
        make_event(
            "scoring.completed", {"hour": hour}, time=SINCE + timedelta(hours=hour), **fields
        )
        for hour in hours
    ]
    for envelope in envelopes:
        archive.put(envelope, TOPIC)
    return archive, envelopes


def test_replay_re_publishes_the_archived_envelopes_unchanged_oldest_first() -> None:
    archive, envelopes = archived(9, 3, 6)
    publisher = InMemoryPublisher()

    report = replay(archive, publisher, TOPIC, SINCE, UNTIL)

    oldest_first = sorted(envelopes, key=lambda e: e.time)
    assert [e.to_json() for e in publisher.envelopes] == [e.to_json() for e in oldest_first]
    assert report.published == 3
    assert report.events == oldest_first
    assert not report.dry_run


def test_a_dry_run_selects_the_same_events_and_publishes_nothing() -> None:
    archive, envelopes = archived(1, 2)
    publisher = InMemoryPublisher()

    report = replay(archive, publisher, TOPIC, SINCE, UNTIL, dry_run=True)

    assert publisher.envelopes == []
    assert report.events == envelopes
    assert report.published == 0


def test_an_id_archived_twice_is_re_published_once() -> None:
    archive, [envelope] = archived(1)
    retried = envelope.model_copy(update={"time": envelope.time + timedelta(seconds=5)})
    archive.put(retried, TOPIC)  # a publish retry: same id, a later time, a second object
    publisher = InMemoryPublisher()

    report = replay(archive, publisher, TOPIC, SINCE, UNTIL)

    assert [e.id for e in publisher.envelopes] == [envelope.id]
    assert report.duplicates == 1


def test_the_filters_reach_the_archive() -> None:
    archive, [_, second] = archived(1, 2)
    publisher = InMemoryPublisher()

    replay(archive, publisher, TOPIC, SINCE, UNTIL, correlation_id=second.correlationid)
    replay(archive, publisher, TOPIC, SINCE, UNTIL, type="scoring.other")

    assert publisher.envelopes == [second]


def test_progress_is_reported_per_event_with_the_total() -> None:
    archive, envelopes = archived(1, 2, 3)
    seen: list[tuple[str, int, int]] = []

    replay(
        archive,
        InMemoryPublisher(),
        TOPIC,
        SINCE,
        UNTIL,
        on_event=lambda e, done, total: seen.append((str(e.id), done, total)),
    )

    assert seen == [(str(e.id), n, 3) for n, e in enumerate(envelopes, start=1)]


class FailsOnSecond(InMemoryPublisher):
    def publish(self, envelope: EventEnvelope) -> str:
        if len(self.envelopes) == 1:
            raise PublishError("SNS said no")
        return super().publish(envelope)


def test_a_failed_publish_stops_the_replay_and_says_how_far_it_got() -> None:
    archive, envelopes = archived(1, 2, 3)
    publisher = FailsOnSecond()

    with pytest.raises(ReplayError, match=r"2 of 3; 1 re-published.*SNS said no.*safe") as caught:
        replay(archive, publisher, TOPIC, SINCE, UNTIL)

    assert publisher.envelopes == envelopes[:1]
    assert caught.value.report.published == 1
    assert caught.value.envelope == envelopes[1]


def test_an_unreadable_archive_fails_before_anything_is_published() -> None:
    archive, _ = archived(1)
    later = make_event("scoring.completed", time=SINCE + timedelta(hours=2))
    archive.objects[archive_key(later, TOPIC)] = "{not json"
    publisher = InMemoryPublisher()

    with pytest.raises(ArchiveError, match="not a valid event envelope"):
        replay(archive, publisher, TOPIC, SINCE, UNTIL)

    assert publisher.envelopes == []


NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("45s", NOW - timedelta(seconds=45)),
        ("30m", NOW - timedelta(minutes=30)),
        ("2h", NOW - timedelta(hours=2)),
        ("3d", NOW - timedelta(days=3)),
        ("1w", NOW - timedelta(weeks=1)),
        ("2026-11-24T06:00:00Z", datetime(2026, 11, 24, 6, tzinfo=UTC)),
        ("2026-11-24T08:00:00+02:00", datetime(2026, 11, 24, 6, tzinfo=UTC)),
        ("2026-11-24T06:00:00", datetime(2026, 11, 24, 6, tzinfo=UTC)),
        ("2026-11-24", datetime(2026, 11, 24, tzinfo=UTC)),
    ],
)
def test_a_moment_is_an_iso_time_in_utc_unless_offset_or_an_age_before_now(
    text: str, expected: datetime
) -> None:
    moment = parse_when(text, NOW)

    assert moment == expected
    assert moment.tzinfo is UTC


def test_a_moment_that_is_neither_iso_nor_an_age_says_which_forms_work() -> None:
    with pytest.raises(ValueError, match=r"neither an ISO time .* nor an age \(45s, 30m"):
        parse_when("yesterday", NOW)


def test_the_replay_command_module_imports_without_prefect() -> None:
    code = "import sys, prefect_federation.cli.replay; print('prefect' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
