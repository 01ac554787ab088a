"""`save_blocks`: what Prefect's `Block.save(name, overwrite=True)` would leave, per domain, in
fewer API calls: new documents created, existing ones updated in place (same id), each topic and
queue referring to the credentials block saved with them."""

from __future__ import annotations

from uuid import uuid4

import pytest
from prefect_aws import AwsClientParameters, AwsCredentials

from prefect_federation.blocks import SnsTopic, SqsQueue
from prefect_federation.provision import save_blocks
from prefect_federation.provision.report import DomainResources, ProvisionReport

pytestmark = pytest.mark.integration


def report(names: list[str], version: str) -> ProvisionReport:
    return ProvisionReport(
        resources={
            name: DomainResources(
                domain=name,
                topic_arn=f"arn:aws:sns:us-east-1:123456789012:{name}-{version}",
                queue_url=f"http://sqs.local/{name}-inbox-{version}",
                dlq_url=f"http://sqs.local/{name}-dlq-{version}",
                archive_bucket=f"archive-{version}",
            )
            for name in names
        }
    )


def credentials(endpoint: str) -> AwsCredentials:
    return AwsCredentials(
        aws_access_key_id="k",
        aws_secret_access_key="s",
        region_name="us-east-1",
        aws_client_parameters=AwsClientParameters(endpoint_url=endpoint),
    )


def test_blocks_are_created_then_updated_in_place_and_refer_to_their_credentials(
    prefect_api: str,
) -> None:
    names = [f"d{uuid4().hex[:8]}" for _ in range(3)]
    cred_name = f"c{uuid4().hex[:8]}"

    first = save_blocks(report(names, "v1"), credentials("http://one:1"), None, cred_name)
    ids = {
        n: (SnsTopic.load(n)._block_document_id, SqsQueue.load(n)._block_document_id) for n in names
    }
    second = save_blocks(report(names, "v2"), credentials("http://two:2"), names[:2], cred_name)

    assert first[0] == f"aws-credentials/{cred_name}"
    assert sorted(first[1:]) == sorted(
        [f"federation-sns-topic/{n}" for n in names] + [f"federation-sqs-queue/{n}" for n in names]
    )
    assert len(second) == 1 + 4  # only the domains asked for
    for name in names[:2]:
        topic, queue = SnsTopic.load(name), SqsQueue.load(name)
        assert (topic._block_document_id, queue._block_document_id) == ids[name]  # updated
        assert topic.topic_arn.endswith(f"{name}-v2")
        assert topic.archive_bucket == "archive-v2"
        assert queue.queue_url.endswith(f"{name}-inbox-v2")
        assert queue.dead_letter_queue_url is not None
        assert queue.dead_letter_queue_url.endswith(f"{name}-dlq-v2")
        for block in (topic, queue):
            assert block.credentials.aws_client_parameters.endpoint_url == "http://two:2"
            assert block.credentials.aws_secret_access_key is not None
            assert block.credentials.aws_secret_access_key.get_secret_value() == "s"
    untouched = SnsTopic.load(names[2])
    assert untouched.topic_arn.endswith("-v1")
    saved = AwsCredentials.load(cred_name)
    assert saved.aws_client_parameters.endpoint_url == "http://two:2"
