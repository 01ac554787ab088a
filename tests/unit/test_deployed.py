"""A demo reusing its home deploys again only what changed (`local/deployed.py`)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any
from uuid import uuid4

import pytest
from rich.console import Console

from prefect_federation.local import demo as demo_module
from prefect_federation.local import deployed
from prefect_federation.local.demo import DEMO_CHAIN, Demo
from prefect_federation.local.deployed import DeployRecord, fingerprint, still_deployed


def project(root: Path) -> Path:
    (root / "flows" / "scoring").mkdir(parents=True)
    (root / "deployments").mkdir()
    (root / "prefect.yaml").write_text("deployments: []\n")
    (root / "flows" / "scoring" / "score.py").write_text("def score(day: str): ...\n")
    (root / "deployments" / "scoring.yaml").write_text("domain: scoring\n")
    return root


@pytest.mark.parametrize(
    "change",
    ["prefect.yaml", "flows/scoring/score.py", "deployments/scoring.yaml", "flows/new.py"],
)
def test_the_fingerprint_changes_with_what_deployments_are_made_of(
    change: str, tmp_path: Path
) -> None:
    root = project(tmp_path)
    before = fingerprint(root)
    assert fingerprint(root) == before
    (root / change).write_text("changed\n")

    assert fingerprint(root) != before


class Client:
    def __init__(self, existing: set[Any]) -> None:
        self.existing = existing

    def read_deployments(self, deployment_filter: Any) -> list[Any]:
        return [SimpleNamespace(id=i) for i in deployment_filter.id.any_ if i in self.existing]


def test_still_deployed_only_with_the_same_fingerprint_and_all_of_them_present() -> None:
    ids = {"a": [uuid4()], "b": [uuid4(), uuid4()]}
    record = DeployRecord(fingerprint="f1", deployments=ids)
    every = {i for group in ids.values() for i in group}

    assert still_deployed(record, "f1", ["a", "b"], Client(every))
    assert not still_deployed(record, "f2", ["a", "b"], Client(every))  # something changed
    assert not still_deployed(record, "f1", ["a", "b", "c"], Client(every))  # a new domain
    assert not still_deployed(record, "f1", ["a", "b"], Client(every - {ids["b"][1]}))  # deleted
    assert not still_deployed(None, "f1", ["a"], Client(every))


def test_a_record_that_cannot_be_read_means_deploy(tmp_path: Path) -> None:
    (tmp_path / "main.json").write_text("{not json")

    assert DeployRecord.read(tmp_path / "main.json") is None
    assert DeployRecord.read(tmp_path / "missing.json") is None


@pytest.mark.parametrize("unchanged", [True, False])
def test_a_reused_home_skips_deploying_only_when_nothing_changed(
    unchanged: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    demo = Demo(tmp_path, tmp_path / "home", Console(file=None), "north")
    demo.servers["main"] = "http://127.0.0.1:9/api"  # nothing there: no call may reach it
    demo.embedded.add("main")
    domains = sorted(set(DEMO_CHAIN.values()))
    DeployRecord(fingerprint="f", deployments={d: [uuid4()] for d in domains}).write(
        demo.home / "deployed" / "main.json"
    )
    calls: list[str] = []
    monkeypatch.setattr(deployed, "fingerprint", lambda project: "f")
    monkeypatch.setattr(deployed, "still_deployed", lambda *args: unchanged)
    monkeypatch.setattr(deployed, "deployment_ids", lambda client, pool: [uuid4()])
    monkeypatch.setattr(
        demo_module, "deploy_from_project", lambda p, url, names, log: calls.extend(names)
    )
    started: list[str] = []

    demo.deploy(on_deployed=started.append)

    assert started == domains
    assert calls == ([] if unchanged else [f"*/{d}" for d in domains])
    record = DeployRecord.read(demo.home / "deployed" / "main.json")
    assert record is not None
    assert sorted(record.deployments) == domains
