"""prefect-federation: independent Prefect domains that talk only through events on SNS/SQS.

Names are imported lazily, so `prefect-federation publish` or `check` do not pay for importing
Prefect (about 2 s) when they do not need it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "ConfigError": "prefect_federation.errors",
    "DomainDeclaration": "prefect_federation.declarations",
    "EventEnvelope": "prefect_federation.events",
    "Federation": "prefect_federation.declarations",
    "FederationError": "prefect_federation.errors",
    "FederationSettings": "prefect_federation.settings",
    "InMemoryPublisher": "prefect_federation.publisher",
    "Listener": "prefect_federation.listener.consumer",
    "ListenerSettings": "prefect_federation.settings",
    "PermanentError": "prefect_federation.errors",
    "PrefectLauncher": "prefect_federation.listener.launcher",
    "Publication": "prefect_federation.declarations",
    "Publisher": "prefect_federation.publisher",
    "RetryableError": "prefect_federation.errors",
    "RunRequest": "prefect_federation.listener.pipeline",
    "SnsPublisher": "prefect_federation.publisher",
    "SnsTopic": "prefect_federation.blocks",
    "SqsQueue": "prefect_federation.blocks",
    "Subscription": "prefect_federation.declarations",
    "build_event": "prefect_federation.publishing",
    "load_federation": "prefect_federation.declarations",
    "publish_event": "prefect_federation.publishing",
    "publishes": "prefect_federation.publishing",
    "use_publisher": "prefect_federation.publishing",
}

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


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'prefect_federation' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])


if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs
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
    from prefect_federation.listener.consumer import Listener
    from prefect_federation.listener.launcher import PrefectLauncher
    from prefect_federation.listener.pipeline import RunRequest
    from prefect_federation.publisher import InMemoryPublisher, Publisher, SnsPublisher
    from prefect_federation.publishing import build_event, publish_event, publishes, use_publisher
    from prefect_federation.settings import FederationSettings, ListenerSettings
