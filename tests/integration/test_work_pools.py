"""`provision` creates each domain's work pool, so `prefect deploy --name '*/<domain>'` works for
a new domain: idempotently, type `process` unless the declaration names another."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from typer.testing import CliRunner

from prefect_federation.cli import app

pytestmark = pytest.mark.integration


def _declarations(tmp_path: Path, domain: str, extra: str = "") -> Path:
    directory = tmp_path / "deployments"
    directory.mkdir(exist_ok=True)
    (directory / "upstream.yaml").write_text(
        "domain: upstream\npublishes:\n  - type: upstream.completed\n"
    )
    (directory / f"{domain}.yaml").write_text(
        f"domain: {domain}\n{extra}"
        "subscribes:\n"
        "  - event: upstream.completed\n"
        f"    deployment: price/{domain}\n"
    )
    return directory


@pytest.fixture
def runner(aws_env: str, name_prefix: str, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("PREFECT_FEDERATION_NAME_PREFIX", name_prefix)
    monkeypatch.setenv("COLUMNS", "400")
    return CliRunner()


def _pool(name: str):  # type: ignore[no-untyped-def]
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        return client.read_work_pool(name)


def test_provision_creates_each_subscribing_domains_process_pool_once(
    prefect_api: str, runner: CliRunner, tmp_path: Path
) -> None:
    from prefect.exceptions import ObjectNotFound

    domain = f"pricing-{uuid.uuid4().hex[:6]}"
    declarations = _declarations(tmp_path, domain)

    first = runner.invoke(app, ["provision", "-d", str(declarations), "--no-archive"])

    assert first.exit_code == 0, first.output
    assert f"created │ work pool │ {domain} (process)" in " ".join(first.stdout.split())
    pool = _pool(domain)
    assert pool.type == "process"
    assert "command" in pool.base_job_template["variables"]["properties"]  # the type's default
    with pytest.raises(ObjectNotFound):
        _pool("upstream")  # publishes only: runs nothing, needs no pool

    second = runner.invoke(app, ["provision", "-d", str(declarations), "--no-archive"])

    assert second.exit_code == 0, second.output
    assert "no changes" in second.stdout
    assert _pool(domain).id == pool.id


def test_provision_creates_the_pool_type_and_name_the_declaration_names(
    prefect_api: str, runner: CliRunner, tmp_path: Path
) -> None:
    domain = f"pricing-{uuid.uuid4().hex[:6]}"
    declarations = _declarations(
        tmp_path, domain, f"work_pool:\n  name: {domain}-ecs\n  type: ecs\n"
    )

    result = runner.invoke(app, ["provision", "-d", str(declarations), "--no-archive"])

    assert result.exit_code == 0, result.output
    assert _pool(f"{domain}-ecs").type == "ecs"


def test_a_pool_of_another_type_is_refused_naming_both_types(
    prefect_api: str, runner: CliRunner, tmp_path: Path
) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate

    domain = f"pricing-{uuid.uuid4().hex[:6]}"
    with get_client(sync_client=True) as client:
        client.create_work_pool(WorkPoolCreate(name=domain, type="ecs"))
    declarations = _declarations(tmp_path, domain)

    result = runner.invoke(app, ["provision", "-d", str(declarations), "--no-archive"])

    assert result.exit_code == 2
    message = " ".join(result.stderr.split())
    assert f"work pool '{domain}' exists with type 'ecs'" in message
    assert "'process'" in message


def test_without_a_prefect_step_no_pool_is_made(runner: CliRunner, tmp_path: Path) -> None:
    """`--no-save-blocks` (AWS only, no Prefect server needed) also skips the pools."""
    declarations = _declarations(tmp_path, "pricing")

    result = runner.invoke(app, ["provision", "-d", str(declarations), "--no-save-blocks"])

    assert result.exit_code == 0, result.output
    assert "work pool" not in result.stdout
