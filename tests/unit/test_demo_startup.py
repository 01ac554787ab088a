"""The demo's start-up order: each domain's listener is started as soon as that domain is
deployed (and the blocks it loads are saved), while the next domain deploys."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from uuid import NAMESPACE_URL, uuid5

import pytest
from rich.console import Console

from prefect_federation.local import demo as demo_module
from prefect_federation.local import deployed
from prefect_federation.local.demo import DEMO_CHAIN, Demo, DemoFailed


@pytest.fixture
def demo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Demo:
    demo = Demo(tmp_path, tmp_path / "home", Console(file=None), "north")
    demo.servers["main"] = "http://127.0.0.1:9/api"  # nothing there: no call may reach it
    monkeypatch.setattr(
        deployed, "deployment_ids", lambda client, pool: [uuid5(NAMESPACE_URL, pool)]
    )
    return demo


def test_each_domain_is_deployed_on_its_own_and_announced_before_the_next(
    demo: Demo, monkeypatch: pytest.MonkeyPatch
) -> None:
    steps: list[str] = []

    def deploy(project: Path, api_url: str, names: list[str], log: Path) -> None:
        steps.append(f"deploy {' '.join(names)}")

    monkeypatch.setattr(demo_module, "deploy_from_project", deploy)

    demo.deploy(on_deployed=lambda domain: steps.append(f"listener {domain}"))

    domains = sorted(set(DEMO_CHAIN.values()))
    assert steps == [s for d in domains for s in (f"deploy */{d}", f"listener {d}")]


def test_a_failed_deploy_names_the_domain_and_starts_no_listener_for_it(
    demo: Demo, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[str] = []

    def deploy(project: Path, api_url: str, names: list[str], log: Path) -> Any:
        if names == ["*/ingestion"]:
            raise RuntimeError("entrypoint not found")

    monkeypatch.setattr(demo_module, "deploy_from_project", deploy)

    with pytest.raises(DemoFailed, match=r"--name \*/ingestion` failed: entrypoint not found"):
        demo.deploy(on_deployed=started.append)
    assert started == ["customer-master"]
