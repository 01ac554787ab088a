"""Blocks for what `provision` made: an `SnsTopic` and an `SqsQueue` per domain."""

from __future__ import annotations

from typing import Any

from prefect_federation.provision.report import ProvisionReport

__all__ = ["save_blocks"]


def save_blocks(
    report: ProvisionReport,
    credentials: Any,
    domains: list[str] | None = None,
    credentials_name: str | None = None,
) -> list[str]:
    """Save an `SnsTopic` and an `SqsQueue` block per domain (named after it) on the current
    Prefect server; returns their slugs.

    Args:
        domains: only these domains (default: all in the report).
        credentials_name: first save a copy of `credentials` under this name on this server, so
            the blocks refer to a credentials block that exists here (one server per domain).
    """
    from prefect_federation.blocks import SnsTopic, SqsQueue

    saved = []
    if credentials_name:
        credentials = type(credentials).model_validate(credentials.model_dump())
        credentials.save(credentials_name, overwrite=True)
        credentials = type(credentials).load(credentials_name)
        saved.append(f"aws-credentials/{credentials_name}")
    for domain, resources in sorted(report.resources.items()):
        if domains is not None and domain not in domains:
            continue
        if resources.topic_arn:
            SnsTopic(
                credentials=credentials,
                topic_arn=resources.topic_arn,
                archive_bucket=resources.archive_bucket,
            ).save(domain, overwrite=True)
            saved.append(f"federation-sns-topic/{domain}")
        if resources.queue_url:
            SqsQueue(
                credentials=credentials,
                queue_url=resources.queue_url,
                dead_letter_queue_url=resources.dlq_url,
            ).save(domain, overwrite=True)
            saved.append(f"federation-sqs-queue/{domain}")
    return saved
