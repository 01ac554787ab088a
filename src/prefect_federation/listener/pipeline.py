"""The listener's pure steps: parse -> validate -> match -> render -> run requests.

No boto3, no Prefect client: every step takes data and returns data or raises a typed error from
`prefect_federation.errors`, so each is tested on its own.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from uuid import NAMESPACE_URL, uuid5

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from prefect_federation.declarations import DomainDeclaration, Federation, Subscription
from prefect_federation.errors import (
    EnvelopeParseError,
    EnvelopeValidationError,
    UnsubscribedEventError,
)
from prefect_federation.events import MAX_EVENT_BYTES, EventEnvelope
from prefect_federation.joins.models import JoinArrival
from prefect_federation.joins.planner import arrival_of
from prefect_federation.labels import run_labels, run_tags
from prefect_federation.sns_envelope import is_sns_notification, unwrap_sns
from prefect_federation.templates import render_value

__all__ = [
    "MessagePlan",
    "RunRequest",
    "derive_idempotency_key",
    "match_subscriptions",
    "parse_message",
    "plan_message",
    "plan_runs",
    "render_parameters",
    "run_labels",
    "run_name",
    "run_tags",
    "validate_data",
]

_MISSING = object()


class RunRequest(BaseModel):
    """A flow run to create: which deployment, with what, under which idempotency key."""

    model_config = ConfigDict(frozen=True)

    deployment: str
    parameters: dict[str, Any]
    idempotency_key: str
    name: str
    tags: list[str] = Field(default_factory=list)
    labels: dict[str, str] = Field(default_factory=dict)
    envelope: EventEnvelope
    join_item_id: str | None = Field(
        default=None, description="The join this run completes (its store id), if any."
    )


class MessagePlan(BaseModel):
    """What one message asks for: runs of one-event subscriptions, arrivals at joins."""

    model_config = ConfigDict(frozen=True)

    envelope: EventEnvelope
    requests: list[RunRequest] = Field(default_factory=list)
    arrivals: list[JoinArrival] = Field(default_factory=list)


def _load_json_object(body: str, what: str, limit: int = MAX_EVENT_BYTES) -> dict[str, Any]:
    if len(body.encode()) > limit:
        raise EnvelopeParseError(f"{what} is {len(body.encode())} bytes; at most {limit}")
    try:
        value = json.loads(body)
    except ValueError as exc:
        raise EnvelopeParseError(f"{what} is not JSON: {exc}") from exc
    except RecursionError as exc:
        raise EnvelopeParseError(f"{what} is JSON nested too deeply to parse") from exc
    if not isinstance(value, dict):
        raise EnvelopeParseError(f"{what} is JSON but not an object (got {type(value).__name__})")
    return value


def _sns_timestamp(document: dict[str, Any]) -> datetime | None:
    stamp = document.get("Timestamp")
    if not isinstance(stamp, str):
        return None
    try:
        moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def _raw_envelope(
    document: dict[str, Any],
    attributes: Mapping[str, str],
    domain: DomainDeclaration,
    message_id: str | None,
    sent_at: datetime | None,
) -> EventEnvelope:
    """A plain JSON body (e.g. from Airflow's SnsPublishOperator) -> an envelope (raw adapter)."""
    raw = [s for s in domain.subscribes if s.adapter == "raw"]
    event_type = attributes.get("type")
    if event_type is None:
        types = sorted({t for s in raw for t in s.event_types})
        if len(types) != 1:
            raise EnvelopeValidationError(
                "body is not an event envelope (no `specversion`), and no `type` message attribute "
                f"says which raw subscription it is for (raw subscriptions: {types or 'none'})"
            )
        event_type = types[0]
    matching = [s for s in raw if s.event == event_type]
    if not matching:
        raise EnvelopeValidationError(
            f"body is not an event envelope (no `specversion`), and domain {domain.domain!r} "
            f"declares no `adapter: raw` subscription for type {event_type!r}"
        )
    source = attributes.get("source") or matching[0].upstream
    # A stable id: redeliveries of the same SNS/SQS message map to the same event.
    event_id = uuid5(NAMESPACE_URL, f"prefect-federation:raw:{message_id or json.dumps(document)}")
    # A raw body carries no time: the time SNS/SQS accepted the message stands for it (the same
    # on every redelivery); only a body handed in without one (a unit test) gets the time now.
    fields: dict[str, Any] = {"time": sent_at} if sent_at is not None else {}
    try:
        return EventEnvelope(id=event_id, source=source, type=event_type, data=document, **fields)
    except ValidationError as exc:
        raise EnvelopeValidationError(f"raw message cannot become an event: {exc}") from exc


def parse_message(
    body: str,
    attributes: Mapping[str, str] | None = None,
    domain: DomainDeclaration | None = None,
    message_id: str | None = None,
    sent_at: datetime | None = None,
) -> EventEnvelope:
    """Parse an SQS body into an envelope; unwraps an SNS notification when raw delivery is off.

    An envelope must carry every attribute of `WIRE_REQUIRED` (nothing is generated for a
    missing `id` or `time`); a raw body (`adapter: raw`) takes its id from the SNS/SQS message id
    and its time from when SNS/SQS accepted it (`sent_at`, or the notification's `Timestamp`).

    Raises:
        EnvelopeParseError: not JSON, not an object, or a malformed SNS notification.
        EnvelopeValidationError: JSON, but not a valid envelope.
    """
    attrs = dict(attributes or {})
    # An SNS notification wraps the event in escaped JSON, larger than the event it carries:
    # the event's own limit applies to the inner message; SQS bounds the wrapper (1 MiB).
    size = len(body.encode())
    too_large = EnvelopeParseError(f"message body is {size} bytes; at most {MAX_EVENT_BYTES}")
    try:
        document = _load_json_object(body, "message body", limit=4 * MAX_EVENT_BYTES)
    except EnvelopeParseError:
        if size > MAX_EVENT_BYTES:
            raise too_large from None
        raise
    if is_sns_notification(document):
        inner, attrs = unwrap_sns(document, attrs)
        message_id = document.get("MessageId", message_id)
        sent_at = _sns_timestamp(document) or sent_at
        document = _load_json_object(inner, "SNS notification's Message")
    elif size > MAX_EVENT_BYTES:
        raise too_large
    raw_types = {s.event for s in domain.subscribes if s.adapter == "raw"} if domain else set()
    if attrs.get("type") in raw_types:  # the producer says: a raw body of a raw subscription
        looks_like_envelope = "specversion" in document
    else:
        looks_like_envelope = (
            "specversion" in document or {"id", "type", "source"} <= document.keys()
        )
    if (
        not looks_like_envelope
        and domain is not None
        and any(s.adapter == "raw" for s in domain.subscribes)
    ):
        return _raw_envelope(document, attrs, domain, message_id, sent_at)
    try:
        return EventEnvelope.from_wire(document)
    except ValidationError as exc:
        problems = "; ".join(_describe_problem(e) for e in exc.errors())
        raise EnvelopeValidationError(f"not a valid event envelope: {problems}") from exc


def _describe_problem(error: Any) -> str:
    where = ".".join(str(p) for p in error["loc"])
    message = str(error["msg"]).removeprefix("Value error, ")
    return f"{where}: {message}" if where else message


def validate_data(envelope: EventEnvelope, federation: Federation | None) -> None:
    """Check the event's data against its publisher's declared schema, where one is declared."""
    if federation is None:
        return
    publication = federation.publication(envelope.type)
    if publication is None or publication.data_schema is None:
        return
    import jsonschema  # a dependency of prefect

    validator = jsonschema.Draft202012Validator(publication.data_schema)
    errors = sorted(validator.iter_errors(envelope.data), key=lambda e: list(e.path))
    if errors:
        first = errors[0]
        where = "data." + ".".join(str(p) for p in first.path) if first.path else "data"
        raise EnvelopeValidationError(
            f"{where}: {first.message} (schema declared by {publication.type!r}'s publisher)"
        )


def _lookup(data: Mapping[str, Any], path: str) -> Any:
    value: Any = data
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return _MISSING
        value = value[part]
    return value


def _same_json_value(a: Any, b: Any) -> bool:
    """JSON equality: `true` is not `1`, but `1` is `1.0`."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return bool(a == b)


def _filter_matches(subscription: Subscription, envelope: EventEnvelope) -> bool:
    for path, accepted in subscription.filter.items():
        value = _lookup(envelope.data, path)
        options = accepted if isinstance(accepted, list) else [accepted]
        if value is _MISSING or not any(_same_json_value(value, o) for o in options):
            return False
    return True


def match_subscriptions(domain: DomainDeclaration, envelope: EventEnvelope) -> list[Subscription]:
    """The subscriptions this event starts a run for; [] when data filters exclude it.

    Raises:
        UnsubscribedEventError: the domain does not subscribe to this type, or not from this source.
    """
    by_type = domain.subscriptions_for(envelope.type)
    if not by_type:
        subscribed = (
            ", ".join(sorted({t for s in domain.subscribes for t in s.event_types})) or "nothing"
        )
        raise UnsubscribedEventError(
            f"domain {domain.domain!r} does not subscribe to {envelope.type!r} "
            f"(it subscribes to: {subscribed})"
        )
    by_source = [s for s in by_type if s.source_of(envelope.type) == envelope.source]
    if not by_source:
        accepted = ", ".join(sorted({s.source_of(envelope.type) for s in by_type}))
        raise UnsubscribedEventError(
            f"domain {domain.domain!r} accepts {envelope.type!r} only from {accepted}, "
            f"not from source {envelope.source!r}"
        )
    return [s for s in by_source if _filter_matches(s, envelope)]


def template_context(envelope: EventEnvelope) -> dict[str, Any]:
    """What templates see: `event` (the envelope, UUIDs and datetimes as Python objects)."""
    return {"event": envelope.model_dump()}


def render_parameters(subscription: Subscription, envelope: EventEnvelope) -> dict[str, Any]:
    """The run's parameters, rendered from the subscription's templates.

    Raises:
        ParameterRenderError: naming the parameter and template that failed.
    """
    rendered = render_value(subscription.parameters, template_context(envelope), "parameters")
    assert isinstance(rendered, dict)
    return rendered


def derive_idempotency_key(envelope: EventEnvelope, subscription: Subscription) -> str:
    """One event -> one run per subscription. Prefect scopes keys per flow, so the key names the
    deployment too."""
    key = f"federation:{envelope.source}:{envelope.id}:{subscription.deployment}"
    return f"{key}:{subscription.name}" if subscription.name else key


def run_name(envelope: EventEnvelope) -> str:
    """The run's name: the event, and the chain it belongs to, readable in the UI's runs list
    without a click (tags hide behind "+N" there)."""
    return f"{envelope.type}-{str(envelope.id)[:8]} (chain {str(envelope.correlationid)[:8]})"


def plan_runs(
    body: str,
    domain: DomainDeclaration,
    federation: Federation | None = None,
    attributes: Mapping[str, str] | None = None,
    message_id: str | None = None,
    sent_at: datetime | None = None,
) -> list[RunRequest]:
    """The whole pure pipeline for one message: the runs of its one-event subscriptions to
    create ([] when filtered out). `plan_message` also gives its arrivals at joins."""
    return plan_message(body, domain, federation, attributes, message_id, sent_at).requests


def plan_message(
    body: str,
    domain: DomainDeclaration,
    federation: Federation | None = None,
    attributes: Mapping[str, str] | None = None,
    message_id: str | None = None,
    sent_at: datetime | None = None,
) -> MessagePlan:
    """The whole pure pipeline for one message: runs to create, and arrivals at joins (whose
    runs the join store decides, `prefect_federation.joins.coordinator`)."""
    envelope = parse_message(body, attributes, domain, message_id, sent_at)
    validate_data(envelope, federation)
    requests = []
    arrivals = []
    for subscription in match_subscriptions(domain, envelope):
        if subscription.join is not None:
            arrivals.append(arrival_of(subscription, envelope))
            continue
        requests.append(
            RunRequest(
                deployment=subscription.deployment,
                parameters=render_parameters(subscription, envelope),
                idempotency_key=derive_idempotency_key(envelope, subscription),
                name=run_name(envelope),
                tags=run_tags(envelope),
                labels=run_labels(envelope),
                envelope=envelope,
            )
        )
    return MessagePlan(envelope=envelope, requests=requests, arrivals=arrivals)
