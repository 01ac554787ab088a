"""Secrets never appear in logs, events, DLQ reasons or saved settings we print."""

from __future__ import annotations

import logging

import boto3
import pytest
from prefect_aws import AwsClientParameters, AwsCredentials

from prefect_federation.errors import AwsThrottled, PublishError
from prefect_federation.publisher import SnsPublisher
from prefect_federation.queue import ReceivedMessage, SqsQueueClient, dead_letter_attributes
from prefect_federation.testing import make_event

SECRET = "wJalrXUtnFEMI-K7MDENG-bPxRfiCYEXAMPLEKEY"


@pytest.fixture
def unreachable_clients() -> tuple[object, object]:
    session = boto3.Session(
        aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key=SECRET, region_name="us-east-1"
    )
    from botocore.config import Config

    config = Config(retries={"max_attempts": 1}, connect_timeout=0.5)
    return (
        session.client("sns", endpoint_url="http://127.0.0.1:9", config=config),
        session.client("sqs", endpoint_url="http://127.0.0.1:9", config=config),
    )


def test_a_failed_publish_names_the_topic_but_not_the_credentials(
    unreachable_clients: tuple[object, object], caplog: pytest.LogCaptureFixture
) -> None:
    sns, _ = unreachable_clients
    publisher = SnsPublisher(sns, "arn:aws:sns:us-east-1:123456789012:federation-scoring")  # type: ignore[arg-type]

    with caplog.at_level(logging.DEBUG), pytest.raises(PublishError) as info:
        publisher.publish(make_event("scoring.completed"))

    assert "federation-scoring" in str(info.value)
    assert SECRET not in str(info.value)
    assert SECRET not in caplog.text


def test_an_unreachable_queue_error_and_a_dlq_reason_carry_no_credentials(
    unreachable_clients: tuple[object, object],
) -> None:
    _, sqs = unreachable_clients
    queue = SqsQueueClient(sqs, "http://127.0.0.1:9/123456789012/federation-scoring-inbox")  # type: ignore[arg-type]

    with pytest.raises(AwsThrottled) as info:
        queue.receive(1, 0)

    message = ReceivedMessage(message_id="m", receipt_handle="r", body="{}")
    attributes = dead_letter_attributes(message, str(info.value), queue.queue_url)
    assert SECRET not in str(info.value)
    assert SECRET not in str(attributes)


def test_the_credentials_block_never_shows_its_secret() -> None:
    credentials = AwsCredentials(
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key=SECRET,
        aws_client_parameters=AwsClientParameters(endpoint_url="http://127.0.0.1:9"),
    )

    assert SECRET not in repr(credentials)
    assert SECRET not in str(credentials.model_dump(mode="json"))
