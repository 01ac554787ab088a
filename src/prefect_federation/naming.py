"""AWS resource names, derived from the domain name and an environment prefix."""

from __future__ import annotations

__all__ = ["dlq_name", "join_table_name", "queue_name", "topic_name"]


def _fifo(name: str, fifo: bool) -> str:
    return f"{name}.fifo" if fifo else name


def topic_name(prefix: str, domain: str, fifo: bool = False) -> str:
    """The SNS topic a domain publishes to: `federation-ingestion`."""
    return _fifo(f"{prefix}{domain}", fifo)


def queue_name(prefix: str, domain: str, fifo: bool = False) -> str:
    """The SQS queue a domain listens on: `federation-scoring-inbox`."""
    return _fifo(f"{prefix}{domain}-inbox", fifo)


def dlq_name(prefix: str, domain: str, fifo: bool = False) -> str:
    """The dead-letter queue of a domain's queue: `federation-scoring-inbox-dlq`."""
    return _fifo(f"{prefix}{domain}-inbox-dlq", fifo)


def join_table_name(prefix: str, domain: str) -> str:
    """The DynamoDB table of a domain's joins and expectations: `federation-reporting-joins`."""
    return f"{prefix}{domain}-joins"
