"""Pure decisions about joins and expectations: keys, completeness, parameters, deadlines.

No store, no clock of its own: every function takes the time it needs.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from prefect_federation.declarations import Expectation, Subscription
from prefect_federation.errors import ParameterRenderError
from prefect_federation.events import EventEnvelope
from prefect_federation.joins.models import (
    ExpectationInstance,
    JoinArrival,
    JoinRecord,
)
from prefect_federation.templates import render_value

__all__ = [
    "arrival_of",
    "due_instances",
    "instance_for_arrival",
    "is_complete",
    "join_idempotency_key",
    "join_item_id",
    "join_parameters",
    "missing_types",
]


def join_item_id(subscription: str, key: str) -> str:
    """The store's id of one (subscription, key)."""
    return f"join#{subscription}#{key}"


def arrival_of(subscription: Subscription, envelope: EventEnvelope) -> JoinArrival:
    """The event's arrival at a join subscription: its key rendered from the event.

    Raises:
        ParameterRenderError: the key does not render for this event, or renders empty.
    """
    assert subscription.join is not None
    rendered = render_value(subscription.join.key, {"event": envelope.model_dump()}, "join.key")
    key = str(rendered) if rendered is not None else ""
    if not key.strip():
        raise ParameterRenderError(
            f"join.key {subscription.join.key!r} rendered empty for {envelope.type} {envelope.id}"
        )
    return JoinArrival(subscription=subscription.join_id, key=key, envelope=envelope)


def missing_types(subscription: Subscription, record: JoinRecord) -> list[str]:
    """The joined types that have not arrived, in declaration order."""
    return [t for t in subscription.event_types if t not in record.arrivals]


def is_complete(subscription: Subscription, record: JoinRecord) -> bool:
    return not missing_types(subscription, record)


def join_parameters(subscription: Subscription, record: JoinRecord) -> dict[str, Any]:
    """The run's parameters, rendered with `events['<type>']` (every arrival) and `key`.

    Raises:
        ParameterRenderError: naming the parameter and template that failed.
    """
    context = {
        "events": {t: e.model_dump() for t, e in record.envelopes().items()},
        "key": record.key,
    }
    rendered = render_value(subscription.parameters, context, "parameters")
    assert isinstance(rendered, dict)
    return rendered


def join_idempotency_key(
    domain: str, subscription: Subscription, key: str, opened: datetime | None = None
) -> str:
    """One run per (subscription, key), whichever event completed it and however often; with
    `opened` (the join's first arrival, kept in the store) a new store (a fresh demo against a
    kept Prefect server) does not find an old run."""
    base = f"federation:join:{domain}:{subscription.join_id}:{subscription.deployment}:{key}"
    return f"{base}:{opened.timestamp():.6f}" if opened is not None else base


# -- expectations ---------------------------------------------------------------------------------


def _instance(expectation: Expectation, day: date, value: str | None) -> ExpectationInstance:
    deadline = datetime.combine(day, expectation.deadline, tzinfo=expectation.zone)
    item_id = f"sla#{expectation.event}#{day.isoformat()}#{value if value is not None else '*'}"
    return ExpectationInstance(
        item_id=item_id, event=expectation.event, day=day, value=value, deadline=deadline
    )


def due_instances(expectation: Expectation, now: datetime) -> list[ExpectationInstance]:
    """Today's instances (in the expectation's time zone) whose deadline has passed at `now`."""
    today = now.astimezone(expectation.zone).date()
    values: list[str | None] = list(expectation.values) if expectation.values else [None]
    instances = [_instance(expectation, today, v) for v in values]
    return [i for i in instances if now >= i.deadline]


def instance_for_arrival(
    expectation: Expectation, envelope: EventEnvelope, now: datetime
) -> ExpectationInstance | None:
    """The instance an arriving event fulfils (the local day of its arrival), or None when its
    `for_each` value is not one of the expected values.

    Raises:
        ParameterRenderError: `for_each` does not render for this event.
    """
    if envelope.type != expectation.event:
        return None
    value: str | None = None
    if expectation.for_each is not None:
        rendered = render_value(
            expectation.for_each, {"event": envelope.model_dump()}, "expects.for_each"
        )
        value = str(rendered)
        if expectation.values is not None and value not in expectation.values:
            return None
    return _instance(expectation, now.astimezone(expectation.zone).date(), value)


def window_end(first_at: datetime, within: timedelta) -> datetime:
    return first_at + within
