"""Is each subscribing domain healthy? Facts from SQS, CloudWatch and Prefect; pure rules.

The facts are gathered by small I/O functions (`observe_queue`, `read_last_heartbeat`,
`count_recent_runs`); the verdict comes from `health_reasons`, which only looks at data, so each
rule is tested on its own. A domain is unhealthy when:

- its DLQ holds messages;
- its listener was never seen (no heartbeat within the look-back), said it stopped, or has been
  silent for more than `heartbeat_misses` x its heartbeat interval;
- the oldest message waiting in its queue is older than `max_oldest_age_seconds`;
- a subscription names a deployment that does not exist on its Prefect server;
- something could not be observed (queue missing, Prefect unreachable): health is then unknown.

SQS has no attribute for the age of the oldest message. Two ways to get it (`AgeSource`):

- `cloudwatch` (default): the queue's `ApproximateAgeOfOldestMessage` metric, side-effect free,
  on real AWS only (published every minute; moto has no SQS metrics, so the age is unknown there);
- `peek`: receive up to 10 visible messages with a short visibility timeout, read their
  `SentTimestamp`, make them visible again. Exact, works everywhere, but every peek is a receive:
  it raises the message's receive count, which counts towards the queue's `maxReceiveCount` (a
  status loop against a queue with no listener would push its messages to the DLQ).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from prefect_federation.dlq import DomainQueues, _release, locate_queues
from prefect_federation.heartbeat import (
    HEARTBEAT_EVENT,
    HEARTBEAT_SECONDS,
    SILENCE_HEARTBEATS,
    listener_resource_id,
)
from prefect_federation.labels import FEDERATION_TAG
from prefect_federation.queue import _aws_call

if TYPE_CHECKING:
    from prefect.client.orchestration import SyncPrefectClient

    from prefect_federation.declarations import DomainDeclaration

__all__ = [
    "AgeSource",
    "DomainStatus",
    "HealthThresholds",
    "ListenerHeartbeat",
    "QueueObservation",
    "build_status",
    "count_recent_runs",
    "domain_status",
    "format_duration",
    "health_reasons",
    "observe_queue",
    "oldest_age_by_peek",
    "oldest_age_from_cloudwatch",
    "read_last_heartbeat",
]

PEEK_VISIBILITY_TIMEOUT = 5
CLOUDWATCH_WINDOW = timedelta(minutes=15)


class AgeSource(StrEnum):
    """Where the age of a queue's oldest waiting message comes from."""

    cloudwatch = "cloudwatch"
    peek = "peek"
    off = "off"


class HealthThresholds(BaseModel):
    """When a domain counts as unhealthy."""

    model_config = ConfigDict(frozen=True)

    heartbeat_misses: float = Field(
        default=SILENCE_HEARTBEATS, gt=0, description="Silence allowed, in heartbeat intervals."
    )
    heartbeat_seconds: float = Field(
        default=HEARTBEAT_SECONDS,
        gt=0,
        description="Heartbeat interval assumed when a heartbeat does not say its own.",
    )
    max_oldest_age_seconds: float = Field(
        default=300.0, gt=0, description="Oldest waiting message allowed, in seconds."
    )
    heartbeat_lookback_seconds: float = Field(
        default=24 * 3600.0, gt=0, description="How far back to look for a heartbeat."
    )
    runs_window_seconds: float = Field(
        default=3600.0, gt=0, description="Window of the `runs_last_hour` count."
    )


class QueueObservation(BaseModel):
    """What SQS (and CloudWatch) say about a domain's queue and DLQ."""

    model_config = ConfigDict(frozen=True)

    queue: str
    dlq: str
    visible: int = Field(description="ApproximateNumberOfMessages: waiting.")
    in_flight: int = Field(description="ApproximateNumberOfMessagesNotVisible: being handled.")
    delayed: int = Field(default=0, description="ApproximateNumberOfMessagesDelayed.")
    dlq_depth: int = Field(description="Messages in the DLQ, visible or not.")
    oldest_age_seconds: float | None = Field(
        default=None, description="Age of the oldest waiting message; None: none, or unknown."
    )
    oldest_age_source: AgeSource = AgeSource.off
    oldest_age_note: str | None = Field(default=None, description="Why the age is unknown.")


class ListenerHeartbeat(BaseModel):
    """A domain listener's latest heartbeat event."""

    model_config = ConfigDict(frozen=True)

    occurred: datetime
    phase: str | None = None
    interval_seconds: float | None = None
    host: str | None = None
    pid: int | None = None
    counters: dict[str, Any] = Field(
        default_factory=dict,
        description="received, runs_created, runs_existing, acked, filtered, dead_lettered, "
        "retried, last_event_at, last_event_type.",
    )


class DomainStatus(BaseModel):
    """One subscribing domain's health, and the facts it rests on."""

    domain: str
    checked_at: datetime
    healthy: bool
    reasons: list[str] = Field(default_factory=list, description="Why it is unhealthy.")
    notes: list[str] = Field(default_factory=list, description="Worth knowing; not unhealthy.")
    queue: str | None = None
    dlq: str | None = None
    visible: int | None = None
    in_flight: int | None = None
    delayed: int | None = None
    dlq_depth: int | None = None
    oldest_age_seconds: float | None = None
    oldest_age_source: AgeSource = AgeSource.off
    listener_observed: bool = Field(
        default=True, description="False: heartbeats could not be read (Prefect unreachable)."
    )
    last_heartbeat_at: datetime | None = None
    heartbeat_phase: str | None = None
    heartbeat_age_seconds: float | None = None
    heartbeat_interval_seconds: float | None = None
    listener_host: str | None = None
    listener_counters: dict[str, Any] = Field(default_factory=dict)
    runs_last_hour: int | None = Field(
        default=None,
        description="Runs tagged `federation` of the domain's deployments expected to start "
        "in the window (the listener schedules them at once).",
    )


# -- pure rules -------------------------------------------------------------------------------


def format_duration(seconds: float) -> str:
    """`42s`, `3m 05s`, `2h 07m`, `3d 04h`."""
    total = max(0, round(seconds))
    if total < 60:
        return f"{total}s"
    minutes, secs = divmod(total, 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h {minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours:02d}h"


def heartbeat_age(heartbeat: ListenerHeartbeat, now: datetime) -> float:
    """Seconds since the heartbeat; 0 when its clock is ahead of ours."""
    return max(0.0, (now - heartbeat.occurred).total_seconds())


def allowed_silence(heartbeat: ListenerHeartbeat | None, thresholds: HealthThresholds) -> float:
    """Seconds a listener may stay silent: misses x its own interval (or the assumed one)."""
    interval = (heartbeat.interval_seconds if heartbeat else None) or thresholds.heartbeat_seconds
    return thresholds.heartbeat_misses * interval


def _listener_reasons(
    domain: str, heartbeat: ListenerHeartbeat | None, now: datetime, thresholds: HealthThresholds
) -> list[str]:
    if heartbeat is None:
        return [
            "listener never seen: no heartbeat in the last "
            f"{format_duration(thresholds.heartbeat_lookback_seconds)} (is "
            f"`prefect-federation listen --domain {domain}` running against this Prefect server?)"
        ]
    if heartbeat.phase == "stopped":
        return [
            f"listener stopped {format_duration(heartbeat_age(heartbeat, now))} ago "
            f"(its last heartbeat, from {heartbeat.host or 'an unknown host'}, said so)"
        ]
    silent = heartbeat_age(heartbeat, now)
    allowed = allowed_silence(heartbeat, thresholds)
    if silent > allowed:
        return [
            f"listener silent for {format_duration(silent)} (allowed "
            f"{format_duration(allowed)}: {thresholds.heartbeat_misses:g} x its "
            f"{format_duration(allowed / thresholds.heartbeat_misses)} heartbeat)"
        ]
    return []


def health_reasons(
    domain: str,
    queue: QueueObservation | None,
    heartbeat: ListenerHeartbeat | None,
    now: datetime,
    thresholds: HealthThresholds,
    *,
    missing_deployments: Iterable[str] = (),
    problems: Iterable[str] = (),
    listener_observed: bool = True,
) -> list[str]:
    """Why `domain` is unhealthy ([] when it is healthy). Pure: data in, reasons out.

    `problems` are facts that could not be observed; `listener_observed=False` (heartbeats could
    not be read) skips the listener rules, since a problem already says why.
    """
    reasons = list(problems)
    if queue is not None:
        if queue.dlq_depth > 0:
            reasons.append(
                f"DLQ {queue.dlq} holds {queue.dlq_depth} message(s): see "
                f"`prefect-federation dlq list --domain {domain}`"
            )
        if (
            queue.oldest_age_seconds is not None
            and queue.oldest_age_seconds > thresholds.max_oldest_age_seconds
        ):
            reasons.append(
                f"oldest waiting message is {format_duration(queue.oldest_age_seconds)} old "
                f"(more than {format_duration(thresholds.max_oldest_age_seconds)})"
            )
    if listener_observed:
        reasons.extend(_listener_reasons(domain, heartbeat, now, thresholds))
    reasons.extend(
        f"deployment {name!r} does not exist on the domain's Prefect server (its events will "
        "be dead-lettered)"
        for name in missing_deployments
    )
    return reasons


def build_status(
    domain: str,
    queue: QueueObservation | None,
    heartbeat: ListenerHeartbeat | None,
    now: datetime,
    thresholds: HealthThresholds,
    *,
    runs_last_hour: int | None = None,
    missing_deployments: Iterable[str] = (),
    problems: Iterable[str] = (),
    notes: Iterable[str] = (),
    listener_observed: bool = True,
) -> DomainStatus:
    """The status of one domain from its observed facts. Pure."""
    reasons = health_reasons(
        domain,
        queue,
        heartbeat,
        now,
        thresholds,
        missing_deployments=missing_deployments,
        problems=problems,
        listener_observed=listener_observed,
    )
    all_notes = list(notes)
    if queue is not None and queue.oldest_age_note:
        all_notes.append(queue.oldest_age_note)
    status = DomainStatus(
        domain=domain,
        checked_at=now,
        healthy=not reasons,
        reasons=reasons,
        notes=all_notes,
        runs_last_hour=runs_last_hour,
        listener_observed=listener_observed,
    )
    if queue is not None:
        status = status.model_copy(
            update={
                "queue": queue.queue,
                "dlq": queue.dlq,
                "visible": queue.visible,
                "in_flight": queue.in_flight,
                "delayed": queue.delayed,
                "dlq_depth": queue.dlq_depth,
                "oldest_age_seconds": queue.oldest_age_seconds,
                "oldest_age_source": queue.oldest_age_source,
            }
        )
    if heartbeat is not None:
        status = status.model_copy(
            update={
                "last_heartbeat_at": heartbeat.occurred,
                "heartbeat_phase": heartbeat.phase,
                "heartbeat_age_seconds": heartbeat_age(heartbeat, now),
                "heartbeat_interval_seconds": heartbeat.interval_seconds,
                "listener_host": heartbeat.host,
                "listener_counters": heartbeat.counters,
            }
        )
    return status


def heartbeat_from_event(occurred: datetime, payload: Mapping[str, Any]) -> ListenerHeartbeat:
    """A ListenerHeartbeat from a heartbeat event's time and payload (see `heartbeat.py`)."""
    counters = {
        k: v for k, v in payload.items() if k not in {"phase", "pid", "host", "interval_seconds"}
    }
    interval = payload.get("interval_seconds")
    pid = payload.get("pid")
    return ListenerHeartbeat(
        occurred=occurred if occurred.tzinfo else occurred.replace(tzinfo=UTC),
        phase=payload.get("phase") if isinstance(payload.get("phase"), str) else None,
        interval_seconds=float(interval) if isinstance(interval, int | float) else None,
        host=payload.get("host") if isinstance(payload.get("host"), str) else None,
        pid=pid if isinstance(pid, int) else None,
        counters=counters,
    )


# -- AWS I/O ----------------------------------------------------------------------------------


def queue_counts(sqs: Any, url: str) -> dict[str, int]:
    """The queue's approximate counts: visible, in_flight, delayed."""
    attributes = _aws_call(
        "get_queue_attributes",
        sqs.get_queue_attributes,
        QueueUrl=url,
        AttributeNames=[
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed",
        ],
    ).get("Attributes", {})
    return {
        "visible": int(attributes.get("ApproximateNumberOfMessages", 0)),
        "in_flight": int(attributes.get("ApproximateNumberOfMessagesNotVisible", 0)),
        "delayed": int(attributes.get("ApproximateNumberOfMessagesDelayed", 0)),
    }


def oldest_age_by_peek(sqs: Any, url: str, now: datetime) -> float | None:
    """Age in seconds of the oldest of up to 10 waiting messages; None when none is waiting.

    Receives them (hidden for a few seconds), reads `SentTimestamp`, makes them visible again.
    Each peek counts as a receive towards the queue's `maxReceiveCount`.
    """
    messages = _aws_call(
        "receive_message (peek)",
        sqs.receive_message,
        QueueUrl=url,
        MaxNumberOfMessages=10,
        VisibilityTimeout=PEEK_VISIBILITY_TIMEOUT,
        WaitTimeSeconds=1,  # explicit: the inbox's own default is a 20 s long poll
        MessageSystemAttributeNames=["SentTimestamp"],
    ).get("Messages", [])
    _release(sqs, url, [m["ReceiptHandle"] for m in messages])
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
    sqs: Any,
    queues: DomainQueues,
    now: datetime,
    *,
    age_source: AgeSource = AgeSource.cloudwatch,
    cloudwatch: Any = None,
) -> QueueObservation:
    """Depths of the queue and its DLQ, and the age of the oldest waiting message."""
    counts = queue_counts(sqs, queues.queue_url)
    dlq_counts = queue_counts(sqs, queues.dlq_url)
    age: float | None = None
    note: str | None = None
    if counts["visible"] > 0:
        if age_source is AgeSource.peek:
            age = oldest_age_by_peek(sqs, queues.queue_url, now)
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
        visible=counts["visible"],
        in_flight=counts["in_flight"],
        delayed=counts["delayed"],
        dlq_depth=dlq_counts["visible"] + dlq_counts["in_flight"] + dlq_counts["delayed"],
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
    sqs: Any,
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
        queues = locate_queues(sqs, name_prefix, domain, declaration.fifo)
        queue = observe_queue(sqs, queues, now, age_source=age_source, cloudwatch=cloudwatch)
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
