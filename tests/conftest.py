"""Shared fixtures: moto in server mode (real HTTP on a free port), AWS clients, declarations."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
# Most tests' deployments live in a pool without a worker, their runs meant to stay scheduled:
# backpressure would hold them. The backpressure tests turn it on for their listeners.
os.environ.setdefault("PREFECT_FEDERATION_LISTENER_BACKPRESSURE", "false")
# pytest-xdist's workers start with COLUMNS=80 and LINES=24 set: rich then fixes the CLI's console
# size when it is first imported, and a test's own COLUMNS (wide tables) would not count.
for _name in ("COLUMNS", "LINES"):
    os.environ.pop(_name, None)

ROOT = Path(__file__).resolve().parent.parent
EVENTS = Path(__file__).resolve().parent / "events"


@pytest.fixture(scope="session")
def moto_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A moto server (real HTTP, in a thread) on a free port, for the whole session."""
    from prefect_federation.local import LocalFederation

    with LocalFederation(tmp_path_factory.mktemp("moto"), moto="thread") as federation:
        yield federation.start_aws()


@pytest.fixture
def aws_env(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Point boto3 (and AwsCredentials() from the environment) at the moto server."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    return moto_endpoint


@pytest.fixture
def name_prefix(request: pytest.FixtureRequest) -> str:
    """A resource-name prefix unique to the test, so tests sharing one moto server never collide."""
    import hashlib

    return "t" + hashlib.sha1(request.node.nodeid.encode()).hexdigest()[:10] + "-"


@pytest.fixture
def sns(aws_env: str) -> Any:
    return boto3.client("sns", region_name="us-east-1", endpoint_url=aws_env)


@pytest.fixture
def sqs(aws_env: str) -> Any:
    return boto3.client("sqs", region_name="us-east-1", endpoint_url=aws_env)


@pytest.fixture(scope="session")
def prefect_api() -> Iterator[str]:
    """A Prefect server for the session (Prefect's own test harness: a real server process on a
    temporary SQLite database)."""
    from prefect.settings import PREFECT_API_URL
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield str(PREFECT_API_URL.value())


@pytest.fixture(scope="session")
def work_pool(prefect_api: str) -> str:
    """A process work pool for test deployments (no worker: runs stay scheduled)."""
    from contextlib import suppress

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectAlreadyExists

    with get_client(sync_client=True) as client, suppress(ObjectAlreadyExists):
        client.create_work_pool(WorkPoolCreate(name="tests", type="process"))
    return "tests"


@pytest.fixture(scope="session")
def make_deployment(prefect_api: str, work_pool: str) -> Any:
    """Register a deployment of a Python function's signature: returns `flow/deployment`."""
    from prefect_federation.local import register_deployments

    def make(fn: Any, flow_name: str, name: str = "test", enforce: bool = True) -> str:
        register_deployments(
            prefect_api, fn, [f"{flow_name}/{name}"], work_pool=work_pool, enforce=enforce
        )
        return f"{flow_name}/{name}"

    return make
