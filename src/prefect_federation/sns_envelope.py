"""An SNS notification as SQS holds it when raw delivery is off (Powertools' `SnsSqsEnvelope`).

Pure: the listener's `parse_message` and the DLQ's reader both unwrap through here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from prefect_federation.errors import EnvelopeParseError

__all__ = ["is_sns_notification", "unwrap_sns"]


def is_sns_notification(document: Mapping[str, Any]) -> bool:
    """True when a JSON body is an SNS notification document (not our envelope)."""
    return document.get("Type") == "Notification" and "TopicArn" in document


def unwrap_sns(
    document: Mapping[str, Any], attributes: dict[str, str]
) -> tuple[str, dict[str, str]]:
    """An SNS notification -> (its inner message, `attributes` plus the notification's own).

    The SQS message attributes given win over the notification's of the same name.

    Raises:
        EnvelopeParseError: no string `Message`, or `MessageAttributes` is not an object.
    """
    message = document.get("Message")
    if not isinstance(message, str):
        raise EnvelopeParseError("SNS notification has no string `Message` field")
    raw_attributes = document.get("MessageAttributes") or {}
    if not isinstance(raw_attributes, dict):
        raise EnvelopeParseError("SNS notification's `MessageAttributes` is not an object")
    for name, attribute in raw_attributes.items():
        if isinstance(attribute, dict) and isinstance(attribute.get("Value"), str):
            attributes.setdefault(name, attribute["Value"])
    return message, attributes
