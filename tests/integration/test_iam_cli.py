"""`iam-policy` against moto server: the account from STS, the region from the environment."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from prefect_federation.cli.iam import iam_policy

pytestmark = pytest.mark.integration

DEPLOYMENTS = Path(__file__).resolve().parents[2] / "deployments"
MOTO_ACCOUNT = "123456789012"  # what moto's STS answers


@pytest.fixture
def cli() -> typer.Typer:
    app = typer.Typer()
    app.command("iam-policy")(iam_policy)

    @app.callback()
    def _root() -> None:
        """Make `iam-policy` a subcommand, as on the real app."""

    return app


@pytest.fixture
def runner(aws_env: str, name_prefix: str, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("PREFECT_FEDERATION_NAME_PREFIX", name_prefix)
    monkeypatch.setenv("COLUMNS", "400")
    return CliRunner()


def resources_of(document: dict[str, Any]) -> set[str]:
    return {r for statement in document["Statement"] for r in statement["Resource"]}


def test_without_account_and_region_the_cli_asks_sts_and_reads_the_region_from_the_environment(
    cli: typer.Typer, runner: CliRunner, name_prefix: str
) -> None:
    result = runner.invoke(
        cli, ["iam-policy", "--domain", "scoring", "-d", str(DEPLOYMENTS), "--kind", "both"]
    )

    assert result.exit_code == 0, result.output
    documents = json.loads(result.stdout)
    assert f"arn:aws:sns:us-east-1:{MOTO_ACCOUNT}:{name_prefix}scoring" in resources_of(
        documents["runtime"]
    )
    assert f"arn:aws:sqs:us-east-1:{MOTO_ACCOUNT}:{name_prefix}scoring-inbox" in resources_of(
        documents["provisioning"]
    )


def test_a_region_given_on_the_command_line_wins_and_the_account_still_comes_from_sts(
    cli: typer.Typer, runner: CliRunner, name_prefix: str
) -> None:
    result = runner.invoke(
        cli,
        ["iam-policy", "--domain", "reporting", "-d", str(DEPLOYMENTS), "--region", "eu-west-1"],
    )

    assert result.exit_code == 0, result.output
    assert resources_of(json.loads(result.stdout)) == {
        f"arn:aws:sqs:eu-west-1:{MOTO_ACCOUNT}:{name_prefix}reporting-inbox",
        f"arn:aws:sqs:eu-west-1:{MOTO_ACCOUNT}:{name_prefix}reporting-inbox-dlq",
        # it publishes reporting.join.expired, and keeps its joins in its own table
        f"arn:aws:sns:eu-west-1:{MOTO_ACCOUNT}:{name_prefix}reporting",
        f"arn:aws:s3:::{name_prefix}event-archive/{name_prefix}reporting/*",
        # what a `pause --mode skip` skipped is recorded under skipped/<domain>/
        f"arn:aws:s3:::{name_prefix}event-archive/skipped/reporting/*",
        f"arn:aws:dynamodb:eu-west-1:{MOTO_ACCOUNT}:table/{name_prefix}reporting-joins",
        "*",  # sns:ListTopics, to find its topic by name
    }


def test_without_a_region_anywhere_the_cli_exits_2_asking_for_one(
    cli: typer.Typer, runner: CliRunner, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for variable in ("AWS_DEFAULT_REGION", "AWS_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))

    result = runner.invoke(
        cli, ["iam-policy", "--domain", "scoring", "-d", str(DEPLOYMENTS), "--account-id", "1" * 12]
    )

    assert result.exit_code == 2
    assert "give --region" in " ".join(result.stderr.split())
    assert result.stdout == ""
