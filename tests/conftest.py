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

ROOT = Path(__file__).resolve().parent.parent
EVENTS = Path(__file__).resolve().parent / "events"


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """A moto server (real HTTP) on a free port, for the whole session."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


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
