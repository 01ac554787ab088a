"""The README's boto3 publishing snippet, run as written against moto server and the example's
provisioned queues: with its `type` attribute the event arrives; without it SNS drops it silently,
which is why the README says the attribute is required."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from prefect_federation.declarations import load_federation
from prefect_federation.provision import provision
from prefect_federation.settings import FederationSettings

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
MARKER = "<!-- test: publish-with-boto3 -->"


def snippet() -> str:
    readme = (ROOT / "README.md").read_text()
    after = readme[readme.index(MARKER) :]
    match = re.search(r"```python\n(.*?)^```", after, re.S | re.M)
    assert match, "no python block after the marker"
    return match.group(1)


@pytest.fixture
def example(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, str]]:
    """The example's declarations provisioned with the default prefix on a moto server of its
    own (its default account and region, as the snippet's ARN assumes)."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    for name, value in {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    try:
        sns, sqs = boto3.client("sns"), boto3.client("sqs")
        settings = FederationSettings(name_prefix="federation-")
        report = provision(
            load_federation(ROOT / "deployments"),
            sns,
            sqs,
            settings,
            dynamodb=boto3.client("dynamodb"),
        )
        queue_url = report.resources["ingestion"].queue_url
        assert queue_url
        yield sqs, queue_url
    finally:
        server.stop()


def _received(sqs: Any, queue_url: str) -> list[dict[str, Any]]:
    return sqs.receive_message(
        QueueUrl=queue_url, WaitTimeSeconds=2, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
    ).get("Messages", [])


def test_the_readme_boto3_snippet_publishes_an_event_the_subscriber_receives(
    example: tuple[Any, str],
) -> None:
    sqs, queue_url = example
    namespace: dict[str, Any] = {}

    exec(compile(snippet(), "README.md:publish-with-boto3", "exec"), namespace)

    [message] = _received(sqs, queue_url)
    assert json.loads(message["Body"]) == namespace["event"]
    assert message["MessageAttributes"]["type"]["StringValue"] == "vendor.file-delivered"


def test_without_the_type_attribute_sns_drops_the_snippets_event_in_silence(
    example: tuple[Any, str],
) -> None:
    sqs, queue_url = example
    untyped = re.sub(r'\n\s*"type": \{[^}]*\},', "", snippet())
    assert '"type": {' not in untyped

    exec(compile(untyped, "README.md:publish-with-boto3 (no type)", "exec"), {})

    assert _received(sqs, queue_url) == []
