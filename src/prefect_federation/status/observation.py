"""Observing a domain for `status`: facts from SQS (through `QueueAdmin`), CloudWatch and Prefect.

SQS has no attribute for the age of the oldest message. Two ways to get it (`AgeSource`):

- `cloudwatch` (default): the queue's `ApproximateAgeOfOldestMessage` metric, side-effect free,
  on real AWS only (published every minute; moto has no SQS metrics, so the age is unknown there);
- `peek`: receive up to 10 visible messages with a short visibility timeout, read their
  `SentTimestamp`, make them visible again. Exact, works everywhere, but every peek is a receive:
  it raises the message's receive count, which counts towards the queue's `maxReceiveCount` (a
  status loop against a queue with no listener would push its messages to the DLQ).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from prefect_federation.heartbeat import HEARTBEAT_EVENT, listener_resource_id
from prefect_federation.labels import FEDERATION_TAG
from prefect_federation.queue import _aws_call
from prefect_federation.queue_admin import DomainQueues, QueueAdmin, locate_queues
from prefect_federation.status.rules import (
    AgeSource,
    DomainStatus,
    HealthThresholds,
    ListenerHeartbeat,
    QueueObservation,
    build_status,
    format_duration,
    heartbeat_from_event,
)

if TYPE_CHECKING:
    from prefect.client.orchestration import SyncPrefectClient

    from prefect_federation.declarations import DomainDeclaration

__all__ = [
    "count_recent_runs",
    "domain_status",
    "observe_queue",
    "oldest_age_by_peek",
    "oldest_age_from_cloudwatch",
    "read_last_heartbeat",
]

PEEK_VISIBILITY_TIMEOUT = 5
CLOUDWATCH_WINDOW = timedelta(minutes=15)


def oldest_age_by_peek(admin: QueueAdmin, url: str, now: datetime) -> float | None:
    """Age in seconds of the oldest of up to 10 waiting messages; None when none is waiting.

    Receives them (hidden for a few seconds), reads `SentTimestamp`, makes them visible again.
    Each peek counts as a receive towards the queue's `maxReceiveCount`.
    """
    # wait 1 s, explicitly: the inbox's own default is a 20 s long poll
    messages = admin.scan(url, 10, PEEK_VISIBILITY_TIMEOUT, 1)
    admin.release(url, [m["ReceiptHandle"] for m in messages])
    sent = [
        int(m["Attributes"]["SentTimestamp"])
        for m in messages
        if "SentTimestamp" in m.get("Attributes", {})
    ]
    if not sent:
        return None
    oldest = datetime.fromtimestamp(min(sent) / 1000, UTC)
    return max(0.0, (now - oldest).total_seconds())


def oldest_age_from_cloudwatch(cloudwatch: Any, queue_name: str, now: datetime) -> float | None:
    """The latest `ApproximateAgeOfOldestMessage` of the queue (AWS/SQS, 1-minute maximum) in
    the last 15 minutes; None when CloudWatch has no datapoint."""
    response = _aws_call(
        "get_metric_statistics",
        cloudwatch.get_metric_statistics,
        Namespace="AWS/SQS",
        MetricName="ApproximateAgeOfOldestMessage",
        Dimensions=[{"Name": "QueueName", "Value": queue_name}],
        StartTime=now - CLOUDWATCH_WINDOW,
        EndTime=now,
        Period=60,
        Statistics=["Maximum"],
    )
    points = response.get("Datapoints", [])
    if not points:
        return None
    latest = max(points, key=lambda p: p["Timestamp"])
    return float(latest["Maximum"])


def observe_queue(
    admin: QueueAdmin,
    queues: DomainQueues,
    now: datetime,
    *,
    age_source: AgeSource = AgeSource.cloudwatch,
    cloudwatch: Any = None,
) -> QueueObservation:
    """Depths of the queue and its DLQ, and the age of the oldest waiting message."""
    counts = admin.counts(queues.queue_url)
    dlq_counts = admin.counts(queues.dlq_url)
    age: float | None = None
    note: str | None = None
    if counts.visible > 0:
        if age_source is AgeSource.peek:
            age = oldest_age_by_peek(admin, queues.queue_url, now)
        elif age_source is AgeSource.cloudwatch:
            if cloudwatch is None:
                note = "oldest message age unknown: no CloudWatch client"
            else:
                try:
                    age = oldest_age_from_cloudwatch(cloudwatch, queues.queue_name, now)
                except Exception as exc:  # e.g. no cloudwatch:GetMetricStatistics permission
                    note = f"oldest message age unknown: CloudWatch: {type(exc).__name__}: {exc}"
                else:
                    if age is None:
                        note = (
                            "oldest message age unknown: CloudWatch has no "
                            f"ApproximateAgeOfOldestMessage for {queues.queue_name} in the last "
                            f"{format_duration(CLOUDWATCH_WINDOW.total_seconds())} "
                            "(try --oldest-age peek)"
                        )
    return QueueObservation(
        queue=queues.queue_name,
        dlq=queues.dlq_name,
        visible=counts.visible,
        in_flight=counts.in_flight,
        delayed=counts.delayed,
        dlq_depth=dlq_counts.total,
        oldest_age_seconds=age,
        oldest_age_source=age_source,
        oldest_age_note=note,
    )


# -- Prefect I/O ------------------------------------------------------------------------------


def read_last_heartbeat(
    client: SyncPrefectClient, domain: str, since: datetime
) -> ListenerHeartbeat | None:
    """The domain listener's latest heartbeat event since `since`, from the Prefect events API
    (POST /events/filter, newest first, limit 1)."""
    from prefect.events.filters import (
        EventFilter,
        EventNameFilter,
        EventOccurredFilter,
        EventOrder,
        EventResourceFilter,
    )

    page = client.read_events(
        filter=EventFilter(
            occurred=EventOccurredFilter(since=since, until=datetime.now(UTC) + timedelta(days=1)),
            event=EventNameFilter(name=[HEARTBEAT_EVENT]),
            resource=EventResourceFilter(id=[listener_resource_id(domain)]),
            order=EventOrder.DESC,
        ),
        limit=1,
    )
    if not page.events:
        return None
    event = page.events[0]
    return heartbeat_from_event(event.occurred, event.payload)


def count_recent_runs(
    client: SyncPrefectClient, deployments: Iterable[str], since: datetime
) -> tuple[int, list[str]]:
    """(runs tagged `federation` of these deployments expected to start since `since`, the
    deployments that do not exist)."""
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterDeploymentId,
        FlowRunFilterExpectedStartTime,
        FlowRunFilterTags,
    )
    from prefect.exceptions import ObjectNotFound

    ids = []
    missing = []
    for name in dict.fromkeys(deployments):
        try:
            ids.append(client.read_deployment_by_name(name).id)
        except ObjectNotFound:
            missing.append(name)
    if not ids:
        return 0, missing
    count = client.count_flow_runs(
        flow_run_filter=FlowRunFilter(
            deployment_id=FlowRunFilterDeploymentId(any_=ids),
            tags=FlowRunFilterTags(all_=[FEDERATION_TAG]),
            expected_start_time=FlowRunFilterExpectedStartTime(after_=since),
        )
    )
    return count, missing


# -- all together -----------------------------------------------------------------------------


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def domain_status(
    declaration: DomainDeclaration,
    admin: QueueAdmin,
    prefect_client: SyncPrefectClient,
    *,
    name_prefix: str,
    thresholds: HealthThresholds | None = None,
    age_source: AgeSource = AgeSource.cloudwatch,
    cloudwatch: Any = None,
    now: datetime | None = None,
) -> DomainStatus:
    """Observe one subscribing domain (queue, DLQ, listener heartbeat, recent runs) and judge it.

    A fact that cannot be observed becomes a reason (health unknown is not healthy); the other
    facts are still gathered.
    """
    thresholds = thresholds or HealthThresholds()
    now = now or datetime.now(UTC)
    domain = declaration.domain
    problems: list[str] = []
    notes: list[str] = []
    queue: QueueObservation | None = None
    heartbeat: ListenerHeartbeat | None = None
    runs: int | None = None
    missing: list[str] = []
    listener_observed = True
    try:
        queues = locate_queues(admin, name_prefix, domain, declaration.fifo)
        queue = observe_queue(admin, queues, now, age_source=age_source, cloudwatch=cloudwatch)
    except Exception as exc:
        problems.append(f"cannot observe the queues: {_describe(exc)}")
    if age_source is AgeSource.peek and queue is not None and queue.visible:
        notes.append("peeked at the queue: each peek counts as a receive")
    try:
        heartbeat = read_last_heartbeat(
            prefect_client, domain, now - timedelta(seconds=thresholds.heartbeat_lookback_seconds)
        )
    except Exception as exc:
        listener_observed = False
        problems.append(f"cannot read listener heartbeats from Prefect: {_describe(exc)}")
    else:
        try:
            runs, missing = count_recent_runs(
                prefect_client,
                [s.deployment for s in declaration.subscribes],
                now - timedelta(seconds=thresholds.runs_window_seconds),
            )
        except Exception as exc:
            problems.append(f"cannot count runs on Prefect: {_describe(exc)}")
    return build_status(
        domain,
        queue,
        heartbeat,
        now,
        thresholds,
        runs_last_hour=runs,
        missing_deployments=missing,
        problems=problems,
        notes=notes,
        listener_observed=listener_observed,
    )
