"""The policies `provision` writes (queue access, SNS filter), and comparing them with AWS."""

from __future__ import annotations

import json
from typing import Any

__all__ = ["filter_policy", "queue_policy", "same_attribute", "same_json"]


def queue_policy(queue_arn: str, topic_arns: list[str]) -> dict[str, Any]:
    """Only the listed topics may send to the queue."""
    return {
        "Version": "2012-10-17",
        "Id": f"{queue_arn}/federation-policy",
        "Statement": [
            {
                "Sid": "AllowSubscribedTopicsOnly",
                "Effect": "Allow",
                "Principal": {"Service": "sns.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": queue_arn,
                "Condition": {"ArnEquals": {"aws:SourceArn": sorted(topic_arns)}},
            }
        ],
    }


def filter_policy(event_types: list[str], accept_untyped: bool = False) -> dict[str, Any]:
    """SNS filter policy: deliver only these event types.

    Args:
        accept_untyped: also deliver messages without a `type` attribute (plain JSON from a
            producer such as Airflow's SnsPublishOperator, for an `adapter: raw` subscription).
    """
    typed = {"type": sorted(event_types)}
    if not accept_untyped:
        return typed
    return {"$or": [typed, {"type": [{"exists": False}]}]}


def same_json(current: str | None, wanted: str) -> bool:
    if not current:
        return False
    try:
        return bool(json.loads(current) == json.loads(wanted))
    except ValueError:
        return False


def same_attribute(current: str | None, wanted: str) -> bool:
    if current == wanted:
        return True
    return wanted.startswith("{") and same_json(current, wanted)
