"""The exception tree, and what each branch means for a message.

```
FederationError
├── PermanentError            can never succeed: to the DLQ with the reason, then deleted
│   ├── EnvelopeParseError        body is not JSON / not an object / not an SNS notification
│   ├── EnvelopeValidationError   JSON, but not a valid event envelope (wraps pydantic)
│   ├── UnsubscribedEventError    an event type (or source) this domain does not subscribe to
│   ├── ParameterRenderError      a parameter template cannot render for this event
│   ├── ParameterSchemaError      the deployment's parameter schema rejects the rendered parameters
│   ├── DeploymentNotFound        the subscription names a deployment that does not exist
│   └── EventTooLarge             an event over SNS's 256 KiB: publishing it can never succeed
├── RetryableError            may succeed later: the message is left to come back, with back-off
│   ├── PrefectApiUnavailable     the Prefect API cannot be reached or answered 5xx
│   ├── AwsThrottled              AWS throttled us or was unreachable
│   ├── HeldBack                  FIFO: an earlier message of the same group is being retried
│   ├── Held                      its subscription is paused (hold) or its target is full
│   │                             (backpressure): it waits in the queue, never dead-lettered
│   └── PublishError              an event could not be published after retries
│       └── ReplayError               a replay stopped at an event it could not publish
├── SettleError               acting on an outcome failed (delete, DLQ send, visibility change):
│                             the message is left as it is and comes back after its timeout
├── ArchiveError              the event archive cannot be read (raised before a replay publishes)
└── ConfigError(ValueError)   fail fast at start-up: a bad declaration file, a missing block, a
                              queue without a dead-letter queue
```

The listener decides a message's outcome from this tree in one place
(`prefect_federation.listener.outcome.decide`); `publish_event` retries only `RetryableError`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from prefect_federation.events import EventEnvelope
    from prefect_federation.replay import ReplayReport

__all__ = [
    "ArchiveError",
    "AwsThrottled",
    "ConfigError",
    "DeploymentNotFound",
    "EnvelopeParseError",
    "EnvelopeValidationError",
    "EventTooLarge",
    "FederationError",
    "Held",
    "HeldBack",
    "ParameterRenderError",
    "ParameterSchemaError",
    "PermanentError",
    "PrefectApiUnavailable",
    "PublishError",
    "ReplayError",
    "RetryableError",
    "SettleError",
    "UnsubscribedEventError",
]


class FederationError(Exception):
    """Base of every error this package raises on purpose."""


class PermanentError(FederationError):
    """The message can never be handled: it goes to the dead-letter queue with this reason."""


class EnvelopeParseError(PermanentError):
    """The body is not JSON, not a JSON object, or a malformed SNS notification."""


class EnvelopeValidationError(PermanentError):
    """The body is JSON but not a valid event envelope."""


class UnsubscribedEventError(PermanentError):
    """The event's type or source is not one this domain subscribes to."""


class ParameterRenderError(PermanentError):
    """A parameter template failed to render for this event."""


class ParameterSchemaError(PermanentError):
    """The deployment's parameter schema rejects the rendered parameters."""


class DeploymentNotFound(PermanentError):
    """A subscription names a deployment that does not exist on its Prefect server."""


class EventTooLarge(PermanentError):
    """An event larger than SNS and SQS take (256 KiB with attributes): never retried."""


class RetryableError(FederationError):
    """A transient failure: the message stays in the queue and comes back later."""


class PrefectApiUnavailable(RetryableError):
    """The Prefect API could not be reached, or answered with a server error."""


class AwsThrottled(RetryableError):
    """AWS throttled the call or could not be reached."""


class HeldBack(RetryableError):
    """FIFO: an earlier message of this message's group is being retried; it waits as long."""

    def __init__(self, group_id: str | None, delay_seconds: int) -> None:
        self.group_id = group_id
        self.delay_seconds = delay_seconds
        super().__init__(f"held back: an earlier message of group {group_id!r} is retried")


class Held(RetryableError):
    """The subscription's target cannot take the run now: paused with `hold`, or backpressure
    (concurrency limit reached, no live worker, too many runs waiting). The message waits in the
    queue for `delay_seconds`; waiting never counts towards dead-lettering (see `outcome`)."""

    def __init__(self, kind: str, subscription: str, reason: str, delay_seconds: int) -> None:
        self.kind = kind
        self.subscription = subscription
        self.reason = reason
        self.delay_seconds = delay_seconds
        super().__init__(f"{kind}: {subscription}: {reason}")


class PublishError(RetryableError):
    """An event could not be published (after the publisher's own retries)."""


class ReplayError(PublishError):
    """A replay stopped at an event it could not publish; `report` says how far it got."""

    def __init__(self, report: ReplayReport, envelope: EventEnvelope, cause: Exception) -> None:
        self.report = report
        self.envelope = envelope
        super().__init__(
            f"replay stopped at event {envelope.id} ({envelope.type}, "
            f"{report.published + 1} of {len(report.events)}; {report.published} re-published): "
            f"{cause}. Replaying the same window again is safe: consumers start one run per "
            "event id"
        )


class SettleError(FederationError):
    """Acting on a message's outcome failed (delete, send to the DLQ, change its visibility)."""

    def __init__(self, action: str, cause: BaseException) -> None:
        self.action = action
        self.cause = cause
        super().__init__(f"could not {action}: {type(cause).__name__}: {cause}")


class ArchiveError(FederationError):
    """The archive cannot be read: a missing bucket, no permission, an object that is not an
    event. Raised before a replay publishes anything."""


class ConfigError(FederationError, ValueError):
    """Bad configuration, found at start-up: a declaration file, a block, a setting."""


class ContractViolation(FederationError, ValueError):
    """Event data breaks its declared contract: nothing is published (never retried)."""
