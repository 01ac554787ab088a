"""`check --against`: each change between two versions of a contract, breaking or not for the
consumers that exist, and the rule that a breaking change needs a new major version."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from prefect_federation.contracts.compat import compare, diff, readers_of
from prefect_federation.contracts.export import export_contracts, read_exported
from prefect_federation.contracts.models import Contract
from prefect_federation.declarations import DomainDeclaration, Federation

V1: dict[str, Any] = {
    "type": "object",
    "properties": {
        "batch_id": {"type": "string"},
        "region": {"type": "string", "enum": ["north", "south", "east"]},
        "scores_path": {"type": "string"},
        "high_risk": {"type": "integer"},
        "note": {"type": "string"},
    },
    "required": ["batch_id", "region", "scores_path", "high_risk"],
}


def contract(schema: dict[str, Any], version: int = 1) -> Contract:
    return Contract(
        type="scoring.completed",
        version=version,
        producer="scoring",
        data_schema=schema,
        origin="schema",
    )


def consumers() -> Federation:
    reporting = {
        "domain": "reporting",
        "subscribes": [
            {
                "event": "scoring.completed",
                "deployment": "write-risk-report/reporting",
                "parameters": {
                    "scores_path": "{{ event.data.scores_path }}",
                    "high_risk": "{{ event.data.high_risk }}",
                },
            }
        ],
    }
    notifications = {
        "domain": "notifications",
        "subscribes": [
            {
                "event": "scoring.completed",
                "deployment": "notify-on-call/notifications",
                "filter": {"region": ["north", "south"]},
                "parameters": {"text": "{{ event.data.note | default('') }}"},
            }
        ],
    }
    domains = [DomainDeclaration.model_validate(d) for d in (reporting, notifications)]
    return Federation(domains={d.domain: d for d in domains})


def changed(**edits: Any) -> dict[str, Any]:
    schema = copy.deepcopy(V1)
    for key, value in edits.items():
        if value is None:
            del schema["properties"][key]
        else:
            schema["properties"][key] = value
    return schema


def check(new: dict[str, Any], version: int = 1) -> tuple[list[str], list[str]]:
    errors, notes = compare(
        contract(V1), contract(new, version), readers_of(consumers(), "scoring.completed")
    )
    return [e.message for e in errors], notes


def test_removing_a_field_a_consumer_reads_is_breaking_and_names_the_consumer() -> None:
    errors, _ = check(changed(scores_path=None))

    assert errors == [
        "scoring.completed v1 -> v1 removes `scores_path`, read by reporting "
        "(write-risk-report/reporting, parameter scores_path): a breaking change needs a new "
        "major version (`version: 2` in scoring's `publishes`), and its consumers a change"
    ]


def test_with_a_new_major_version_the_same_removal_passes_as_a_note() -> None:
    errors, notes = check(changed(scores_path=None), version=2)

    assert errors == []
    assert notes == [
        "scoring.completed v1 -> v2 removes `scores_path`, read by reporting "
        "(write-risk-report/reporting, parameter scores_path): breaking, in a new major version"
    ]


def test_removing_a_field_nobody_reads_is_compatible() -> None:
    schema = changed(batch_id=None)
    schema["required"].remove("batch_id")

    errors, notes = check(schema)

    assert errors == []
    assert notes == [
        "scoring.completed v1 -> v1 removes `batch_id`: compatible (no consumer is affected)"
    ]


def test_a_rename_is_named_as_one() -> None:
    schema = changed(scores_path=None, scores_uri={"type": "string"})
    schema["required"] = [*schema["required"], "scores_uri"]

    errors, _ = check(schema)

    assert len(errors) == 1
    assert "renames `scores_path` to `scores_uri`, read by reporting" in errors[0]


def test_a_type_widened_breaks_its_reader_and_a_type_narrowed_does_not() -> None:
    errors, _ = check(changed(high_risk={"type": "number"}))
    assert "changes `high_risk` from integer to number, read by reporting" in errors[0]

    errors, _ = check(changed(note={"type": "string", "maxLength": 3}))
    assert errors == []


def test_optional_to_required_is_compatible_and_required_to_optional_breaks_a_reader() -> None:
    schema = copy.deepcopy(V1)
    schema["required"] = [*schema["required"], "note"]
    assert check(schema)[0] == []

    schema = copy.deepcopy(V1)
    schema["required"].remove("high_risk")
    errors, _ = check(schema)
    assert "makes `high_risk` optional, read by reporting" in errors[0]


def test_an_enum_narrowed_breaks_the_filter_that_accepts_a_value_no_longer_sent() -> None:
    errors, _ = check(changed(region={"type": "string", "enum": ["north", "east"]}))

    assert errors[0].startswith(
        "scoring.completed v1 -> v1 no longer sends 'south' in `region`, read by notifications "
        "(notify-on-call/notifications, filter on region)"
    )


def test_a_lower_major_version_is_an_error() -> None:
    errors, _ = compare(contract(V1, 2), contract(V1, 1), [])

    assert [e.message for e in errors] == [
        "scoring.completed v2 -> v1: the major version went down (it only goes up)"
    ]


def test_adding_a_field_is_a_compatible_change() -> None:
    assert [c.kind for c in diff(V1, changed(model_version={"type": "string"}))] == ["added"]


def test_exported_contracts_read_back_as_the_latest_version_of_each_type(tmp_path: Path) -> None:
    written = export_contracts([contract(V1, 1), contract(changed(note=None), 2)], tmp_path)

    assert [p.name for p in written] == [
        "scoring.completed.v1.schema.json",
        "scoring.completed.v2.schema.json",
        "index.json",
    ]
    document = json.loads((tmp_path / "scoring.completed.v2.schema.json").read_text())
    assert document["$id"] == "urn:prefect-federation:scoring.completed:v2"
    assert document["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    [latest] = read_exported(tmp_path).values()
    assert latest.version == 2
    assert latest.data_schema == changed(note=None) | {"title": "scoring.completed"}
