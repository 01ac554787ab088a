"""Helpers for the moto-server integration tests: declarations built in code, provisioning,
queue depths. Every test gets its own `name_prefix`, so tests sharing one moto server never
collide."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from prefect_federation.declarations import DomainDeclaration, Federation, build_federation
from prefect_federation.provision import ProvisionReport, provision
from prefect_federation.queue_admin import SqsQueueAdmin
from prefect_federation.settings import FederationSettings

MAX_RECEIVE_COUNT = 7  # not the default (5), so a test can tell the setting was used
VISIBILITY_TIMEOUT = 45  # not the default (60)

Federate = Callable[..., Federation]
Provision = Callable[..., tuple[Federation, ProvisionReport]]
Depth = Callable[[str], tuple[int, int]]


def federation_of(*domains: dict[str, Any]) -> Federation:
    """A Federation from declaration dicts, as if each came from its own YAML file."""
    return build_federation(
        (f"<test:{d['domain']}>", DomainDeclaration.model_validate(d)) for d in domains
    )


@pytest.fixture
def federation_settings(name_prefix: str) -> FederationSettings:
    return FederationSettings(
        name_prefix=name_prefix,
        max_receive_count=MAX_RECEIVE_COUNT,
        visibility_timeout=VISIBILITY_TIMEOUT,
    )


@pytest.fixture
def federate() -> Federate:
    return federation_of


@pytest.fixture
def provisioned(sns: Any, sqs: Any, federation_settings: FederationSettings) -> Provision:
    """Build a federation from declaration dicts and provision it on moto."""

    def run(*domains: dict[str, Any]) -> tuple[Federation, ProvisionReport]:
        federation = federation_of(*domains)
        return federation, provision(federation, sns, sqs, federation_settings)

    return run


@pytest.fixture
def depth(sqs: Any) -> Depth:
    """(visible, in flight) messages of a queue, without a long poll."""

    admin = SqsQueueAdmin(sqs)

    def run(queue_url: str) -> tuple[int, int]:
        counts = admin.counts(queue_url)
        return counts.visible, counts.in_flight

    return run


def score(snapshot_date: str) -> None:
    """The parameter schema of the scoring test deployment (`scoring_domain_dir`)."""


def write_scoring_declarations(
    directory: Path, deployment: str, parameters: dict[str, str]
) -> Path:
    """customer-master publishes `customer-master.completed`; scoring runs `deployment` with
    `parameters` (templates) for it. One YAML file each in `directory`."""
    directory.mkdir(exist_ok=True)
    (directory / "cm.yaml").write_text(
        yaml.safe_dump(
            {"domain": "customer-master", "publishes": [{"type": "customer-master.completed"}]}
        )
    )
    subscription = {
        "event": "customer-master.completed",
        "deployment": deployment,
        "parameters": parameters,
    }
    (directory / "scoring.yaml").write_text(
        yaml.safe_dump({"domain": "scoring", "subscribes": [subscription]})
    )
    return directory


@pytest.fixture
def scoring_declarations() -> Callable[[Path, str, dict[str, str]], Path]:
    """`write_scoring_declarations`, for a test module's own fixtures."""
    return write_scoring_declarations


@pytest.fixture
def scoring_domain_dir(
    tmp_path: Path, make_deployment: Any, request: pytest.FixtureRequest
) -> Path:
    """`write_scoring_declarations` for a deployment of the test module's own flow
    (`score-<module suffix>`) taking the event's `snapshot_date` (listener process tests)."""
    flow = "score-" + request.module.__name__.rsplit("_", 1)[-1]
    deployment = make_deployment(score, flow, "scoring")
    return write_scoring_declarations(
        tmp_path, deployment, {"snapshot_date": "{{ event.data.snapshot_date }}"}
    )
