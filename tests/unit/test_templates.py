"""Parameter templates: JSON types kept, strict about missing fields, sandboxed."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import pytest

from prefect_federation.errors import ParameterRenderError
from prefect_federation.events import EventEnvelope
from prefect_federation.listener.pipeline import template_context
from prefect_federation.templates import check_template, render_value

EVENT_ID = UUID("0b6f4a3e-6c1d-4c55-9a53-2f3b9d0e7a11")


@pytest.fixture
def context() -> dict[str, Any]:
    envelope = EventEnvelope(
        id=EVENT_ID,
        type="ingestion.completed",
        source="ingestion",
        time=datetime(2026, 11, 1, 6, 0, tzinfo=UTC),
        data={
            "snapshot_date": "2026-11-01",
            "rows": 1200,
            "ratio": 0.5,
            "full": False,
            "tables": ["orders", "customers"],
            "meta": {"batch": {"id": "b-17"}},
        },
    )
    return template_context(envelope)


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{ event.data.rows }}", 1200),
        ("{{ event.data.ratio }}", 0.5),
        ("{{ event.data.full }}", False),
        ("{{ event.data.tables }}", ["orders", "customers"]),
        ("{{ event.data.meta }}", {"batch": {"id": "b-17"}}),
        ("{{ event.subject }}", None),
        ("  {{ event.data.rows + 1 }}  ", 1201),
        ("{{event.data.meta.batch.id}}", "b-17"),
    ],
)
def test_single_expression_template_keeps_the_json_type(
    context: dict[str, Any], template: str, expected: object
) -> None:
    result = render_value(template, context)

    assert result == expected
    assert type(result) is type(expected)


def test_event_id_renders_to_the_uuid_string(context: dict[str, Any]) -> None:
    assert render_value("{{ event.id }}", context) == str(EVENT_ID)


def test_event_time_renders_to_an_iso_string(context: dict[str, Any]) -> None:
    assert render_value("{{ event.time }}", context) == "2026-11-01T06:00:00Z"


def test_event_correlationid_renders_to_a_string(context: dict[str, Any]) -> None:
    assert render_value("{{ event.correlationid }}", context) == str(EVENT_ID)


def test_mixed_text_renders_a_string(context: dict[str, Any]) -> None:
    assert render_value("rows={{ event.data.rows }}", context) == "rows=1200"
    assert (
        render_value("{{ event.type }}/{{ event.data.snapshot_date }}", context)
        == "ingestion.completed/2026-11-01"
    )


def test_a_block_template_renders_text(context: dict[str, Any]) -> None:
    template = "{% if event.data.full %}full{% else %}delta{% endif %}"

    assert render_value(template, context) == "delta"


def test_a_plain_string_is_left_as_it_is(context: dict[str, Any]) -> None:
    assert render_value("no template here {", context) == "no template here {"


def test_non_string_values_pass_through(context: dict[str, Any]) -> None:
    assert render_value(42, context) == 42
    assert render_value(None, context) is None
    assert render_value(True, context) is True


def test_filters_work_and_a_default_covers_a_missing_field(context: dict[str, Any]) -> None:
    assert render_value("{{ event.data.snapshot_date | replace('-', '') }}", context) == "20261101"
    assert render_value("{{ event.data.missing | default('all') }}", context) == "all"


def test_nested_dicts_and_lists_render_every_template(context: dict[str, Any]) -> None:
    value = {
        "date": "{{ event.data.snapshot_date }}",
        "options": {"rows": "{{ event.data.rows }}", "tables": ["{{ event.data.tables }}", "x"]},
        "fixed": 3,
    }

    assert render_value(value, context) == {
        "date": "2026-11-01",
        "options": {"rows": 1200, "tables": [["orders", "customers"], "x"]},
        "fixed": 3,
    }


def test_a_missing_field_raises_naming_the_parameter_and_the_template(
    context: dict[str, Any],
) -> None:
    with pytest.raises(ParameterRenderError) as info:
        render_value({"snapshot": "{{ event.data.snapshot }}"}, context)

    message = str(info.value)
    assert message.startswith("parameters.snapshot: template '{{ event.data.snapshot }}' failed")
    assert "no attribute 'snapshot'" in message


def test_a_missing_field_inside_mixed_text_raises_too(context: dict[str, Any]) -> None:
    with pytest.raises(ParameterRenderError, match=r"^parameters\.label: "):
        render_value({"label": "rows={{ event.data.count }}"}, context)


def test_a_missing_field_deep_in_a_list_names_its_index(context: dict[str, Any]) -> None:
    with pytest.raises(ParameterRenderError, match=r"^parameters\.opts\.dates\[1\]: "):
        render_value({"opts": {"dates": ["a", "{{ event.data.meta.batch.date }}"]}}, context)


def test_where_names_the_parameter_in_the_error(context: dict[str, Any]) -> None:
    with pytest.raises(ParameterRenderError, match=r"^custom\.spot: "):
        render_value("{{ event.nothing }}", context, "custom.spot")


@pytest.mark.parametrize(
    "template",
    [
        "{{ event.__class__.__mro__ }}",
        "{{ ''.__class__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "x{{ ''.__class__ }}",
        "{{ cycler.__init__.__globals__ }}",
        "{{ event.data.tables.append('evil') }}",
        "{{ event.data.meta.update({'a': 1}) }}",
    ],
)
def test_the_sandbox_blocks_python_internals_and_mutation(
    context: dict[str, Any], template: str
) -> None:
    with pytest.raises(ParameterRenderError, match=r"^parameters: template .* failed"):
        render_value(template, context)

    assert context["event"]["data"]["tables"] == ["orders", "customers"]
    assert context["event"]["data"]["meta"] == {"batch": {"id": "b-17"}}


def test_an_exception_inside_the_expression_becomes_a_render_error(
    context: dict[str, Any],
) -> None:
    with pytest.raises(ParameterRenderError, match="ZeroDivisionError"):
        render_value("{{ event.data.rows / 0 }}", context)


def test_check_template_accepts_valid_templates() -> None:
    check_template({"a": "{{ event.data.x }}", "b": ["{% if x %}y{% endif %}", 1], "c": None})


def test_check_template_names_where_the_syntax_error_is() -> None:
    with pytest.raises(
        ValueError, match=r"^parameters\.b\[0\]: template '\{\{ event\.data\. \}\}'"
    ):
        check_template({"a": "ok", "b": ["{{ event.data. }}"]})
