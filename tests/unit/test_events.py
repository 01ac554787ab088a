"""EventEnvelope: the contract between domains."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from uuid import UUID, uuid4

import pytest
from pydantic import ValidationError

from prefect_federation.events import MAX_EVENT_BYTES, EventEnvelope, domain_of


def test_a_new_envelope_starts_its_own_chain_with_correlationid_equal_to_its_id() -> None:
    envelope = EventEnvelope(type="ingestion.completed", source="ingestion")

    assert isinstance(envelope.id, UUID)
    assert envelope.correlationid == envelope.id
    assert envelope.causationid is None


def test_defaults_are_cloudevents_json_with_an_aware_utc_time_and_empty_data() -> None:
    before = datetime.now(UTC)
    envelope = EventEnvelope(type="ingestion.completed", source="ingestion")

    assert envelope.specversion == "1.0"
    assert envelope.datacontenttype == "application/json"
    assert envelope.data == {}
    assert envelope.subject is None
    assert envelope.time.utcoffset() is not None
    assert before <= envelope.time <= datetime.now(UTC)


def test_a_given_id_becomes_the_correlationid_of_a_new_chain() -> None:
    event_id = uuid4()

    envelope = EventEnvelope(id=event_id, type="ingestion.completed", source="ingestion")

    assert envelope.correlationid == event_id


def test_a_given_correlationid_is_kept_for_an_event_inside_a_chain() -> None:
    chain, cause = uuid4(), uuid4()

    envelope = EventEnvelope(
        type="scoring.completed", source="scoring", correlationid=chain, causationid=cause
    )

    assert envelope.correlationid == chain
    assert envelope.causationid == cause
    assert envelope.id not in (chain, cause)


def test_two_new_envelopes_get_different_ids() -> None:
    first = EventEnvelope(type="ingestion.completed", source="ingestion")
    second = EventEnvelope(type="ingestion.completed", source="ingestion")

    assert first.id != second.id
    assert first.correlationid != second.correlationid


def test_json_without_correlationid_starts_a_chain_too() -> None:
    envelope = EventEnvelope.model_validate_json(
        json.dumps({"type": "ingestion.completed", "source": "ingestion"})
    )

    assert envelope.correlationid == envelope.id


def test_extra_fields_are_forbidden() -> None:
    with pytest.raises(ValidationError, match="Extra inputs are not permitted") as info:
        EventEnvelope(type="ingestion.completed", source="ingestion", priority="high")  # type: ignore[call-arg]

    assert [error["loc"] for error in info.value.errors()] == [("priority",)]


@pytest.mark.parametrize(
    "event_type",
    ["ingestion", "Ingestion.completed", "ingestion.", "ingestion..completed", "1ngestion.done"],
)
def test_an_event_type_not_shaped_domain_dot_what_happened_is_rejected(event_type: str) -> None:
    with pytest.raises(ValidationError) as info:
        EventEnvelope(type=event_type, source="ingestion")

    assert [error["loc"] for error in info.value.errors()] == [("type",)]
    assert info.value.errors()[0]["type"] == "string_pattern_mismatch"


@pytest.mark.parametrize("source", ["Ingestion", "ingestion_v2", "-ingestion", "", "a" * 64])
def test_a_source_that_is_not_a_domain_name_is_rejected(source: str) -> None:
    with pytest.raises(ValidationError) as info:
        EventEnvelope(type="ingestion.completed", source=source)

    assert [error["loc"] for error in info.value.errors()] == [("source",)]


def test_a_naive_time_is_rejected() -> None:
    with pytest.raises(ValidationError) as info:
        EventEnvelope(
            type="ingestion.completed", source="ingestion", time=datetime(2026, 11, 1, 6, 0)
        )

    assert info.value.errors()[0]["loc"] == ("time",)


def test_non_object_data_is_rejected() -> None:
    with pytest.raises(ValidationError) as info:
        EventEnvelope(type="ingestion.completed", source="ingestion", data=[1, 2])  # type: ignore[arg-type]

    assert info.value.errors()[0]["loc"] == ("data",)


def test_the_envelope_is_frozen() -> None:
    envelope = EventEnvelope(type="ingestion.completed", source="ingestion")

    with pytest.raises(ValidationError, match="frozen"):
        envelope.subject = "changed"  # type: ignore[misc]


def test_to_json_round_trips_to_an_equal_envelope() -> None:
    envelope = EventEnvelope(
        type="ingestion.completed",
        source="ingestion",
        subject="daily",
        data={"snapshot_date": "2026-11-01", "rows": 3, "nested": {"a": [1, 2.5, None]}},
        causationid=uuid4(),
    )

    again = EventEnvelope.model_validate(json.loads(envelope.to_json()))

    assert again == envelope
    assert again.time == envelope.time


def test_to_json_leaves_out_unset_optional_fields() -> None:
    envelope = EventEnvelope(type="ingestion.completed", source="ingestion")

    document = json.loads(envelope.to_json())

    assert set(document) == {
        "specversion",
        "id",
        "source",
        "type",
        "time",
        "datacontenttype",
        "data",
        "correlationid",
    }
    assert document["id"] == str(envelope.id)
    assert envelope.size() == len(envelope.to_json().encode())
    assert envelope.size() < MAX_EVENT_BYTES


def test_message_attributes_carry_type_source_and_correlationid_as_sns_strings() -> None:
    chain = uuid4()
    envelope = EventEnvelope(type="ingestion.completed", source="ingestion", correlationid=chain)

    assert envelope.message_attributes() == {
        "type": {"DataType": "String", "StringValue": "ingestion.completed"},
        "source": {"DataType": "String", "StringValue": "ingestion"},
        "correlationid": {"DataType": "String", "StringValue": str(chain)},
    }


def test_summary_names_type_id_and_source() -> None:
    envelope = EventEnvelope(type="ingestion.completed", source="ingestion")

    assert envelope.summary() == f"ingestion.completed {envelope.id} from ingestion"


def test_domain_of_is_the_part_before_the_first_dot() -> None:
    assert domain_of("customer-master.completed") == "customer-master"
    assert domain_of("scoring.run.failed") == "scoring"


def test_the_sample_envelope_file_is_a_valid_envelope_with_its_own_chain_ids(
    sample_body: Callable[[str], str],
) -> None:
    envelope = EventEnvelope.model_validate_json(sample_body("envelope.json"))

    assert envelope.id == UUID("0b6f4a3e-6c1d-4c55-9a53-2f3b9d0e7a11")
    assert envelope.correlationid == UUID("7d1f2c9a-3b4e-4f6a-8c2d-1e0f9a8b7c6d")
    assert envelope.time == datetime(2026, 11, 1, 6, 0, tzinfo=UTC)
    assert envelope.data["rows"] == 1200
