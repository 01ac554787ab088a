"""Publishing validates data against its contract before anything is sent: `publish_event`,
`@publishes`, `SnsPublisher` (given a registry) and the `publish` CLI."""

from __future__ import annotations

import textwrap
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from typer.testing import CliRunner

from prefect_federation import publishing
from prefect_federation.cli import app
from prefect_federation.contracts.models import parse_dataschema
from prefect_federation.contracts.registry import registry_for
from prefect_federation.errors import ContractViolation
from prefect_federation.events import EventEnvelope
from prefect_federation.publisher import InMemoryPublisher, SnsPublisher
from prefect_federation.publishing import publish_event, publishes, use_publisher

MODELS = """
from pydantic import BaseModel, Field

class Scored(BaseModel):
    batch_id: str
    high_risk: int = Field(ge=0)
    threshold: float = 0.5
"""
SCORING_YAML = """
domain: scoring
publishes:
  - type: scoring.completed
    model: unit_contract_models:Scored
    version: 3
"""
URN = "urn:prefect-federation:scoring.completed:v3"


@pytest.fixture
def declarations(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project whose `scoring.completed` is the model `Scored` (imported from the project)."""
    (tmp_path / "unit_contract_models.py").write_text(textwrap.dedent(MODELS))
    directory = tmp_path / "deployments"
    directory.mkdir()
    (directory / "scoring.yaml").write_text(SCORING_YAML)
    monkeypatch.setenv("PREFECT_FEDERATION_DECLARATIONS", str(directory))
    return directory


@pytest.fixture
def publisher() -> Any:
    recording = InMemoryPublisher()
    with use_publisher(recording):
        yield recording


def test_a_valid_event_leaves_with_its_contracts_dataschema(
    declarations: Path, publisher: InMemoryPublisher
) -> None:
    data = {"batch_id": "b1", "high_risk": 2, "threshold": 0.7}
    envelope = publish_event.fn("scoring.completed", data)

    assert envelope.dataschema == URN
    assert parse_dataschema(URN) == ("scoring.completed", 3)
    assert [e.dataschema for e in publisher.envelopes] == [URN]


def test_data_that_breaks_the_contract_names_each_field_and_the_contract_and_sends_nothing(
    declarations: Path, publisher: InMemoryPublisher
) -> None:
    with pytest.raises(ContractViolation) as raised:
        publish_event.fn("scoring.completed", {"high_risk": "many", "threshold": -1.0})

    assert str(raised.value) == (
        "scoring.completed not published: its data breaks the contract "
        f"{URN} (model unit_contract_models:Scored): data.batch_id: required by the contract, "
        "missing; data.high_risk: 'many' is not of type 'integer'"
    )
    assert publisher.envelopes == []


def test_a_flow_return_value_that_breaks_the_contract_is_never_published(
    declarations: Path, publisher: InMemoryPublisher, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(publishing, "publish_event", publish_event.fn)

    @publishes("scoring.completed")
    def score() -> dict[str, Any]:
        return {"batch_id": "b1", "high_risk": -3}

    with pytest.raises(ContractViolation, match=r"data.high_risk: -3 is less than the minimum"):
        score()
    assert publisher.envelopes == []


def test_a_contract_violation_is_not_retried(declarations: Path) -> None:
    state = SimpleNamespace(result=lambda raise_on_failure: ContractViolation("bad"))

    assert publishing._retry_only_transient(None, None, state) is False


def test_sns_publisher_given_contracts_refuses_bad_data_before_any_aws_call(
    declarations: Path,
) -> None:
    class NoAws:
        def publish(self, **kwargs: Any) -> dict[str, str]:
            raise AssertionError("SNS was called")

    sns = SnsPublisher(NoAws(), "arn:aws:sns:us-east-1:1:t", contracts=registry_for(declarations))  # type: ignore[arg-type]
    bad = EventEnvelope(type="scoring.completed", source="scoring", data={"batch_id": 7})

    with pytest.raises(ContractViolation, match=r"data\.batch_id: 7 is not of type 'string'"):
        sns.publish(bad)


def test_an_envelope_naming_another_major_version_is_refused(declarations: Path) -> None:
    envelope = EventEnvelope(
        type="scoring.completed",
        source="scoring",
        data={"batch_id": "b", "high_risk": 1, "threshold": 0.5},
        dataschema="urn:prefect-federation:scoring.completed:v2",
    )

    with pytest.raises(ContractViolation, match=f"the declared contract is {URN}"):
        registry_for(declarations).enforce(envelope)


def test_the_publish_cli_exits_2_on_bad_data_before_looking_for_a_topic(
    declarations: Path,
) -> None:
    result = CliRunner().invoke(
        app,
        ["publish", "scoring.completed", "-d", str(declarations), "--data", '{"high_risk": 1}'],
        env={"COLUMNS": "300"},
    )

    assert result.exit_code == 2
    message = " ".join(result.stderr.split())
    assert f"breaks the contract {URN}" in message
    assert "data.batch_id: required by the contract, missing" in message


def test_a_model_that_cannot_be_imported_is_a_config_error_naming_it(
    declarations: Path, publisher: InMemoryPublisher
) -> None:
    (declarations / "scoring.yaml").write_text(SCORING_YAML.replace("Scored", "Scorde"))

    with pytest.raises(ValueError, match=r"unit_contract_models\.Scorde is not a pydantic model"):
        publish_event.fn("scoring.completed", {"batch_id": "b1", "high_risk": 2})
