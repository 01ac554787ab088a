"""`check` on the worked example, a contract broken on purpose (both teams named), `check
--against` an export and a git ref, and `contracts export`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .cli_commands import ROOT

CLI = str(Path(sys.executable).with_name("prefect-federation"))
EVENTS = Path("flows/scoring/events.py")


def run(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The console script in its own process (its own imports of the project's models)."""
    return subprocess.run(
        [CLI, *args],
        cwd=project,
        env={**os.environ, "COLUMNS": "300", "NO_COLOR": "1"},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the worked example: declarations, flows and prefect.yaml."""
    copy = tmp_path / "project"
    copy.mkdir()
    for part in ("deployments", "flows"):
        shutil.copytree(ROOT / part, copy / part, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "prefect.yaml", copy / "prefect.yaml")
    return copy


def rename_scores_path(project: Path) -> None:
    events = project / EVENTS
    assert "    scores_path: str\n" in events.read_text()
    events.write_text(events.read_text().replace("    scores_path: str\n", "    scores_uri: str\n"))


def test_the_worked_example_passes_check_with_no_problem() -> None:
    done = run(ROOT, "check", "--json")

    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["ok"] is True
    assert report["problems"] == []


def test_a_contract_broken_on_purpose_fails_check_naming_both_teams(project: Path) -> None:
    rename_scores_path(project)

    done = run(project, "check", "-d", "deployments")

    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "error: reporting subscribes[0] (join scoring.completed + customer-master.completed -> "
        "write-risk-report/reporting daily-report): parameters.scores_path: reads "
        "`event.data.scores_path`, "
        "but scoring.completed v1 (producer scoring) has no `data.scores_path`; "
        "did you mean `scores_uri`?"
    ]
    report = json.loads(run(project, "check", "--json").stdout)
    [problem] = report["problems"]
    assert (problem["producer"], problem["consumer"], problem["rule"]) == (
        "scoring",
        "reporting",
        "unknown-field",
    )


def test_contracts_export_writes_one_schema_a_type_and_version_and_an_index(
    project: Path,
) -> None:
    done = run(project, "contracts", "export", "-o", "exported")

    assert done.returncode == 0, done.stderr
    files = sorted(p.name for p in (project / "exported").iterdir())
    assert files == [
        "customer-master.completed.v1.schema.json",
        "index.json",
        "ingestion.completed.v1.schema.json",
        "notifications.sla.missed.v1.schema.json",
        "notifications.sla.recovered.v1.schema.json",
        "reporting.join.expired.v1.schema.json",
        "scoring.completed.v1.schema.json",
        "scoring.scores-written.v1.schema.json",
        "vendor.file-delivered.v1.schema.json",
    ]
    schema = json.loads((project / "exported" / "scoring.completed.v1.schema.json").read_text())
    assert schema["$id"] == "urn:prefect-federation:scoring.completed:v1"
    assert schema["properties"]["high_risk"]["type"] == "integer"
    assert "threshold" in schema["required"]


BREAKING = (
    "error: scoring.completed v1 -> v1 removes `scores_path`, read "
    "by reporting (write-risk-report/reporting, parameter scores_path): a breaking change "
    "needs a new major version (`version: 2` in scoring's `publishes`), and its consumers a "
    "change"
)


def remove_scores_path(project: Path) -> None:
    """scoring drops `scores_path` from `scoring.completed` (not from `scores-written`)."""
    events = project / EVENTS
    events.write_text(events.read_text().replace("    scores_path: str\n", "", 1))


def test_check_against_an_export_fails_a_breaking_change_without_a_new_major_version(
    project: Path,
) -> None:
    assert run(project, "contracts", "export", "-o", "last").returncode == 0
    remove_scores_path(project)

    done = run(project, "check", "--against", "last")

    assert done.returncode == 2, done.stderr
    assert BREAKING in done.stderr.splitlines()


def test_check_against_a_git_ref_passes_a_compatible_change_and_a_new_major_version(
    project: Path,
) -> None:
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false"]
    subprocess.run([*git, "init", "-q"], cwd=project, check=True)
    subprocess.run([*git, "add", "-A"], cwd=project, check=True)
    subprocess.run([*git, "commit", "-qm", "v1"], cwd=project, check=True)
    events = project / EVENTS
    events.write_text(
        events.read_text().replace(
            "    model_version: str\n", "    model_version: str\n    run_seconds: float\n"
        )
    )

    compatible = run(project, "check", "--against", "HEAD")
    assert compatible.returncode == 0, compatible.stderr
    assert "scoring.completed v1 -> v1 adds `run_seconds`: compatible" in compatible.stderr

    remove_scores_path(project)
    breaking = run(project, "check", "--against", "HEAD")
    assert breaking.returncode == 2
    assert BREAKING in breaking.stderr.splitlines()

    scoring = project / "deployments" / "scoring.yaml"  # v2: allowed, but reporting must move
    scoring.write_text(
        scoring.read_text().replace(
            "ScoringCompleted\n    version: 1", "ScoringCompleted\n    version: 2"
        )
    )
    bumped = run(project, "check", "--against", "HEAD")
    assert bumped.returncode == 2
    assert (
        "scoring.completed v1 -> v2 removes `scores_path`, read by reporting "
        "(write-risk-report/reporting, parameter scores_path): breaking, in a new major version"
    ) in bumped.stderr.splitlines()
    assert "but scoring.completed v2 (producer scoring) has no `data.scores_path`" in bumped.stderr

    reporting = project / "deployments" / "reporting.yaml"
    reporting.write_text(
        reporting.read_text().replace(
            "events['scoring.completed'].data.scores_path",
            "events['scoring.completed'].data.batch_id",
        )
    )
    assert run(project, "check", "--against", "HEAD").returncode == 0
