"""Prefect's standard block suite over our blocks (descriptions, docs URL, logo, schema)."""

from __future__ import annotations

import pytest
from prefect.blocks.core import Block
from prefect.testing.standard_test_suites import BlockStandardTestSuite

from prefect_federation.blocks import SnsTopic, SqsQueue


class TestSnsTopicBlock(BlockStandardTestSuite):
    @pytest.fixture
    def block(self) -> type[Block]:
        return SnsTopic


class TestSqsQueueBlock(BlockStandardTestSuite):
    @pytest.fixture
    def block(self) -> type[Block]:
        return SqsQueue


@pytest.fixture(autouse=True)
def _region(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")


def test_a_topic_block_builds_a_publisher_for_its_topic() -> None:
    topic = SnsTopic(topic_arn="arn:aws:sns:us-east-1:123456789012:federation-scoring.fifo")

    publisher = topic.publisher()

    assert publisher.topic_arn == topic.topic_arn
    assert publisher.fifo is True


def test_a_queue_block_builds_a_queue_client_for_its_queue() -> None:
    queue = SqsQueue(queue_url="http://127.0.0.1:1/123456789012/federation-scoring-inbox")

    client = queue.queue_client()

    assert client.queue_url == queue.queue_url
    assert client.fifo is False


def test_block_type_slugs_are_stable() -> None:
    assert SnsTopic.get_block_type_slug() == "federation-sns-topic"
    assert SqsQueue.get_block_type_slug() == "federation-sqs-queue"
    assert issubclass(SnsTopic, Block)
