"""Find a domain's topic and queue in AWS by their conventional names (no Prefect server needed)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from prefect_federation.aws import aws_client, credentials_or_environment
from prefect_federation.errors import AwsThrottled, ConfigError
from prefect_federation.naming import queue_name, topic_name
from prefect_federation.publisher import SnsPublisher

if TYPE_CHECKING:  # not imported at run time: `publish` needs neither (nor YAML nor Jinja)
    from prefect_federation.declarations import DomainDeclaration
    from prefect_federation.queue import SqsQueueClient
    from prefect_federation.settings import FederationSettings

__all__ = ["find_topic_arn", "open_publisher", "open_queue"]


def find_topic_arn(sns: Any, name: str) -> str | None:
    """The ARN of the topic called `name`, if it exists."""
    for page in sns.get_paginator("list_topics").paginate():
        for topic in page.get("Topics", []):
            if topic["TopicArn"].rsplit(":", 1)[-1] == name:
                return str(topic["TopicArn"])
    return None


def open_publisher(
    source: str, settings: FederationSettings, topic_arn: str | None = None
) -> SnsPublisher:
    """A publisher for `source`'s topic (FIFO or standard, whichever exists)."""
    sns = aws_client(credentials_or_environment(settings.aws_credentials_block), "sns")
    if topic_arn is None:
        try:
            for fifo in (False, True):
                topic_arn = find_topic_arn(sns, topic_name(settings.name_prefix, source, fifo))
                if topic_arn:
                    break
        except (BotoCoreError, ClientError) as exc:
            raise AwsThrottled(f"cannot reach SNS to find the topic of {source!r}: {exc}") from exc
    if topic_arn is None:
        raise ConfigError(
            f"no topic for domain {source!r} (looked for "
            f"{topic_name(settings.name_prefix, source)!r}): run `prefect-federation provision`"
        )
    return SnsPublisher(sns, topic_arn)


def open_queue(declaration: DomainDeclaration, settings: FederationSettings) -> SqsQueueClient:
    """The queue client for a domain's listener."""
    from prefect_federation.queue import SqsQueueClient

    sqs = aws_client(credentials_or_environment(settings.aws_credentials_block), "sqs")
    name = queue_name(settings.name_prefix, declaration.domain, declaration.fifo)
    try:
        url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
    except sqs.exceptions.QueueDoesNotExist:
        raise ConfigError(
            f"queue {name!r} of domain {declaration.domain!r} does not exist: run "
            "`prefect-federation provision`"
        ) from None
    except (BotoCoreError, ClientError) as exc:
        raise AwsThrottled(f"cannot reach SQS to find queue {name!r}: {exc}") from exc
    return SqsQueueClient(sqs, url)
