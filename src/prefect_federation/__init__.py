"""prefect-federation: independent Prefect domains that talk only through events on SNS/SQS."""

from prefect_federation.blocks import SnsTopic, SqsQueue
from prefect_federation.declarations import (
    DomainDeclaration,
    Federation,
    Publication,
    Subscription,
    load_federation,
)
from prefect_federation.errors import (
    ConfigError,
    FederationError,
    PermanentError,
    RetryableError,
)
from prefect_federation.events import EventEnvelope
from prefect_federation.listener import Listener, PrefectLauncher, RunRequest
from prefect_federation.publisher import InMemoryPublisher, Publisher, SnsPublisher
from prefect_federation.publishing import build_event, publish_event, publishes, use_publisher
from prefect_federation.settings import FederationSettings, ListenerSettings

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "DomainDeclaration",
    "EventEnvelope",
    "Federation",
    "FederationError",
    "FederationSettings",
    "InMemoryPublisher",
    "Listener",
    "ListenerSettings",
    "PermanentError",
    "PrefectLauncher",
    "Publication",
    "Publisher",
    "RetryableError",
    "RunRequest",
    "SnsPublisher",
    "SnsTopic",
    "SqsQueue",
    "Subscription",
    "build_event",
    "load_federation",
    "publish_event",
    "publishes",
    "use_publisher",
]
