"""A domain's listener: pure pipeline steps, run launchers and the SQS consumer loop."""

from prefect_federation.listener.consumer import Listener
from prefect_federation.listener.launcher import (
    PrefectLauncher,
    RecordingLauncher,
    RunLauncher,
    StartedRun,
)
from prefect_federation.listener.outcome import Outcome, decide
from prefect_federation.listener.pipeline import (
    RunRequest,
    derive_idempotency_key,
    match_subscriptions,
    parse_message,
    plan_runs,
    render_parameters,
)
from prefect_federation.listener.stats import ListenerStats

__all__ = [
    "Listener",
    "ListenerStats",
    "Outcome",
    "PrefectLauncher",
    "RecordingLauncher",
    "RunLauncher",
    "RunRequest",
    "StartedRun",
    "decide",
    "derive_idempotency_key",
    "match_subscriptions",
    "parse_message",
    "plan_runs",
    "render_parameters",
]
