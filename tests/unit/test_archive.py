"""The event archive: key layout, the days a window lists, filters, and archive-then-publish.

S3 here is moto's in-process mock (nothing runs); `Recording` wraps its client to see exactly
which listings the archive asks for.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from uuid import UUID, uuid4

import boto3
import pytest
from hypothesis import given
from hypothesis import strategies as st
from moto import mock_aws

from prefect_federation.archive import (
    ArchivingPublisher,
    InMemoryEventArchive,
    S3EventArchive,
    archive_key,
    default_archive_bucket,
    ensure_archive,
    key_time,
    topic_name_of,
)
from prefect_federation.errors import ArchiveError, ConfigError, PublishError
from prefect_federation.events import EventEnvelope
from prefect_federation.publisher import InMemoryPublisher
from prefect_federation.testing import make_event

TOPIC = "federation-scoring"
BUCKET = "federation-event-archive"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def event_at(when: str, event_type: str = "scoring.completed", **fields: Any) -> EventEnvelope:
    return make_event(event_type, {"at": when}, time=at(when), **fields)


class Recording:
    """A boto3 client that records its calls; `max_keys` makes listings page early."""

    def __init__(self, client: Any, max_keys: int | None = None) -> None:
        self.client = client
        self.max_keys = max_keys
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self.client, name)
        if not callable(attribute):
            return attribute

        def call(**kwargs: Any) -> Any:
            if name == "list_objects_v2" and self.max_keys is not None:
                kwargs.setdefault("MaxKeys", self.max_keys)
            self.calls.append((name, dict(kwargs)))
            return attribute(**kwargs)

        return call

    def listings(self) -> list[tuple[str, str | None]]:
        return [
            (kwargs["Prefix"], kwargs.get("StartAfter"))
            for name, kwargs in self.calls
            if name == "list_objects_v2"
        ]


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client


# -- key layout --------------------------------------------------------------------------------


def test_an_events_key_is_topic_day_then_time_and_id() -> None:
    envelope = event_at("2026-11-24T00:45:53.1+00:00")

    key = archive_key(envelope, TOPIC)

    assert key == f"federation-scoring/2026/11/24/2026-11-24T00-45-53.100000Z_{envelope.id}.json"


def test_the_day_and_time_of_a_key_are_utc_whatever_the_events_offset() -> None:
    envelope = event_at("2026-11-24T01:30:00+02:00")

    key = archive_key(envelope, TOPIC)

    assert key.startswith("federation-scoring/2026/11/23/2026-11-23T23-30-00.000000Z_")
    assert key_time(key) == datetime(2026, 11, 23, 23, 30, tzinfo=UTC)


_moments = st.datetimes(
    min_value=datetime(2000, 1, 1),
    max_value=datetime(2100, 1, 1),
    timezones=st.sampled_from(
        [UTC, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-8))]
    ),
)


@given(first=_moments, second=_moments)
def test_keys_sort_in_the_order_their_events_happened(first: datetime, second: datetime) -> None:
    a, b = make_event("scoring.completed", time=first), make_event("scoring.completed", time=second)
    key_a, key_b = archive_key(a, TOPIC), archive_key(b, TOPIC)

    if first != second:
        assert (key_a < key_b) == (first < second)
    assert key_time(key_a) == first


def test_a_key_that_is_not_an_events_has_no_time() -> None:
    assert key_time("federation-scoring/2026/11/24/notes.txt") is None
    assert key_time("federation-scoring/2026/11/24/2026-11-24T00:45:53Z_x.json") is None


def test_the_topic_name_is_the_last_part_of_its_arn() -> None:
    assert topic_name_of("arn:aws:sns:eu-west-1:123456789012:prod-scoring.fifo") == (
        "prod-scoring.fifo"
    )


def test_the_default_bucket_is_the_name_prefix_then_event_archive() -> None:
    assert default_archive_bucket("federation-") == "federation-event-archive"
    assert default_archive_bucket("Prod-") == "prod-event-archive"


def test_a_prefix_s3_would_refuse_asks_for_an_archive_bucket() -> None:
    with pytest.raises(ConfigError, match="--archive-bucket"):
        default_archive_bucket("my_env-")


# -- the window: days listed, bounds, order ----------------------------------------------------


def test_a_window_lists_only_its_days_and_skips_the_first_days_earlier_keys(s3: Any) -> None:
    recording = Recording(s3)
    archive = S3EventArchive(recording, BUCKET)

    list(archive.iter_events(TOPIC, at("2026-11-22T23:00:00Z"), at("2026-11-25T00:00:00Z")))

    assert recording.listings() == [
        (
            "federation-scoring/2026/11/22/",
            "federation-scoring/2026/11/22/2026-11-22T23-00-00.000000Z",
        ),
        ("federation-scoring/2026/11/23/", None),
        ("federation-scoring/2026/11/24/", None),
    ]


def test_a_window_within_one_day_lists_that_day_once(s3: Any) -> None:
    recording = Recording(s3)

    list(
        S3EventArchive(recording, BUCKET).iter_events(
            TOPIC, at("2026-11-24T06:00:00Z"), at("2026-11-24T07:00:00Z")
        )
    )

    assert [prefix for prefix, _ in recording.listings()] == ["federation-scoring/2026/11/24/"]


def test_since_is_inclusive_and_until_exclusive(s3: Any) -> None:
    archive = S3EventArchive(s3, BUCKET)
    for when in ("05:59:59.999999", "06:00:00", "06:30:00", "07:00:00", "07:00:01"):
        archive.put(event_at(f"2026-11-24T{when}+00:00"), TOPIC)

    found = archive.iter_events(TOPIC, at("2026-11-24T06:00:00Z"), at("2026-11-24T07:00:00Z"))

    assert [e.data["at"] for e in found] == [
        "2026-11-24T06:00:00+00:00",
        "2026-11-24T06:30:00+00:00",
    ]


def test_events_come_back_unchanged_and_oldest_first_across_days(s3: Any) -> None:
    archive = S3EventArchive(s3, BUCKET)
    late = event_at("2026-11-24T00:00:01+00:00")
    early = event_at("2026-11-23T23:59:59+00:00", subject="before midnight")
    archive.put(late, TOPIC)
    archive.put(early, TOPIC)

    found = list(archive.iter_events(TOPIC, at("2026-11-23T00:00:00Z"), at("2026-11-25T00:00Z")))

    assert found == [early, late]
    assert [e.to_json() for e in found] == [early.to_json(), late.to_json()]


def test_a_day_longer_than_one_listing_page_is_read_to_its_end(s3: Any) -> None:
    archive = S3EventArchive(Recording(s3, max_keys=2), BUCKET)
    for second in range(5):
        archive.put(event_at(f"2026-11-24T06:00:0{second}+00:00"), TOPIC)

    found = list(archive.iter_events(TOPIC, at("2026-11-24T06:00:00Z"), at("2026-11-24T07:00Z")))

    assert len(found) == 5


def test_another_topics_events_are_not_in_the_window(s3: Any) -> None:
    archive = S3EventArchive(s3, BUCKET)
    archive.put(event_at("2026-11-24T06:00:00+00:00"), "federation-ingestion")

    assert list(archive.iter_events(TOPIC, at("2026-11-24T00:00Z"), at("2026-11-25T00:00Z"))) == []


def test_a_window_must_be_aware_and_forward(s3: Any) -> None:
    archive = S3EventArchive(s3, BUCKET)
    with pytest.raises(ValueError, match="timezone-aware"):
        list(archive.iter_events(TOPIC, datetime(2026, 11, 24), at("2026-11-25T00:00Z")))
    with pytest.raises(ValueError, match="before until"):
        list(archive.iter_events(TOPIC, at("2026-11-25T00:00Z"), at("2026-11-24T00:00Z")))


# -- filters ------------------------------------------------------------------------------------


def test_the_type_and_correlation_filters_select_only_matching_events() -> None:
    archive = InMemoryEventArchive()
    chain = uuid4()
    completed = event_at("2026-11-24T06:00:00+00:00", correlationid=chain)
    written = event_at("2026-11-24T06:00:01+00:00", "scoring.scores-written", correlationid=chain)
    other_chain = event_at("2026-11-24T06:00:02+00:00")
    for envelope in (completed, written, other_chain):
        archive.put(envelope, TOPIC)
    window = (TOPIC, at("2026-11-24T00:00Z"), at("2026-11-25T00:00Z"))

    assert list(archive.iter_events(*window, type="scoring.completed")) == [completed, other_chain]
    assert list(archive.iter_events(*window, correlation_id=chain)) == [completed, written]
    assert list(archive.iter_events(*window, correlation_id=str(chain))) == [completed, written]
    assert list(
        archive.iter_events(*window, type="scoring.scores-written", correlation_id=chain)
    ) == [written]


# -- what cannot be read is an error, not a gap -----------------------------------------------


def test_an_object_in_a_day_that_is_not_an_event_is_an_archive_error(s3: Any) -> None:
    s3.put_object(Bucket=BUCKET, Key="federation-scoring/2026/11/24/notes.txt", Body=b"hello")

    with pytest.raises(ArchiveError, match=r"notes\.txt"):
        list(
            S3EventArchive(s3, BUCKET).iter_events(
                TOPIC, at("2026-11-24T00:00Z"), at("2026-11-25T00:00Z")
            )
        )


def test_an_archived_object_that_is_not_an_envelope_is_an_archive_error(s3: Any) -> None:
    key = archive_key(event_at("2026-11-24T06:00:00+00:00"), TOPIC)
    s3.put_object(Bucket=BUCKET, Key=key, Body=b'{"not": "an event"}')

    with pytest.raises(ArchiveError, match="not a valid event envelope"):
        list(
            S3EventArchive(s3, BUCKET).iter_events(
                TOPIC, at("2026-11-24T00:00Z"), at("2026-11-25T00:00Z")
            )
        )


def test_reading_a_missing_bucket_says_to_provision_or_name_the_bucket(s3: Any) -> None:
    archive = S3EventArchive(s3, "no-such-archive")

    with pytest.raises(ArchiveError, match=r"does not exist.*--archive-bucket"):
        list(archive.iter_events(TOPIC, at("2026-11-24T00:00Z"), at("2026-11-25T00:00Z")))


# -- S3 objects --------------------------------------------------------------------------------


def test_an_archived_object_is_the_envelopes_json_with_its_type_as_metadata(s3: Any) -> None:
    envelope = event_at("2026-11-24T06:00:00+00:00")

    key = S3EventArchive(s3, BUCKET).put(envelope, TOPIC)

    stored = s3.get_object(Bucket=BUCKET, Key=key)
    assert stored["Body"].read().decode() == envelope.to_json()
    assert stored["ContentType"] == "application/json"
    assert stored["Metadata"]["type"] == "scoring.completed"
    assert stored["Metadata"]["correlationid"] == str(envelope.correlationid)


def test_the_in_memory_archive_keeps_the_same_keys_as_s3(s3: Any) -> None:
    envelope = event_at("2026-11-24T06:00:00+00:00")
    memory = InMemoryEventArchive()

    assert memory.put(envelope, TOPIC) == S3EventArchive(s3, BUCKET).put(envelope, TOPIC)
    assert memory.objects == {archive_key(envelope, TOPIC): envelope.to_json()}
    window = (TOPIC, at("2026-11-24T00:00Z"), at("2026-11-25T00:00Z"))
    assert list(memory.iter_events(*window)) == [envelope]
    assert memory.listed == [
        ("federation-scoring/2026/11/24/", f"{TOPIC}/2026/11/24/2026-11-24T00-00-00.000000Z")
    ]


# -- archive, then publish --------------------------------------------------------------------


class Journal:
    """An archive and a publisher writing to one journal, to see the order of their calls."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, UUID]] = []

    def put(self, envelope: EventEnvelope, topic_name: str) -> str:
        self.calls.append(("archive", envelope.id))
        return "key"

    def iter_events(self, *args: Any, **kwargs: Any) -> Iterator[EventEnvelope]:
        return iter(())

    def publish(self, envelope: EventEnvelope) -> str:
        self.calls.append(("publish", envelope.id))
        return "message-id"


def test_an_event_is_archived_before_it_is_published() -> None:
    journal = Journal()
    envelope = make_event("scoring.completed")

    message_id = ArchivingPublisher(journal, journal, TOPIC).publish(envelope)

    assert journal.calls == [("archive", envelope.id), ("publish", envelope.id)]
    assert message_id == "message-id"


class BrokenArchive(InMemoryEventArchive):
    def put(self, envelope: EventEnvelope, topic_name: str) -> str:
        raise OSError("disk on fire")


def test_when_the_archive_fails_the_publish_fails_and_nothing_is_sent() -> None:
    inner = InMemoryPublisher()
    publisher = ArchivingPublisher(inner, BrokenArchive(), TOPIC)
    envelope = make_event("scoring.completed")

    with pytest.raises(PublishError, match=rf"{envelope.id}.*not published.*disk on fire"):
        publisher.publish(envelope)

    assert inner.envelopes == []


def test_a_missing_archive_bucket_fails_the_publish_and_nothing_is_sent(s3: Any) -> None:
    inner = InMemoryPublisher()
    publisher = ArchivingPublisher(inner, S3EventArchive(s3, "no-such-archive"), TOPIC)

    with pytest.raises(PublishError, match=r"could not archive .*s3://no-such-archive/"):
        publisher.publish(make_event("scoring.completed"))

    assert inner.envelopes == []


def test_an_event_too_large_for_sns_is_neither_archived_nor_published() -> None:
    archive, inner = InMemoryEventArchive(), InMemoryPublisher()
    envelope = make_event("scoring.completed", {"blob": "x" * 262_000})

    with pytest.raises(ValueError, match=r"SNS takes at most 262144"):
        ArchivingPublisher(inner, archive, TOPIC).publish(envelope)

    assert archive.objects == {}
    assert inner.envelopes == []


def test_the_archiving_publisher_shows_its_inner_topic_arn() -> None:
    class Topic(InMemoryPublisher):
        topic_arn = "arn:aws:sns:us-east-1:123456789012:federation-scoring"

    assert ArchivingPublisher(Topic(), InMemoryEventArchive(), TOPIC).topic_arn == Topic.topic_arn
    assert ArchivingPublisher(InMemoryPublisher(), InMemoryEventArchive(), TOPIC).topic_arn is None


# -- provisioning ------------------------------------------------------------------------------


def bucket_settings(s3: Any, bucket: str) -> tuple[str | None, dict[str, Any]]:
    versioning = s3.get_bucket_versioning(Bucket=bucket).get("Status")
    block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    return versioning, block


ALL_BLOCKED = {
    "BlockPublicAcls": True,
    "IgnorePublicAcls": True,
    "BlockPublicPolicy": True,
    "RestrictPublicBuckets": True,
}


def test_ensure_archive_creates_a_versioned_private_bucket_then_changes_nothing(s3: Any) -> None:
    first = ensure_archive(s3, "t-events")
    second = ensure_archive(s3, "t-events")

    assert first == ("created", "s3 bucket", "t-events")
    assert second == ("unchanged", "s3 bucket", "t-events")
    assert bucket_settings(s3, "t-events") == ("Enabled", ALL_BLOCKED)


def test_ensure_archive_turns_versioning_back_on_and_blocks_public_access(s3: Any) -> None:
    ensure_archive(s3, "t-events")
    s3.put_bucket_versioning(Bucket="t-events", VersioningConfiguration={"Status": "Suspended"})
    s3.delete_public_access_block(Bucket="t-events")

    action = ensure_archive(s3, "t-events")

    assert action == ("updated", "s3 bucket", "t-events (versioning, public access block)")
    assert bucket_settings(s3, "t-events") == ("Enabled", ALL_BLOCKED)


def test_ensure_archive_creates_the_bucket_in_the_clients_region(s3: Any) -> None:
    frankfurt = boto3.client("s3", region_name="eu-central-1")

    assert ensure_archive(frankfurt, "t-events-eu")[0] == "created"
    assert ensure_archive(frankfurt, "t-events-eu")[0] == "unchanged"
    assert frankfurt.get_bucket_location(Bucket="t-events-eu")["LocationConstraint"] == (
        "eu-central-1"
    )


def test_ensure_archive_refuses_a_name_s3_would_refuse(s3: Any) -> None:
    with pytest.raises(ConfigError, match="not a valid S3 bucket name"):
        ensure_archive(s3, "Events_Archive")
