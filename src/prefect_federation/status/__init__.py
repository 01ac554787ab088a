"""Is each subscribing domain healthy? Facts from SQS, CloudWatch and Prefect; pure rules.

`observation` gathers the facts (`observe_queue` through a `queue_admin.QueueAdmin`,
`read_last_heartbeat`, `count_recent_runs`) and `domain_status` puts them together; `rules`
judges them (`health_reasons`, `build_status`) and only looks at data, so each rule is tested on
its own.
"""

from __future__ import annotations

from prefect_federation.status.observation import (
    count_recent_runs,
    domain_status,
    observe_queue,
    oldest_age_by_peek,
    oldest_age_from_cloudwatch,
    read_last_heartbeat,
)
from prefect_federation.status.rules import (
    AgeSource,
    DomainStatus,
    HealthThresholds,
    ListenerHeartbeat,
    QueueObservation,
    allowed_silence,
    build_status,
    format_duration,
    health_reasons,
    heartbeat_age,
    heartbeat_from_event,
)

__all__ = [
    "AgeSource",
    "DomainStatus",
    "HealthThresholds",
    "ListenerHeartbeat",
    "QueueObservation",
    "allowed_silence",
    "build_status",
    "count_recent_runs",
    "domain_status",
    "format_duration",
    "health_reasons",
    "heartbeat_age",
    "heartbeat_from_event",
    "observe_queue",
    "oldest_age_by_peek",
    "oldest_age_from_cloudwatch",
    "read_last_heartbeat",
]
