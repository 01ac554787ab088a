"""The CLI against moto server: provision (without blocks), publish, check."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from typer.testing import CliRunner

from prefect_federation.cli import app
from prefect_federation.local import quiet_env

pytestmark = pytest.mark.integration

INGESTION_YAML = """\
domain: ingestion
publishes:
  - type: ingestion.completed
"""
SCORING_YAML = """\
domain: scoring
subscribes:
  - event: ingestion.completed
    deployment: score-flow/score
    parameters:
      snapshot_date: "{{ event.data.snapshot_date }}"
"""


@pytest.fixture
def runner(aws_env: str, name_prefix: str, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    """A CLI runner whose environment points at moto, with this test's name prefix."""
    monkeypatch.setenv("PREFECT_FEDERATION_NAME_PREFIX", name_prefix)
    monkeypatch.setenv("COLUMNS", "400")  # rich must not wrap file names in messages
    return CliRunner()


@pytest.fixture
def declarations(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "deployments"
    directory.mkdir()
    (directory / "ingestion.yaml").write_text(INGESTION_YAML)
    (directory / "scoring.yaml").write_text(SCORING_YAML)
    # `publish` checks data against these declarations' contracts (not the worked example's)
    monkeypatch.setenv("PREFECT_FEDERATION_DECLARATIONS", str(directory))
    return directory


def _flat(text: str) -> str:
    return " ".join(text.split())


def test_cli_provision_without_blocks_creates_then_reports_no_changes(
    runner: CliRunner, declarations: Path, sqs: Any, name_prefix: str
) -> None:
    first = runner.invoke(app, ["provision", "-d", str(declarations), "--no-save-blocks"])
    assert first.exit_code == 0, first.output
    assert "created" in first.stdout
    assert "done" in first.stdout
    assert "saved blocks" not in first.stdout
    sqs.get_queue_url(QueueName=f"{name_prefix}scoring-inbox")  # raises if missing

    second = runner.invoke(app, ["provision", "-d", str(declarations), "--no-save-blocks"])
    assert second.exit_code == 0, second.output
    assert "no changes" in second.stdout
    assert "created" not in second.stdout


def test_cli_provision_with_an_unprovisioned_upstream_exits_2_naming_it(
    runner: CliRunner, tmp_path: Path
) -> None:
    (tmp_path / "scoring.yaml").write_text(SCORING_YAML.replace("ingestion.", "vendor."))

    result = runner.invoke(app, ["provision", "-d", str(tmp_path), "--no-save-blocks"])

    assert result.exit_code == 2
    assert "'vendor'" in _flat(result.stderr)


def test_cli_publish_prints_the_event_id_and_the_event_reaches_the_subscriber(
    runner: CliRunner, declarations: Path, sqs: Any, name_prefix: str
) -> None:
    provisioned = runner.invoke(app, ["provision", "-d", str(declarations), "--no-save-blocks"])
    assert provisioned.exit_code == 0, provisioned.output

    result = runner.invoke(
        app, ["publish", "ingestion.completed", "--data", '{"snapshot_date": "2026-11-01"}']
    )

    assert result.exit_code == 0, result.output
    event_id = UUID(result.stdout.strip().splitlines()[-1])
    queue_url = sqs.get_queue_url(QueueName=f"{name_prefix}scoring-inbox")["QueueUrl"]
    [message] = sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=1)["Messages"]
    envelope = json.loads(message["Body"])
    assert envelope["id"] == str(event_id)
    assert envelope["source"] == "ingestion"
    assert envelope["data"] == {"snapshot_date": "2026-11-01"}


CLI = str(Path(sys.executable).with_name("prefect-federation"))
HEAVY = {"prefect", "prefect_aws", "sqlalchemy"}
"""What `publish` with the environment's credentials must not import (each costs seconds)."""


def imported_modules(importtime_stderr: str) -> set[str]:
    """The modules a process imported, from its `-X importtime` (PYTHONPROFILEIMPORTTIME) lines."""
    return {
        line.rsplit("|", 1)[-1].strip()
        for line in importtime_stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }


def test_cli_publish_with_the_environments_credentials_imports_no_prefect_and_is_delivered(
    runner: CliRunner, declarations: Path, sqs: Any, name_prefix: str, aws_env: str
) -> None:
    """The real console script in its own process, as a person runs it: the event is archived
    and delivered, and neither Prefect, prefect-aws nor SQLAlchemy was imported on the way."""
    provisioned = runner.invoke(app, ["provision", "-d", str(declarations), "--no-save-blocks"])
    assert provisioned.exit_code == 0, provisioned.output

    completed = subprocess.run(
        [CLI, "publish", "ingestion.completed", "--data", '{"snapshot_date": "2026-11-02"}'],
        env=quiet_env({"PYTHONPROFILEIMPORTTIME": "1"}),
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert completed.returncode == 0, completed.stderr[-3000:]
    imported = imported_modules(completed.stderr)
    assert "prefect_federation.connect" in imported  # the import log covers the publish path
    assert {name.split(".")[0] for name in imported} & HEAVY == set()
    assert f"archived in s3://{name_prefix}event-archive" in _flat(completed.stderr)
    event_id = completed.stdout.strip().splitlines()[-1]
    queue_url = sqs.get_queue_url(QueueName=f"{name_prefix}scoring-inbox")["QueueUrl"]
    [message] = sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=1)["Messages"]
    assert json.loads(message["Body"])["id"] == event_id


def test_cli_publish_with_bad_json_data_exits_2_naming_the_data_option(
    runner: CliRunner,
) -> None:
    result = runner.invoke(app, ["publish", "ingestion.completed", "--data", "{not json"])

    assert result.exit_code == 2
    assert "--data" in _flat(result.stderr)
    assert "not valid JSON" in _flat(result.stderr)
    assert result.stdout == ""


def test_cli_publish_to_an_unprovisioned_domain_exits_2_naming_it(runner: CliRunner) -> None:
    result = runner.invoke(app, ["publish", "nowhere.done", "--data", "{}"])

    assert result.exit_code == 2
    assert "'nowhere'" in _flat(result.stderr)


def test_cli_check_accepts_good_declarations(runner: CliRunner, declarations: Path) -> None:
    result = runner.invoke(app, ["check", "-d", str(declarations)])

    assert result.exit_code == 0, result.output
    assert "ingestion.completed -> score-flow/score" in result.stdout


def test_cli_check_with_a_bad_yaml_file_exits_2_naming_the_file(
    runner: CliRunner, declarations: Path
) -> None:
    (declarations / "broken-domain.yaml").write_text(
        textwrap.dedent(
            """\
            domain: broken
            publishes: [unclosed
            """
        )
    )

    result = runner.invoke(app, ["check", "-d", str(declarations)])

    assert result.exit_code == 2
    message = _flat(result.stderr)
    assert "broken-domain.yaml" in message
    assert "not valid YAML" in message


def test_cli_publish_archives_the_event_when_the_archive_exists(
    runner: CliRunner, declarations: Path, name_prefix: str, aws_env: str
) -> None:
    import boto3

    provisioned = runner.invoke(app, ["provision", "-d", str(declarations), "--no-save-blocks"])
    assert provisioned.exit_code == 0, provisioned.output

    result = runner.invoke(app, ["publish", "ingestion.completed", "--data", '{"rows": 5}'])

    assert result.exit_code == 0, result.output
    event_id = result.stdout.strip().splitlines()[-1]
    assert f"archived in s3://{name_prefix}event-archive" in _flat(result.stderr)
    s3 = boto3.client("s3", region_name="us-east-1", endpoint_url=aws_env)
    keys = [
        o["Key"]
        for o in s3.list_objects_v2(Bucket=f"{name_prefix}event-archive").get("Contents", [])
    ]
    assert any(
        k.startswith(f"{name_prefix}ingestion/") and k.endswith(f"_{event_id}.json") for k in keys
    )


def test_cli_publish_says_when_there_is_no_archive_to_write_to(
    runner: CliRunner, declarations: Path, name_prefix: str
) -> None:
    provisioned = runner.invoke(
        app, ["provision", "-d", str(declarations), "--no-save-blocks", "--no-archive"]
    )
    assert provisioned.exit_code == 0, provisioned.output

    result = runner.invoke(app, ["publish", "ingestion.completed", "--data", "{}"])

    assert result.exit_code == 0, result.output
    assert f"(not archived: no bucket '{name_prefix}event-archive')" in _flat(result.stderr)
