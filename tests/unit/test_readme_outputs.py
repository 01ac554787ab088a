"""The README's sample outputs stay true: each is either produced by the code and compared here
(`<!-- output: NAME -->`), or marked abridged for the reader (`<!-- output: abridged -->` and a
visible caption); and every command they show exists with the options they give it."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from .cli_commands import COMMAND, ROOT, CommandLine, prefetch, problems_of

README = ROOT / "README.md"
MARKER = re.compile(r"^<!-- output: ([\w-]+) -->$")
COMPARED = {"check-error", "check-broken-contract"}
"""Samples compared with what the code prints, each by a test below."""


@dataclass(frozen=True)
class Sample:
    """A fenced block that shows a command (`$ ...`) and what it printed."""

    line: int
    marker: str | None
    caption: str
    text: str

    @property
    def commands(self) -> list[str]:
        return [line[2:] for line in self.text.splitlines() if line.startswith("$ ")]


def samples(text: str) -> list[Sample]:
    lines = text.splitlines()
    found: list[Sample] = []
    inside = False
    for index, line in enumerate(lines):
        if not line.startswith("```"):
            continue
        if inside:
            inside = False
            continue
        inside = True
        if line != "```" or not lines[index + 1].startswith("$ "):
            continue
        end = lines.index("```", index + 1)
        before = [x for x in lines[max(0, index - 4) : index] if x.strip()]
        marker = caption = None
        for offset, candidate in enumerate(before):
            if match := MARKER.match(candidate):
                marker = match.group(1)
                caption = " ".join(before[offset + 1 :])
        found.append(Sample(index + 1, marker, caption or "", "\n".join(lines[index + 1 : end])))
    return found


SAMPLES = samples(README.read_text())


def _sample(name: str) -> Sample:
    [sample] = [s for s in SAMPLES if s.marker == name]
    return sample


def test_the_readme_has_samples_and_the_finder_sees_them() -> None:
    assert len(SAMPLES) >= 8
    assert any(s.commands == ["prefect-federation demo"] for s in SAMPLES)


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda s: f"README.md:{s.line}")
def test_a_sample_output_is_compared_with_the_code_or_marked_abridged(sample: Sample) -> None:
    assert sample.marker in {"abridged", *COMPARED}, (
        f"README.md:{sample.line}: put `<!-- output: abridged -->` and a caption saying so before "
        f"the block, or `<!-- output: NAME -->` and a test that compares it ({COMPARED})"
    )
    if sample.marker == "abridged":
        assert "abridged" in sample.caption.lower(), f"README.md:{sample.line}: caption it"


SAMPLE_COMMANDS = sorted({c for s in SAMPLES for c in s.commands if COMMAND.fullmatch(c)})


@pytest.fixture(scope="module")
def _helps_side_by_side() -> None:
    prefetch(CommandLine.parse(command) for command in SAMPLE_COMMANDS)


@pytest.mark.usefixtures("_helps_side_by_side")
@pytest.mark.parametrize("command", SAMPLE_COMMANDS)
def test_a_command_a_sample_shows_exists_with_its_options(command: str) -> None:
    assert problems_of(CommandLine.parse(command)) == []


def assert_prints_the_sample(sample: Sample, cwd: Path, exit_code: int) -> None:
    """Run the sample's one command in `cwd`: it exits `exit_code` and prints the sample."""
    [command] = sample.commands
    done = subprocess.run(
        [str(Path(sys.executable).with_name("prefect-federation")), *command.split()[1:]],
        cwd=cwd,
        env={**os.environ, "COLUMNS": "200", "NO_COLOR": "1"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == exit_code, done.stdout + done.stderr
    printed = sample.text.split("\n", 1)[1]
    assert (done.stdout + done.stderr).strip() == printed.strip()


def test_the_broken_contract_sample_is_what_check_prints(tmp_path: Path) -> None:
    """The sample's mistake: scoring renames `scores_path` in its model; reporting reads it."""
    sample = _sample("check-broken-contract")
    for part in ("deployments", "flows"):
        shutil.copytree(ROOT / part, tmp_path / part, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "prefect.yaml", tmp_path / "prefect.yaml")
    events = tmp_path / "flows" / "scoring" / "events.py"
    events.write_text(events.read_text().replace("    scores_path: str", "    scores_uri: str", 1))
    assert_prints_the_sample(sample, tmp_path, exit_code=2)


def test_the_check_error_sample_is_what_check_prints(tmp_path: Path) -> None:
    """The sample's mistake: scoring's deployment without its `/deployment-name` part."""
    sample = _sample("check-error")
    shutil.copytree(ROOT / "deployments", tmp_path / "deployments")
    scoring = tmp_path / "deployments" / "scoring.yaml"
    good = "deployment: score-customers/scoring"
    assert good in scoring.read_text()
    scoring.write_text(scoring.read_text().replace(good, "deployment: score-customers"))
    assert_prints_the_sample(sample, tmp_path, exit_code=2)


def test_the_demo_sample_shows_the_resources_provision_makes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Its `provisioned N AWS resources` line, from the demo's own words for a fresh provision."""
    import boto3
    from moto import mock_aws

    from prefect_federation.declarations import load_federation
    from prefect_federation.local.demo import describe_provisioning
    from prefect_federation.provision import provision
    from prefect_federation.settings import FederationSettings

    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    [demo] = [s for s in SAMPLES if s.commands == ["prefect-federation demo"]]
    with mock_aws():
        report = provision(
            load_federation(ROOT / "deployments"),
            boto3.client("sns"),
            boto3.client("sqs"),
            FederationSettings(),
            s3=boto3.client("s3"),
            dynamodb=boto3.client("dynamodb"),
        )

    shown = [re.sub(r"^\s*[\d.]+s ", "", line) for line in demo.text.splitlines()]
    assert describe_provisioning(report) in shown


def test_the_demo_sample_names_the_domains_of_its_prefect_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its `Prefect API (main): ... [every domain]` line, as the demo prints it."""
    from rich.console import Console

    from prefect_federation.local.demo import Demo

    [demo_sample] = [s for s in SAMPLES if s.commands == ["prefect-federation demo"]]
    [shown] = [
        re.sub(r"^\s*[\d.]+s ", "", line)
        for line in demo_sample.text.splitlines()
        if "Prefect API (main)" in line
    ]
    api = re.search(r"http://\S+/api", shown)
    assert api
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    console = Console(record=True, width=300)
    demo = Demo(ROOT, tmp_path, console, "north")
    monkeypatch.setattr(demo.stack, "start_prefect_server", lambda home, **_: (None, api.group(0)))

    demo.start_prefect()

    printed = [re.sub(r"^\s*[\d.]+s ", "", line) for line in console.export_text().splitlines()]
    assert shown in printed
