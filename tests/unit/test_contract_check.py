"""`check`'s static rules, one test each: a subscription against its producer's contract and its
target flow's parameter schema (Prefect's own, from prefect.yaml -> entrypoint)."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from prefect_federation.contracts.check import check_subscriptions
from prefect_federation.contracts.models import Contract
from prefect_federation.contracts.problems import Problem
from prefect_federation.contracts.targets import Targets
from prefect_federation.declarations import DomainDeclaration, Federation

SCORING = {
    "type": "object",
    "properties": {
        "batch_id": {"type": "string"},
        "region": {"type": "string", "enum": ["north", "south", "east"]},
        "scores_path": {"type": "string"},
        "high_risk": {"type": "integer"},
        "share": {"type": "number"},
        "note": {"anyOf": [{"type": "string"}, {"type": "null"}]},
        "meta": {"$ref": "#/$defs/Meta"},
    },
    "required": ["batch_id", "region", "scores_path", "high_risk", "share", "note", "meta"],
    "$defs": {
        "Meta": {
            "type": "object",
            "properties": {"run": {"type": "string"}, "tries": {"type": "integer"}},
            "required": ["run"],
        }
    },
}
GOOD = {
    "batch_id": "{{ event.data.batch_id }}",
    "scores_path": "{{ event.data.scores_path }}",
    "high_risk": "{{ event.data.high_risk }}",
}
FLOW = '''
from prefect import flow

@flow(name="write-risk-report")
def write_risk_report(
    batch_id: str, scores_path: str, high_risk: int, threshold: float = 0.5, label: str = "x"
) -> None:
    """The reporting team's flow."""
'''
PREFECT_YAML = """
deployments:
  - name: reporting
    entrypoint: report_flow.py:write_risk_report
"""


@pytest.fixture
def targets(tmp_path: Path) -> Targets:
    (tmp_path / "prefect.yaml").write_text(PREFECT_YAML)
    (tmp_path / "report_flow.py").write_text(textwrap.dedent(FLOW))
    return Targets(tmp_path)


def federation(subscription: dict[str, Any], *, publishes: bool = True) -> Federation:
    scoring: dict[str, Any] = {"domain": "scoring"}
    if publishes:
        scoring["publishes"] = [{"type": "scoring.completed", "schema": SCORING}]
    reporting = {
        "domain": "reporting",
        "subscribes": [
            {"event": "scoring.completed", "deployment": "write-risk-report/reporting"}
            | subscription
        ],
    }
    domains = [DomainDeclaration.model_validate(d) for d in (scoring, reporting)]
    return Federation(domains={d.domain: d for d in domains})


CONTRACTS = {
    "scoring.completed": Contract(
        type="scoring.completed",
        version=1,
        producer="scoring",
        data_schema=SCORING,
        origin="schema",
    )
}


def problems(targets: Targets, publishes: bool = True, **subscription: Any) -> list[Problem]:
    found = check_subscriptions(federation(subscription, publishes=publishes), CONTRACTS, targets)
    return [p for p in found if p.severity == "error"]


def only(found: list[Problem], rule: str) -> Problem:
    assert [p.rule for p in found] == [rule], [p.text() for p in found]
    return found[0]


def test_a_subscription_that_fits_both_sides_has_no_problem(targets: Targets) -> None:
    assert problems(targets, parameters=GOOD) == []


def test_a_misspelled_root_is_an_error_that_suggests_event(targets: Targets) -> None:
    found = problems(targets, parameters=GOOD | {"batch_id": "{{ evnt.data.batch_id }}"})

    problem = only(found, "unknown-root")
    assert problem.text() == (
        "reporting subscribes[0] (scoring.completed from scoring -> write-risk-report/reporting): "
        "parameters.batch_id: `evnt.data.batch_id`: templates see only `event`; "
        "did you mean `event`?"
    )


def test_an_attribute_the_envelope_lacks_is_an_error(targets: Targets) -> None:
    found = problems(targets, parameters=GOOD | {"label": "{{ event.dta.batch_id }}"})

    assert "did you mean `data`?" in only(found, "unknown-attribute").message


def test_a_field_the_producer_does_not_have_is_an_error_naming_both_sides(
    targets: Targets,
) -> None:
    found = problems(targets, parameters=GOOD | {"scores_path": "{{ event.data.scores_pth }}"})

    problem = only(found, "unknown-field")
    assert (problem.producer, problem.consumer, problem.field) == (
        "scoring",
        "reporting",
        "parameters.scores_path",
    )
    assert problem.message == (
        "reads `event.data.scores_pth`, but scoring.completed v1 (producer scoring) has no "
        "`data.scores_pth`; did you mean `scores_path`?"
    )


def test_nested_paths_are_looked_up_through_refs(targets: Targets) -> None:
    assert problems(targets, parameters=GOOD | {"label": "{{ event.data.meta.run }}"}) == []
    found = problems(targets, parameters=GOOD | {"label": "{{ event.data.meta.rn }}"})
    assert "no `data.meta.rn`; did you mean `run`?" in only(found, "unknown-field").message


def test_an_optional_field_needs_a_default_in_the_template(targets: Targets) -> None:
    found = problems(targets, parameters=GOOD | {"label": "n{{ event.data.meta.tries }}"})
    assert "give the template a `| default(...)`" in only(found, "optional-field").message

    defaulted = GOOD | {"label": "n{{ event.data.meta.tries | default(0) }}"}
    assert problems(targets, parameters=defaulted) == []


def test_a_string_field_into_an_int_parameter_is_an_error(targets: Targets) -> None:
    found = problems(targets, parameters=GOOD | {"high_risk": "{{ event.data.batch_id }}"})

    assert only(found, "parameter-type").message.startswith(
        "`event.data.batch_id` is string in scoring.completed v1 (producer scoring); flow "
        "write-risk-report's parameter `high_risk` takes integer"
    )


def test_an_int_field_into_a_float_parameter_is_fine_and_a_float_into_int_is_not(
    targets: Targets,
) -> None:
    assert problems(targets, parameters=GOOD | {"threshold": "{{ event.data.high_risk }}"}) == []
    found = problems(targets, parameters=GOOD | {"high_risk": "{{ event.data.share }}"})
    assert "takes integer" in only(found, "parameter-type").message


def test_a_nullable_field_into_a_parameter_that_takes_no_null_is_an_error(
    targets: Targets,
) -> None:
    found = problems(targets, parameters=GOOD | {"label": "{{ event.data.note }}"})

    assert [p.rule for p in found] == ["optional-field", "parameter-type"]
    assert "None is not of type 'string'" in found[1].message


def test_a_text_template_renders_a_string_which_an_int_parameter_refuses(
    targets: Targets,
) -> None:
    found = problems(targets, parameters=GOOD | {"high_risk": "n{{ event.data.high_risk }}"})

    assert "the template renders 'n1' (a string)" in only(found, "parameter-type").message


def test_a_required_flow_parameter_the_subscription_does_not_give_is_an_error(
    targets: Targets,
) -> None:
    found = problems(targets, parameters={k: v for k, v in GOOD.items() if k != "high_risk"})

    assert only(found, "missing-parameter").message == (
        "flow write-risk-report (report_flow.py:write_risk_report) requires parameter "
        "`high_risk`; the subscription does not give it"
    )


def test_a_parameter_the_flow_does_not_take_is_an_error(targets: Targets) -> None:
    found = problems(targets, parameters=GOOD | {"treshold": 0.3})

    assert "has no parameter `treshold`; did you mean `threshold`?" in (
        only(found, "unknown-parameter").message
    )


def test_a_deployment_missing_from_prefect_yaml_is_an_error(targets: Targets) -> None:
    found = problems(targets, parameters=GOOD, deployment="write-risk-report/reportin")

    assert "deployment 'reportin' is not in" in only(found, "unknown-deployment").message


def test_a_filter_on_a_field_the_producer_lacks_or_on_a_value_it_never_sends_is_an_error(
    targets: Targets,
) -> None:
    found = problems(targets, parameters=GOOD, filter={"regon": ["north"], "region": ["west"]})

    assert [p.rule for p in found] == ["filter-field", "filter-value"]
    assert "filters on `data.regon`" in found[0].message
    assert "did you mean `region`?" in found[0].message
    assert "value 'west' can never match `data.region`" in found[1].message


def test_a_type_the_producer_does_not_publish_and_an_undeclared_producer_are_errors(
    targets: Targets,
) -> None:
    found = problems(targets, publishes=False, parameters=GOOD)
    assert "producer 'scoring' does not publish 'scoring.completed'" in (
        only(found, "not-published").message
    )

    found = problems(targets, parameters=GOOD, source="scorng")
    assert "producer domain 'scorng' is not declared; did you mean `scoring`?" in (
        only(found, "unknown-producer").message
    )


def test_a_raw_subscription_is_checked_against_the_schema_it_names(targets: Targets) -> None:
    raw_schema = {
        "type": "object",
        "properties": {"table": {"type": "string"}, "rows": {"type": "integer"}},
        "required": ["table", "rows"],
    }
    parameters = {
        "batch_id": "{{ event.data.tabel }}",
        "scores_path": "{{ event.data.table }}",
        "high_risk": "{{ event.data.rows }}",
    }

    found = problems(
        targets, adapter="raw", source="airflow", schema=raw_schema, parameters=parameters
    )

    problem = only(found, "unknown-field")
    assert problem.message == (
        "reads `event.data.tabel`, but the raw body schema of scoring.completed (producer "
        "airflow) has no `data.tabel`; did you mean `table`?"
    )
    assert problem.producer == "airflow"


def test_every_problem_of_a_subscription_is_reported_at_once(targets: Targets) -> None:
    found = problems(
        targets,
        parameters={
            "batch_id": "{{ evnt.data.batch_id }}",
            "scores_path": "{{ event.data.scores }}",
            "high_risk": "{{ event.data.region }}",
        },
        filter={"colour": "red"},
    )

    assert sorted(p.rule for p in found) == [
        "filter-field",
        "parameter-type",
        "unknown-field",
        "unknown-root",
    ]
