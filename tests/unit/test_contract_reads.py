"""What a template reads, from Jinja's parse tree; where a path leads in a JSON Schema."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from prefect_federation.contracts.models import model_schema
from prefect_federation.contracts.reads import reads_of, template_reads
from prefect_federation.contracts.schema import json_types, lookup, sample, samples
from prefect_federation.templates import check_template


@pytest.mark.parametrize(
    ("template", "reads"),
    [
        ("{{ event.data.batch_id }}", [("event.data.batch_id", False)]),
        ("#risk-{{ event.data.region }}", [("event.data.region", False)]),
        ("{{ event.data.rows | default(3000) }}", [("event.data.rows", True)]),
        ('{{ event.data.get("rows", 1) }}', [("event.data.rows", True)]),
        ('{{ event["data"].batch.id }}', [("event.data.batch.id", False)]),
        ("{{ evnt.data.x }}", [("evnt.data.x", False)]),
        (
            "{{ event.data.a ~ event.data.b | upper }}",
            [("event.data.a", False), ("event.data.b", False)],
        ),
        ("{% for row in event.data.rows %}{{ row.x }}{% endfor %}", [("event.data.rows", False)]),
    ],
)
def test_the_reads_of_a_template_come_from_its_parse_tree(
    template: str, reads: list[tuple[str, bool]]
) -> None:
    found = template_reads(template, "parameters.p")

    assert [(r.dotted, r.defaulted) for r in found.reads] == reads


def test_only_a_bare_expression_passes_its_type_through() -> None:
    assert template_reads("{{ event.data.rows }}", "p").single_read is not None
    assert template_reads(" {{ event.data.rows | default(1) }} ", "p").single_read is not None
    assert template_reads("n{{ event.data.rows }}", "p").single_read is None
    assert template_reads("{{ event.data.rows | string }}", "p").single_read is None


def test_reads_are_found_in_nested_parameters_and_a_syntax_error_is_kept() -> None:
    found = reads_of({"a": {"b": ["{{ event.id }}"]}, "c": 1, "d": "{{ oops"})

    assert [t.where for t in found] == ["parameters.a.b[0]", "parameters.d"]
    assert found[1].syntax_error is not None


def test_check_template_names_every_bad_template_not_only_the_first() -> None:
    with pytest.raises(ValueError, match="is not valid") as raised:
        check_template({"a": "{{ oops", "b": "{{ fine }}", "c": "{% if %}"})

    assert "parameters.a: template" in str(raised.value)
    assert "parameters.c: template" in str(raised.value)


class Meta(BaseModel):
    run: str
    tries: int | None = None


class Event(BaseModel):
    rows: int
    share: float = 0.5
    meta: Meta
    extra: Meta | None = None


SCHEMA = model_schema(Event)


def test_a_models_contract_has_every_field_it_dumps_as_required() -> None:
    assert sorted(SCHEMA["required"]) == ["extra", "meta", "rows", "share"]


@pytest.mark.parametrize(
    ("path", "found", "required"),
    [
        (["rows"], True, True),
        (["meta", "run"], True, True),
        (["meta", "tries"], True, False),  # nullable
        (["extra", "run"], True, False),  # its parent may be null
        (["meta", "rn"], False, False),
        (["rows", "x"], False, False),  # an integer has no fields
    ],
)
def test_a_path_is_looked_up_through_refs_and_unions(
    path: list[str], found: bool, required: bool
) -> None:
    result = lookup(SCHEMA, path)

    assert (result.found, result.required) == (found, required)


def test_an_object_that_declares_no_fields_is_open_not_an_error() -> None:
    assert lookup({"type": "object", "required": ["a"]}, ["anything"]).open


def test_samples_follow_the_types_and_cover_each_shape() -> None:
    assert sample(SCHEMA) == {
        "rows": 1,
        "share": 0.5,
        "meta": {"run": "text", "tries": 1},
        "extra": {"run": "text", "tries": 1},
    }
    tries = lookup(SCHEMA, ["meta", "tries"]).schema
    assert samples(tries, SCHEMA) == [1, None]
    assert json_types(tries, SCHEMA) == {"integer", "null"}
