"""Find a domain's topic and queue in AWS by their conventional names (no Prefect server needed)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from prefect_federation.aws import aws_client, credentials_or_environment
from prefect_federation.errors import AwsThrottled, ConfigError
from prefect_federation.naming import queue_name, topic_name
from prefect_federation.publisher import SnsPublisher
from prefect_federation.queue_admin import SqsQueueAdmin

if TYPE_CHECKING:  # not imported at run time: `publish` needs neither (nor YAML nor Jinja)
    from mypy_boto3_sns import SNSClient

    from prefect_federation.declarations import DomainDeclaration
    from prefect_federation.queue import SqsQueueClient
    from prefect_federation.settings import FederationSettings

__all__ = ["find_topic_arn", "open_publisher", "open_queue"]


def find_topic_arn(sns: SNSClient, name: str) -> str | None:
    """The ARN of the topic called `name`, if it exists."""
    return SqsQueueAdmin(sns=sns).topic_arns().get(name)


def open_publisher(
    source: str, settings: FederationSettings, topic_arn: str | None = None
) -> SnsPublisher:
    """A publisher for `source`'s topic (FIFO or standard, whichever exists)."""
    sns = aws_client(credentials_or_environment(settings.aws_credentials_block), "sns")
    if topic_arn is None:
        try:
            topics = SqsQueueAdmin(sns=sns).topic_arns()
        except (BotoCoreError, ClientError) as exc:
            raise AwsThrottled(f"cannot reach SNS to find the topic of {source!r}: {exc}") from exc
        topic_arn = topics.get(topic_name(settings.name_prefix, source, False)) or topics.get(
            topic_name(settings.name_prefix, source, True)
        )
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
        url = SqsQueueAdmin(sqs).queue_url(name)
    except (BotoCoreError, ClientError) as exc:
        raise AwsThrottled(f"cannot reach SQS to find queue {name!r}: {exc}") from exc
    if url is None:
        raise ConfigError(
            f"queue {name!r} of domain {declaration.domain!r} does not exist: run "
            "`prefect-federation provision`"
        )
    return SqsQueueClient(sqs, url)
