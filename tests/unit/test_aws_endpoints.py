"""The lean endpoint resolver answers as botocore's own, with a fraction of its data."""

from __future__ import annotations

import os
from typing import Any

import boto3
import pytest
from botocore.loaders import create_loader
from botocore.regions import EndpointResolver

from prefect_federation import aws, aws_endpoints
from prefect_federation.aws_endpoints import SERVICES, LeanEndpointResolver, shared_resolver


@pytest.fixture
def full() -> EndpointResolver:
    """botocore's own, fresh for each test: resolving merges defaults into its data."""
    return EndpointResolver(create_loader().load_data_with_path("endpoints")[0], True)


def _answer(call: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return ("ok", call(*args, **kwargs))
    except Exception as exc:  # the same error is the same answer
        return ("error", type(exc).__name__)


def _questions(resolver: EndpointResolver, service: str, regions: list[str]) -> list[Any]:
    answers = [resolver.get_available_partitions()]
    for partition in resolver.get_available_partitions():
        answers.append(resolver.get_service_endpoints_data(service, partition))
        answers.append(resolver.get_partition_dns_suffix(partition))
        for tags in (None, ["fips"], ["dualstack"]):
            available = resolver.get_available_endpoints
            answers.append(_answer(available, service, partition, True, tags))
    for region in [*regions, "no-such-region-1", None]:
        for fips, dual in ((False, False), (True, False), (False, True), (True, True)):
            construct = resolver.construct_endpoint
            answers.append(
                _answer(
                    construct, service, region, use_fips_endpoint=fips, use_dualstack_endpoint=dual
                )
            )
        answers.append(_answer(resolver.construct_endpoint, service, region, "aws-cn"))
        if region:
            answers.append(_answer(resolver.get_partition_for_region, region))
    return answers


def _regions(full: EndpointResolver) -> list[str]:
    data = full._endpoint_data  # every region of every partition
    return sorted({r for p in data["partitions"] for r in p["regions"]})


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_it_answers_as_botocore_for_the_services_it_keeps(
    service: str, full: EndpointResolver
) -> None:
    lean = LeanEndpointResolver()

    assert _questions(lean, service, _regions(full)) == _questions(full, service, _regions(full))
    assert not lean.widened


def test_it_keeps_only_those_services() -> None:
    lean = LeanEndpointResolver()

    kept = {s for p in lean._endpoint_data["partitions"] for s in p["services"]}
    assert kept == SERVICES


@pytest.mark.parametrize("service", ["lambda", "ec2", "not-a-service"])
def test_another_service_widens_it_to_the_whole_file(service: str, full: EndpointResolver) -> None:
    lean = LeanEndpointResolver()

    assert _questions(lean, service, _regions(full)) == _questions(full, service, _regions(full))
    assert lean.widened
    assert _questions(lean, "sqs", ["eu-west-1"]) == _questions(full, "sqs", ["eu-west-1"])


def test_clients_share_it_and_no_cache_keeps_the_whole_file(monkeypatch: Any) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "y")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_DATA_PATH", raising=False)
    monkeypatch.setattr(aws_endpoints, "_resolver", None)  # this process's, made anew

    sqs = aws.aws_client(None, "sqs")
    cloudwatch = aws.aws_client(None, "cloudwatch")  # endpoint prefix `monitoring`
    assert not shared_resolver().widened
    lam = aws.aws_client(None, "lambda")  # outside SERVICES: a widened resolver, same answer

    assert sqs.meta.endpoint_url == "https://sqs.eu-west-1.amazonaws.com"
    assert cloudwatch.meta.endpoint_url == "https://monitoring.eu-west-1.amazonaws.com"
    assert lam.meta.endpoint_url == "https://lambda.eu-west-1.amazonaws.com"
    cache = aws._loader.load_service_model.__self__._cache  # botocore's instance_cache
    assert not [key for key in cache if "endpoints" in key]
    plain = boto3.session.Session()._session  # botocore's own session: the same resolver class
    assert type(plain._get_internal_component("endpoint_resolver")) is EndpointResolver
    assert shared_resolver() is shared_resolver()
    assert os.environ["AWS_DEFAULT_REGION"] == "eu-west-1"
