"""The exception tree, and what each branch means for a message.

```
FederationError
├── PermanentError            can never succeed: to the DLQ with the reason, then deleted
│   ├── EnvelopeParseError        body is not JSON / not an object / not an SNS notification
│   ├── EnvelopeValidationError   JSON, but not a valid event envelope (wraps pydantic)
│   ├── UnsubscribedEventError    an event type (or source) this domain does not subscribe to
│   ├── ParameterRenderError      a parameter template cannot render for this event
│   ├── ParameterSchemaError      the deployment's parameter schema rejects the rendered parameters
│   └── DeploymentNotFound        the subscription names a deployment that does not exist
├── RetryableError            may succeed later: the message is left to come back, with back-off
│   ├── PrefectApiUnavailable     the Prefect API cannot be reached or answered 5xx
│   ├── AwsThrottled              AWS throttled us or was unreachable
│   └── PublishError              an event could not be published after retries
└── ConfigError(ValueError)   fail fast at start-up: a bad declaration file, a missing block
```

The listener decides a message's outcome from this tree in one place
(`prefect_federation.listener.consumer.decide`).
"""

from __future__ import annotations

__all__ = [
    "AwsThrottled",
    "ConfigError",
    "DeploymentNotFound",
    "EnvelopeParseError",
    "EnvelopeValidationError",
    "FederationError",
    "ParameterRenderError",
    "ParameterSchemaError",
    "PermanentError",
    "PrefectApiUnavailable",
    "PublishError",
    "RetryableError",
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


class RetryableError(FederationError):
    """A transient failure: the message stays in the queue and comes back later."""


class PrefectApiUnavailable(RetryableError):
    """The Prefect API could not be reached, or answered with a server error."""


class AwsThrottled(RetryableError):
    """AWS throttled the call or could not be reached."""


class PublishError(RetryableError):
    """An event could not be published (after the publisher's own retries)."""


class ConfigError(FederationError, ValueError):
    """Bad configuration, found at start-up: a declaration file, a block, a setting."""
