"""Helpers for the moto-server integration tests: declarations built in code, provisioning,
queue depths. Every test gets its own `name_prefix`, so tests sharing one moto server never
collide."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

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
