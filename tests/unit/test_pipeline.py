"""The listener's pure steps: parse -> validate -> match -> render -> run requests."""

from __future__ import annotations

import json
from collections.abc import Callable
from uuid import UUID

import pytest
from pydantic import ValidationError

from prefect_federation.declarations import DomainDeclaration, Federation
from prefect_federation.errors import (
    EnvelopeParseError,
    EnvelopeValidationError,
    ParameterRenderError,
    UnsubscribedEventError,
)
from prefect_federation.events import MAX_EVENT_BYTES, EventEnvelope
from prefect_federation.labels import read_chain
from prefect_federation.listener.pipeline import (
    derive_idempotency_key,
    match_subscriptions,
    parse_message,
    plan_runs,
    render_parameters,
    run_labels,
    run_name,
    run_tags,
    validate_data,
)
from prefect_federation.testing import make_event, make_event_body, make_sns_notification

SAMPLE_ID = UUID("0b6f4a3e-6c1d-4c55-9a53-2f3b9d0e7a11")
SAMPLE_CHAIN = UUID("7d1f2c9a-3b4e-4f6a-8c2d-1e0f9a8b7c6d")


def domain(*subscriptions: dict[str, object]) -> DomainDeclaration:
    return DomainDeclaration.model_validate({"domain": "scoring", "subscribes": subscriptions})


# -- parse_message ------------------------------------------------------------------------------


def test_a_raw_delivery_body_parses_to_the_envelope(sample_body: Callable[[str], str]) -> None:
    envelope = parse_message(sample_body("envelope.json"))

    assert envelope.id == SAMPLE_ID
    assert envelope.correlationid == SAMPLE_CHAIN
    assert envelope.type == "ingestion.completed"
    assert envelope.source == "ingestion"
    assert envelope.subject == "daily-snapshot"
    assert envelope.data["region"] == "north"


def test_an_sns_wrapped_body_is_unwrapped_to_the_same_envelope(
    sample_body: Callable[[str], str],
) -> None:
    wrapped = parse_message(sample_body("envelope_sns.json"))
    raw = parse_message(sample_body("envelope.json"))

    assert wrapped == raw


def test_make_sns_notification_round_trips_through_parse_message() -> None:
    envelope = make_event("ingestion.completed", {"snapshot_date": "2026-11-01"})

    assert parse_message(make_sns_notification(envelope)) == envelope


@pytest.mark.parametrize("body", ["", "not json", "{'single': 'quotes'}", '{"a": 1'])
def test_a_body_that_is_not_json_is_a_parse_error(body: str) -> None:
    with pytest.raises(EnvelopeParseError, match=r"^message body is not JSON"):
        parse_message(body)


@pytest.mark.parametrize(("body", "kind"), [("[1, 2]", "list"), ('"text"', "str"), ("3", "int")])
def test_json_that_is_not_an_object_is_a_parse_error(body: str, kind: str) -> None:
    with pytest.raises(EnvelopeParseError, match=f"JSON but not an object \\(got {kind}\\)"):
        parse_message(body)


def test_an_sns_notification_without_a_string_message_is_a_parse_error() -> None:
    body = json.dumps({"Type": "Notification", "TopicArn": "arn:x", "Message": {"a": 1}})

    with pytest.raises(EnvelopeParseError, match="no string `Message` field"):
        parse_message(body)


def test_an_sns_notification_whose_message_is_not_an_object_is_a_parse_error() -> None:
    body = json.dumps({"Type": "Notification", "TopicArn": "arn:x", "Message": "[1]"})

    with pytest.raises(EnvelopeParseError, match=r"^SNS notification's Message is JSON but not"):
        parse_message(body)


def test_an_invalid_envelope_is_a_validation_error_naming_each_field() -> None:
    body = json.dumps({"specversion": "1.0", "type": "Bad", "data": [], "extra": 1})

    with pytest.raises(EnvelopeValidationError) as info:
        parse_message(body)

    message = str(info.value)
    assert message.startswith("not a valid event envelope: ")
    for field in ("source: Field required", "type: String should match", "data:", "extra:"):
        assert field in message


def test_a_wrong_specversion_is_a_validation_error() -> None:
    body = make_event_body("ingestion.completed").replace('"1.0"', '"0.3"')

    with pytest.raises(EnvelopeValidationError, match="specversion"):
        parse_message(body)


def test_an_oversized_body_is_a_parse_error_before_json_is_read() -> None:
    body = "x" * (MAX_EVENT_BYTES + 1)

    with pytest.raises(EnvelopeParseError, match=f"is {MAX_EVENT_BYTES + 1} bytes; at most"):
        parse_message(body)


def test_a_body_of_exactly_the_limit_is_not_refused_for_its_size() -> None:
    envelope = make_event("ingestion.completed", {"pad": ""})
    padding = MAX_EVENT_BYTES - envelope.size()
    body = make_event_body("ingestion.completed", {"pad": "x" * padding}, id=envelope.id)

    assert len(body.encode()) == MAX_EVENT_BYTES
    assert parse_message(body).id == envelope.id


def test_an_sns_wrapped_event_within_the_limit_is_not_refused_for_the_wrapper_size() -> None:
    envelope = make_event("ingestion.completed", {"items": ["a"] * 45_000})
    assert envelope.size() < MAX_EVENT_BYTES - 1024  # SnsPublisher would publish it
    body = make_sns_notification(envelope)
    assert len(body.encode()) > MAX_EVENT_BYTES

    assert parse_message(body) == envelope


# -- the raw adapter ----------------------------------------------------------------------------


def test_a_plain_json_body_with_a_type_attribute_becomes_an_event_of_that_type(
    scoring: DomainDeclaration, sample_body: Callable[[str], str]
) -> None:
    envelope = parse_message(
        sample_body("airflow_plain.json"), {"type": "airflow.exported"}, scoring, "m-1"
    )

    assert envelope.type == "airflow.exported"
    assert envelope.source == "airflow"
    assert envelope.data == {"table": "exports.daily_orders", "ds": "2026-11-01", "row_count": 532}
    assert envelope.correlationid == envelope.id


def test_a_plain_json_body_without_a_type_attribute_uses_the_only_raw_subscription(
    scoring: DomainDeclaration, sample_body: Callable[[str], str]
) -> None:
    envelope = parse_message(sample_body("airflow_plain.json"), {}, scoring, "m-1")

    assert envelope.type == "airflow.exported"
    assert envelope.source == "airflow"


def test_a_source_attribute_overrides_the_raw_subscription_upstream(
    scoring: DomainDeclaration, sample_body: Callable[[str], str]
) -> None:
    envelope = parse_message(
        sample_body("airflow_plain.json"), {"source": "legacy"}, scoring, "m-1"
    )

    assert envelope.source == "legacy"


def test_an_sns_wrapped_plain_body_takes_its_type_from_the_sns_attributes(
    scoring: DomainDeclaration, sample_body: Callable[[str], str]
) -> None:
    envelope = parse_message(sample_body("airflow_sns.json"), {}, scoring, "sqs-id")

    assert envelope.type == "airflow.exported"
    assert envelope.data["table"] == "exports.daily_orders"


def test_redeliveries_of_one_raw_message_get_the_same_event_id(
    scoring: DomainDeclaration, sample_body: Callable[[str], str]
) -> None:
    body = sample_body("airflow_plain.json")

    first = parse_message(body, {}, scoring, "m-1")
    again = parse_message(body, {}, scoring, "m-1")
    other = parse_message(body, {}, scoring, "m-2")

    assert first.id == again.id
    assert other.id != first.id


def test_an_sns_wrapped_raw_message_is_identified_by_its_sns_message_id(
    scoring: DomainDeclaration, sample_body: Callable[[str], str]
) -> None:
    body = sample_body("airflow_sns.json")

    first = parse_message(body, {}, scoring, "sqs-id-1")
    second = parse_message(body, {}, scoring, "sqs-id-2")

    assert first.id == second.id


def test_a_raw_body_without_a_message_id_is_identified_by_its_content(
    scoring: DomainDeclaration,
) -> None:
    first = parse_message('{"table": "a"}', {}, scoring)
    same = parse_message('{"table": "a"}', {}, scoring)
    other = parse_message('{"table": "b"}', {}, scoring)

    assert first.id == same.id
    assert other.id != first.id


def test_a_type_attribute_with_no_raw_subscription_is_a_validation_error(
    scoring: DomainDeclaration,
) -> None:
    with pytest.raises(EnvelopeValidationError, match="no `adapter: raw` subscription for type"):
        parse_message('{"table": "a"}', {"type": "ingestion.completed"}, scoring, "m-1")


def test_two_raw_subscriptions_and_no_type_attribute_is_a_validation_error() -> None:
    two = domain(
        {"event": "airflow.exported", "adapter": "raw", "deployment": "a/b"},
        {"event": "airflow.deleted", "adapter": "raw", "deployment": "a/c"},
    )

    with pytest.raises(EnvelopeValidationError, match="no `type` message attribute") as info:
        parse_message('{"table": "a"}', {}, two, "m-1")

    assert "airflow.deleted" in str(info.value)
    assert "airflow.exported" in str(info.value)


def test_a_plain_body_for_a_domain_without_raw_subscriptions_is_a_validation_error(
    sample_body: Callable[[str], str],
) -> None:
    envelope_only = domain({"event": "ingestion.completed", "deployment": "a/b"})

    with pytest.raises(EnvelopeValidationError, match="table: Extra inputs"):
        parse_message(sample_body("airflow_plain.json"), {}, envelope_only, "m-1")


def test_an_envelope_still_parses_as_an_envelope_in_a_domain_with_raw_subscriptions(
    scoring: DomainDeclaration, sample_body: Callable[[str], str]
) -> None:
    envelope = parse_message(sample_body("envelope.json"), {}, scoring, "m-1")

    assert envelope.id == SAMPLE_ID
    assert envelope.type == "ingestion.completed"


# -- match_subscriptions ------------------------------------------------------------------------


def test_an_unsubscribed_type_is_refused_listing_the_subscribed_types(
    scoring: DomainDeclaration,
) -> None:
    envelope = make_event("ingestion.failed")

    with pytest.raises(UnsubscribedEventError) as info:
        match_subscriptions(scoring, envelope)

    assert str(info.value) == (
        "domain 'scoring' does not subscribe to 'ingestion.failed' "
        "(it subscribes to: airflow.exported, ingestion.completed)"
    )


def test_a_subscribed_type_from_the_wrong_source_is_refused(scoring: DomainDeclaration) -> None:
    envelope = make_event("ingestion.completed", {"region": "north"}, source="impostor")

    with pytest.raises(UnsubscribedEventError) as info:
        match_subscriptions(scoring, envelope)

    assert "only from ingestion, not from source 'impostor'" in str(info.value)


def test_an_explicit_source_is_the_only_source_accepted(scoring: DomainDeclaration) -> None:
    from_airflow = make_event("airflow.exported", source="airflow")
    from_owner_domain = make_event("airflow.exported")
    assert from_owner_domain.source == "airflow"

    assert [s.deployment for s in match_subscriptions(scoring, from_airflow)] == ["import/table"]

    other = domain({"event": "airflow.exported", "source": "legacy", "deployment": "a/b"})
    with pytest.raises(UnsubscribedEventError, match="only from legacy"):
        match_subscriptions(other, from_airflow)


def test_a_data_filter_that_excludes_the_event_returns_no_subscriptions(
    scoring: DomainDeclaration,
) -> None:
    envelope = make_event("ingestion.completed", {"region": "west"})

    assert match_subscriptions(scoring, envelope) == []


@pytest.mark.parametrize("region", ["north", "south"])
def test_a_filter_list_accepts_any_of_its_values(scoring: DomainDeclaration, region: str) -> None:
    envelope = make_event("ingestion.completed", {"region": region})

    assert [s.deployment for s in match_subscriptions(scoring, envelope)] == ["score/daily"]


def test_a_filtered_field_that_is_missing_excludes_the_event(scoring: DomainDeclaration) -> None:
    assert match_subscriptions(scoring, make_event("ingestion.completed", {})) == []


def test_a_dotted_filter_path_reads_nested_data() -> None:
    nested = domain(
        {"event": "ingestion.completed", "filter": {"meta.batch.kind": "full"}, "deployment": "a/b"}
    )

    def matches(data: dict[str, object]) -> bool:
        return bool(match_subscriptions(nested, make_event("ingestion.completed", data)))

    assert matches({"meta": {"batch": {"kind": "full"}}})
    assert not matches({"meta": {"batch": {"kind": "delta"}}})
    assert not matches({"meta": {"batch": "full"}})
    assert not matches({"meta.batch.kind": "full"})
    assert not matches({})


def test_every_filter_entry_must_match() -> None:
    both = domain(
        {
            "event": "ingestion.completed",
            "filter": {"region": "north", "full": True},
            "deployment": "a/b",
        }
    )

    assert match_subscriptions(both, make_event("ingestion.completed", {"region": "north"})) == []
    assert match_subscriptions(
        both, make_event("ingestion.completed", {"region": "north", "full": True})
    )


def test_a_null_filter_value_matches_an_explicit_null_but_not_a_missing_field() -> None:
    nulls = domain({"event": "ingestion.completed", "filter": {"error": None}, "deployment": "a/b"})

    assert match_subscriptions(nulls, make_event("ingestion.completed", {"error": None}))
    assert match_subscriptions(nulls, make_event("ingestion.completed", {})) == []


def test_a_boolean_filter_does_not_match_a_number() -> None:
    flagged = domain(
        {"event": "ingestion.completed", "filter": {"urgent": True}, "deployment": "a/b"}
    )

    assert match_subscriptions(flagged, make_event("ingestion.completed", {"urgent": 1})) == []


# -- validate_data ------------------------------------------------------------------------------


def test_data_matching_the_publication_schema_passes(federation: Federation) -> None:
    validate_data(
        make_event("ingestion.completed", {"snapshot_date": "2026-11-01", "rows": 3}), federation
    )


def test_data_missing_a_required_field_is_a_validation_error(federation: Federation) -> None:
    with pytest.raises(EnvelopeValidationError) as info:
        validate_data(make_event("ingestion.completed", {"rows": 3}), federation)

    assert str(info.value) == (
        "data: 'snapshot_date' is a required property "
        "(schema declared by 'ingestion.completed''s publisher)"
    )


def test_a_field_of_the_wrong_type_is_named_by_its_path(federation: Federation) -> None:
    envelope = make_event("ingestion.completed", {"snapshot_date": "2026-11-01", "rows": "many"})

    with pytest.raises(EnvelopeValidationError, match=r"^data\.rows: 'many' is not of type"):
        validate_data(envelope, federation)


def test_no_federation_or_no_schema_means_no_check(federation: Federation) -> None:
    validate_data(make_event("ingestion.completed", {"rows": "many"}), None)
    validate_data(make_event("scoring.completed", {"anything": 1}), federation)
    validate_data(make_event("airflow.exported", {"anything": 1}), federation)


# -- keys, tags, labels, parameters -------------------------------------------------------------


def test_the_idempotency_key_names_source_event_id_and_deployment(
    scoring: DomainDeclaration,
) -> None:
    envelope = make_event("ingestion.completed", {"region": "north"})

    key = derive_idempotency_key(envelope, scoring.subscribes[0])

    assert key == f"federation:ingestion:{envelope.id}:score/daily"


def test_two_subscriptions_to_one_event_get_two_keys() -> None:
    two = domain(
        {"event": "ingestion.completed", "deployment": "score/daily"},
        {"event": "ingestion.completed", "deployment": "audit/record"},
    )
    envelope = make_event("ingestion.completed")

    keys = {derive_idempotency_key(envelope, s) for s in match_subscriptions(two, envelope)}

    assert keys == {
        f"federation:ingestion:{envelope.id}:score/daily",
        f"federation:ingestion:{envelope.id}:audit/record",
    }


def test_two_unnamed_subscriptions_to_the_same_deployment_are_refused() -> None:
    with pytest.raises(ValidationError, match="give each a distinct `name`"):
        domain(
            {"event": "ingestion.completed", "deployment": "score/daily", "parameters": {"m": "a"}},
            {"event": "ingestion.completed", "deployment": "score/daily", "parameters": {"m": "b"}},
        )


def test_two_named_subscriptions_to_the_same_deployment_get_two_keys() -> None:
    two = domain(
        {
            "event": "ingestion.completed",
            "deployment": "score/daily",
            "name": "model-a",
            "parameters": {"m": "a"},
        },
        {
            "event": "ingestion.completed",
            "deployment": "score/daily",
            "name": "model-b",
            "parameters": {"m": "b"},
        },
    )

    requests = plan_runs(make_event_body("ingestion.completed"), two)

    assert len({r.idempotency_key for r in requests}) == 2
    assert [r.parameters for r in requests] == [{"m": "a"}, {"m": "b"}]


def test_the_same_event_always_derives_the_same_key(scoring: DomainDeclaration) -> None:
    body = make_event_body("ingestion.completed", {"region": "north"})

    first = derive_idempotency_key(parse_message(body), scoring.subscribes[0])
    again = derive_idempotency_key(parse_message(body), scoring.subscribes[0])

    assert first == again


def test_the_run_name_shows_the_chain_id_in_the_runs_list() -> None:
    envelope = make_event("ingestion.completed", id=SAMPLE_ID, correlationid=SAMPLE_CHAIN)

    assert run_name(envelope) == "ingestion.completed-0b6f4a3e (chain 7d1f2c9a)"


def test_render_parameters_renders_the_subscription_templates(
    scoring: DomainDeclaration, sample_body: Callable[[str], str]
) -> None:
    envelope = parse_message(sample_body("envelope.json"))

    assert render_parameters(scoring.subscribes[0], envelope) == {
        "snapshot_date": "2026-11-01",
        "rows": 1200,
        "label": "rows=1200",
        "trigger": {"event_id": str(SAMPLE_ID), "chain": [str(SAMPLE_CHAIN), "fixed"]},
    }


def test_render_parameters_names_the_parameter_whose_field_is_missing(
    scoring: DomainDeclaration,
) -> None:
    envelope = make_event("ingestion.completed", {"region": "north", "snapshot_date": "d"})

    with pytest.raises(ParameterRenderError, match=r"^parameters\.rows: "):
        render_parameters(scoring.subscribes[0], envelope)


# -- plan_runs ----------------------------------------------------------------------------------


def test_plan_runs_turns_a_message_into_a_complete_run_request(
    scoring: DomainDeclaration, federation: Federation, sample_body: Callable[[str], str]
) -> None:
    (request,) = plan_runs(sample_body("envelope_sns.json"), scoring, federation, {}, "sqs-1")

    assert request.deployment == "score/daily"
    assert request.parameters["rows"] == 1200
    assert request.parameters["trigger"]["event_id"] == str(SAMPLE_ID)
    assert request.idempotency_key == f"federation:ingestion:{SAMPLE_ID}:score/daily"
    assert request.name == "ingestion.completed-0b6f4a3e (chain 7d1f2c9a)"
    assert request.tags == run_tags(request.envelope)  # the contract: tests/unit/test_labels.py
    assert request.labels == run_labels(request.envelope)
    assert read_chain(request.labels, request.tags) == (SAMPLE_CHAIN, SAMPLE_ID)
    assert request.envelope.id == SAMPLE_ID


def test_plan_runs_for_an_airflow_body_renders_the_raw_subscription(
    scoring: DomainDeclaration, sample_body: Callable[[str], str]
) -> None:
    (request,) = plan_runs(sample_body("airflow_sns.json"), scoring, None, {}, "sqs-1")

    assert request.deployment == "import/table"
    assert request.parameters == {"table": "exports.daily_orders", "ds": "2026-11-01"}
    assert request.idempotency_key.startswith("federation:airflow:")


def test_plan_runs_returns_nothing_for_a_filtered_out_event(scoring: DomainDeclaration) -> None:
    body = make_event_body("ingestion.completed", {"region": "west", "rows": 1})

    assert plan_runs(body, scoring) == []


def test_plan_runs_validates_data_against_the_schema_before_matching(
    scoring: DomainDeclaration, federation: Federation
) -> None:
    body = make_event_body("ingestion.completed", {"region": "north", "rows": 1})

    with pytest.raises(EnvelopeValidationError, match="'snapshot_date' is a required property"):
        plan_runs(body, scoring, federation)


def test_plan_runs_makes_one_request_per_matching_subscription() -> None:
    two = domain(
        {"event": "ingestion.completed", "deployment": "score/daily"},
        {"event": "ingestion.completed", "deployment": "audit/record", "filter": {"x": 1}},
        {"event": "ingestion.completed", "deployment": "audit/all"},
    )
    envelope = make_event("ingestion.completed", {"x": 2})

    requests = plan_runs(envelope.to_json(), two)

    assert [r.deployment for r in requests] == ["score/daily", "audit/all"]
    assert all(isinstance(r.envelope, EventEnvelope) for r in requests)
    assert {r.envelope.id for r in requests} == {envelope.id}


# -- nothing on the wire is filled in -----------------------------------------------------------


@pytest.mark.parametrize("attribute", ["specversion", "id", "source", "type", "time"])
def test_an_envelope_missing_a_required_attribute_is_refused_naming_it(
    sample_body: Callable[[str], str], attribute: str
) -> None:
    document = json.loads(sample_body("envelope.json"))
    del document[attribute]

    with pytest.raises(EnvelopeValidationError, match=f"{attribute}: Field required"):
        parse_message(json.dumps(document))


def test_a_missing_id_is_refused_even_when_the_envelope_starts_a_new_chain(
    sample_body: Callable[[str], str],
) -> None:
    document = json.loads(sample_body("envelope.json"))
    del document["id"]
    del document["correlationid"]

    with pytest.raises(EnvelopeValidationError, match="id: Field required"):
        parse_message(json.dumps(document))


def test_an_event_built_in_code_still_gets_a_new_id_time_and_chain() -> None:
    one, two = (EventEnvelope(source="ingestion", type="ingestion.completed") for _ in range(2))

    assert one.id != two.id
    assert one.correlationid == one.id
    assert one.time.tzinfo is not None


def test_a_raw_body_takes_its_time_from_when_sqs_accepted_it() -> None:
    from datetime import UTC, datetime

    raw = domain({"event": "airflow.exported", "adapter": "raw", "deployment": "a/b"})
    sent = datetime(2026, 11, 1, 6, 0, tzinfo=UTC)

    first = parse_message('{"table": "x"}', {}, raw, "m-1", sent)
    again = parse_message('{"table": "x"}', {}, raw, "m-1", sent)

    assert first.time == sent
    assert first == again
