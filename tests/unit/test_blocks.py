"""Prefect's standard block suite over our blocks (descriptions, docs URL, logo, schema)."""

from __future__ import annotations

import pytest
from prefect.blocks.core import Block
from prefect.testing.standard_test_suites import BlockStandardTestSuite

from prefect_federation.blocks import SnsTopic, SqsQueue, _SchemaOnce


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


@pytest.mark.parametrize("cls", [SnsTopic, SqsQueue])
def test_a_blocks_schema_is_generated_once_and_is_what_prefect_generates(
    cls: type[Block], monkeypatch: pytest.MonkeyPatch
) -> None:
    prefects = super(_SchemaOnce, cls).model_json_schema()  # type: ignore[misc]
    generate = Block.__dict__["model_json_schema"].__func__
    generated: list[type[Block]] = []

    def counting(c: type[Block], *args: object, **kwargs: object) -> object:
        if c is cls:  # (its nested AwsCredentials is generated along with it)
            generated.append(c)
        return generate(c, *args, **kwargs)

    monkeypatch.setattr(Block, "model_json_schema", classmethod(counting))
    monkeypatch.setattr("prefect_federation.blocks._schemas", {})

    first = cls.model_json_schema()
    first["properties"] = "changed by a caller"  # the caller's copy, not the cached one
    again = cls.model_json_schema()

    assert generated == [cls]
    assert again == prefects
    assert list(cls.model_json_schema(by_alias=False)["properties"]) == list(prefects["properties"])
    assert generated == [cls, cls]  # other arguments: a schema of their own


def test_saving_a_topic_block_generates_its_schema_once() -> None:
    """`Block._to_block_document` (what `save` sends) asked for the schema once per field."""
    from prefect_aws import AwsCredentials

    topic = SnsTopic(
        credentials=AwsCredentials(aws_access_key_id="a", aws_secret_access_key="b"),
        topic_arn="arn:aws:sns:us-east-1:123456789012:federation-scoring",
    )
    from uuid import uuid4

    document = topic._to_block_document(
        name="scoring", block_schema_id=uuid4(), block_type_id=uuid4(), include_secrets=True
    )

    assert document.data["topic_arn"] == topic.topic_arn
    assert document.data["credentials"]["aws_secret_access_key"] == "b"
