"""Domain declarations: loading YAML files, and refusing mistakes with a precise ConfigError."""

from __future__ import annotations

from pathlib import Path

import pytest

from prefect_federation.declarations import load_declaration, load_federation
from prefect_federation.errors import ConfigError

INGESTION = """\
domain: ingestion
description: lands raw data
publishes:
  - type: ingestion.completed
    description: a snapshot landed
    schema:
      type: object
      required: [snapshot_date]
  - type: ingestion.failed
"""

SCORING = """\
domain: scoring
publishes:
  - type: scoring.completed
subscribes:
  - event: ingestion.completed
    filter: {region: [north, south], meta.kind: full}
    deployment: score/daily
    parameters:
      snapshot_date: "{{ event.data.snapshot_date }}"
      rows: "{{ event.data.rows }}"
  - event: ingestion.failed
    deployment: score/alert
  - event: ingestion.completed
    deployment: audit/record
  - event: airflow.exported
    source: airflow
    adapter: raw
    deployment: import/table
"""


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(text)
    return path


def config_error_of(path: Path) -> str:
    with pytest.raises(ConfigError) as info:
        load_declaration(path)
    return str(info.value)


def test_a_valid_declaration_loads_with_its_publications_and_subscriptions(
    tmp_path: Path,
) -> None:
    declaration = load_declaration(write(tmp_path, "scoring.yaml", SCORING))

    assert declaration.domain == "scoring"
    assert [p.type for p in declaration.publishes] == ["scoring.completed"]
    first = declaration.subscribes[0]
    assert first.event == "ingestion.completed"
    assert first.source is None
    assert first.upstream == "ingestion"
    assert first.filter == {"region": ["north", "south"], "meta.kind": "full"}
    assert first.deployment == "score/daily"
    assert first.parameters == {
        "snapshot_date": "{{ event.data.snapshot_date }}",
        "rows": "{{ event.data.rows }}",
    }
    assert first.adapter == "envelope"
    assert declaration.subscribes[3].adapter == "raw"
    assert declaration.subscribes[3].upstream == "airflow"
    assert declaration.fifo is False


def test_the_schema_key_of_a_publication_becomes_its_data_schema(tmp_path: Path) -> None:
    declaration = load_declaration(write(tmp_path, "ingestion.yaml", INGESTION))

    assert declaration.publishes[0].data_schema == {
        "type": "object",
        "required": ["snapshot_date"],
    }
    assert declaration.publishes[1].data_schema is None


def test_upstreams_lists_each_upstream_domain_with_its_event_types_once(tmp_path: Path) -> None:
    declaration = load_declaration(write(tmp_path, "scoring.yaml", SCORING))

    assert declaration.upstreams() == {
        "ingestion": ["ingestion.completed", "ingestion.failed"],
        "airflow": ["airflow.exported"],
    }


def test_subscriptions_for_returns_every_subscription_to_a_type(tmp_path: Path) -> None:
    declaration = load_declaration(write(tmp_path, "scoring.yaml", SCORING))

    found = declaration.subscriptions_for("ingestion.completed")

    assert [s.deployment for s in found] == ["score/daily", "audit/record"]
    assert declaration.subscriptions_for("ingestion.started") == []


def test_a_bad_deployment_name_names_the_file_the_field_and_the_expected_pattern(
    tmp_path: Path,
) -> None:
    path = write(
        tmp_path,
        "scoring.yaml",
        "domain: scoring\nsubscribes:\n  - event: ingestion.completed\n    deployment: daily\n",
    )

    message = config_error_of(path)

    assert str(path) in message
    assert "subscribes.0.deployment" in message
    assert "expected `flow-name/deployment-name` (got 'daily')" in message
    assert "(got 'daily')" in message


def test_an_unknown_key_names_the_file_and_the_key_path(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "scoring.yaml",
        "domain: scoring\nsubscribes:\n  - event: ingestion.completed\n"
        "    deployment: score/daily\n    paramters: {}\n",
    )

    message = config_error_of(path)

    assert str(path) in message
    assert "subscribes.0.paramters: Extra inputs are not permitted" in message


def test_an_unknown_top_level_key_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "scoring.yaml", "domain: scoring\nsubscriptions: []\n")

    message = config_error_of(path)

    assert "subscriptions: Extra inputs are not permitted" in message


def test_a_template_syntax_error_names_the_file_and_the_parameter(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "scoring.yaml",
        "domain: scoring\nsubscribes:\n  - event: ingestion.completed\n"
        "    deployment: score/daily\n    parameters:\n"
        "      options:\n        dates: ['ok', '{{ event.data.snapshot_date ']\n",
    )

    message = config_error_of(path)

    assert str(path) in message
    assert "subscribes.0.parameters" in message
    assert "parameters.options.dates[1]" in message
    assert "'{{ event.data.snapshot_date '" in message
    assert "is not valid" in message


def test_a_type_published_by_the_wrong_domain_names_the_publication_and_the_rule(
    tmp_path: Path,
) -> None:
    path = write(
        tmp_path,
        "scoring.yaml",
        "domain: scoring\npublishes:\n  - type: scoring.completed\n  - type: ingestion.completed\n",
    )

    message = config_error_of(path)

    assert str(path) in message
    assert "publishes[1].type 'ingestion.completed' must start with 'scoring.'" in message


def test_a_bad_domain_name_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "scoring.yaml", "domain: Scoring_Team\n")

    message = config_error_of(path)

    assert "domain: expected a domain name" in message
    assert "(got 'Scoring_Team')" in message


def test_a_bad_event_type_in_a_subscription_is_refused(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "scoring.yaml",
        "domain: scoring\nsubscribes:\n  - event: ingestion\n    deployment: score/daily\n",
    )

    message = config_error_of(path)

    assert "subscribes.0.event: expected an event type `<domain>.<what-happened>`" in message


def test_an_unknown_adapter_is_refused_with_the_accepted_values(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "scoring.yaml",
        "domain: scoring\nsubscribes:\n  - event: ingestion.completed\n"
        "    deployment: score/daily\n    adapter: airflow\n",
    )

    message = config_error_of(path)

    assert "subscribes.0.adapter" in message
    assert "'envelope' or 'raw'" in message


def test_a_file_that_is_not_a_mapping_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "scoring.yaml", "- domain: scoring\n")

    message = config_error_of(path)

    assert message.startswith(f"{path}: expected a mapping with `domain:` at the top")


def test_an_empty_file_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "scoring.yaml", "")

    assert "expected a mapping" in config_error_of(path)


def test_invalid_yaml_is_refused_naming_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "scoring.yaml", "domain: [scoring\n")

    assert config_error_of(path).startswith(f"{path}: not valid YAML")


def test_a_missing_file_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "absent.yaml"

    assert config_error_of(path).startswith(f"{path}: cannot read the declaration")


def test_config_error_is_a_value_error() -> None:
    assert issubclass(ConfigError, ValueError)


def test_load_federation_reads_every_yaml_file_of_a_directory(tmp_path: Path) -> None:
    write(tmp_path, "ingestion.yaml", INGESTION)
    write(tmp_path, "scoring.yml", SCORING)
    write(tmp_path, "README.md", "not a declaration")

    federation = load_federation(tmp_path)

    assert sorted(federation.domains) == ["ingestion", "scoring"]
    assert [d.domain for d in federation.publishers()] == ["ingestion", "scoring"]
    assert [d.domain for d in federation.subscribers()] == ["scoring"]
    publication = federation.publication("ingestion.completed")
    assert publication is not None
    assert publication.description == "a snapshot landed"
    assert federation.publication("ingestion.started") is None
    assert federation.publication("airflow.exported") is None


def test_load_federation_accepts_a_single_file(tmp_path: Path) -> None:
    federation = load_federation(write(tmp_path, "ingestion.yaml", INGESTION))

    assert list(federation.domains) == ["ingestion"]
    assert federation.domain("ingestion").domain == "ingestion"


def test_an_unknown_domain_lists_the_declared_ones(tmp_path: Path) -> None:
    federation = load_federation(write(tmp_path, "ingestion.yaml", INGESTION))

    with pytest.raises(ConfigError, match="unknown domain 'billing'; declared domains: ingestion"):
        federation.domain("billing")


def test_a_subscription_to_a_type_the_upstream_does_not_publish_is_refused(
    tmp_path: Path,
) -> None:
    write(tmp_path, "ingestion.yaml", "domain: ingestion\npublishes:\n  - type: ingestion.done\n")
    scoring = write(tmp_path, "scoring.yaml", SCORING)

    with pytest.raises(ConfigError) as info:
        load_federation(tmp_path)

    message = str(info.value)
    assert message.startswith(f"{scoring}: subscribes[0].event 'ingestion.completed'")
    assert "domain 'ingestion' does not publish it (it publishes: ingestion.done)" in message


def test_a_subscription_to_an_undeclared_external_producer_is_accepted(tmp_path: Path) -> None:
    write(tmp_path, "ingestion.yaml", INGESTION)
    write(tmp_path, "scoring.yaml", SCORING)

    federation = load_federation(tmp_path)

    assert "airflow" not in federation.domains
    assert federation.domain("scoring").upstreams()["airflow"] == ["airflow.exported"]


def test_a_domain_declared_twice_names_both_files(tmp_path: Path) -> None:
    first = write(tmp_path, "a.yaml", INGESTION)
    second = write(tmp_path, "b.yaml", "domain: ingestion\n")

    with pytest.raises(ConfigError) as info:
        load_federation(tmp_path)

    assert str(info.value) == (f"{second}: domain 'ingestion' is already declared in {first}")


def test_a_bad_file_in_a_directory_fails_the_whole_federation(tmp_path: Path) -> None:
    write(tmp_path, "ingestion.yaml", INGESTION)
    bad = write(tmp_path, "scoring.yaml", "domain: scoring\nbogus: 1\n")

    with pytest.raises(ConfigError, match="bogus: Extra inputs are not permitted") as info:
        load_federation(tmp_path)

    assert str(bad) in str(info.value)


def test_a_directory_without_declarations_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no domain declarations"):
        load_federation(tmp_path)


def test_a_missing_path_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such declaration file or directory"):
        load_federation(tmp_path / "nowhere")
