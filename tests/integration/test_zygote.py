"""The demo's listeners forked from one warm parent (`local/zygote.py`): each is the listener the
console script would start (its own session, its own environment and Prefect settings, its log),
and the stack stops it and learns its exit code like any child's."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_listener_process import one_event_one_run_then_sigterm  # tests/integration: on sys.path

from prefect_federation.declarations import load_federation
from prefect_federation.local import LocalFederation, quiet_env
from prefect_federation.local.zygote import ForkedChild
from prefect_federation.provision import provision
from prefect_federation.settings import FederationSettings

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
NOWHERE = "http://127.0.0.1:9/api"  # the zygote's own PREFECT_API_URL: no server there


@pytest.fixture
def federation(tmp_path: Path) -> Iterator[LocalFederation]:
    with LocalFederation(tmp_path / "stack") as federation:
        yield federation


def test_a_forked_listener_uses_its_own_environment_runs_in_its_own_session_and_reports_its_exit(
    aws_env: str,
    sns: Any,
    sqs: Any,
    name_prefix: str,
    prefect_api: str,
    scoring_domain_dir: Path,
    federation: LocalFederation,
) -> None:
    report = provision(
        load_federation(scoring_domain_dir), sns, sqs, FederationSettings(name_prefix=name_prefix)
    )
    zygote = federation.stack.start_zygote(quiet_env({"PREFECT_API_URL": NOWHERE}))
    env = quiet_env(
        {
            "PREFECT_API_URL": prefect_api,
            "PREFECT_FEDERATION_DECLARATIONS": str(scoring_domain_dir),
            "PREFECT_FEDERATION_NAME_PREFIX": name_prefix,
        }
    )
    process = federation.start_listener(
        "scoring",
        env,
        args=["--wait-time", "2"],
        cwd=ROOT,
        term_group=False,
        timeout=120,
        zygote=zygote,
    )

    assert isinstance(process.popen, ForkedChild)
    assert os.getpgid(process.pid) == process.pid  # a session of its own: stopped on its own
    assert os.getppid() != process.pid
    assert process.pid != zygote.pid
    # created on its server, not the zygote's; stopped and reported like any child
    one_event_one_run_then_sigterm(
        process, sns, report.resources["customer-master"].topic_arn, timeout=60
    )
    assert zygote.process.alive()  # one listener's end is not the zygote's


def test_a_forked_listener_that_fails_reports_its_exit_code_and_says_why_in_its_log(
    aws_env: str, scoring_domain_dir: Path, prefect_api: str, federation: LocalFederation
) -> None:
    zygote = federation.stack.start_zygote(quiet_env())
    env = quiet_env({"PREFECT_FEDERATION_DECLARATIONS": str(scoring_domain_dir)})
    process = federation.stack.start(
        "listener-nope", ["listen", "--domain", "nope"], env, cwd=ROOT, zygote=zygote
    )

    assert process.popen.wait(60) == 2
    assert "nope" in process.output()
    assert zygote.ready_seconds is not None
    assert zygote.ready_seconds > 0
