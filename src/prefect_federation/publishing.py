"""Publishing from flows: on completion (`@publishes`) or at a material step (`publish_event`).

```python
from prefect import flow
from prefect_federation import publishes, publish_event

@flow
@publishes("ingestion.completed")          # the return value becomes the event's data
def ingest(snapshot_date: str) -> IngestionResult:
    publish_event("ingestion.landed", {"snapshot_date": snapshot_date})   # mid-flow
    ...
```

Data is checked against the type's contract (`publishes[].model` or `.schema` in the declarations
of `$PREFECT_FEDERATION_DECLARATIONS`, default `./deployments`) before anything is sent: data that
breaks it fails the run at once (`ContractViolation`, no retries) and nothing is published.

Inside a run the listener started, a published event carries the chain along: the same
`correlationid`, and `causationid` = the event that started this run. A publish that fails after its
retries raises, so the flow run fails: an event is never dropped in silence.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, ParamSpec, TypeVar, cast
from uuid import NAMESPACE_URL, UUID, uuid5

from prefect import task
from pydantic import BaseModel
from pydantic_core import to_jsonable_python

from prefect_federation.events import EventEnvelope, domain_of
from prefect_federation.labels import read_chain
from prefect_federation.publisher import Publisher

__all__ = [
    "build_event",
    "chain_context",
    "publish_event",
    "publishes",
    "resolve_publisher",
    "use_publisher",
]

P = ParamSpec("P")
R = TypeVar("R")

_publisher_override: ContextVar[Publisher | None] = ContextVar("publisher_override", default=None)


@contextmanager
def use_publisher(publisher: Publisher) -> Iterator[Publisher]:
    """Publish through `publisher` inside this block (tests, dry runs)."""
    token = _publisher_override.set(publisher)
    try:
        yield publisher
    finally:
        _publisher_override.reset(token)


def resolve_publisher(source: str) -> Publisher:
    """The publisher for a domain: an override, else the domain's `SnsTopic` block."""
    override = _publisher_override.get()
    if override is not None:
        return override
    from prefect_federation.blocks import SnsTopic
    from prefect_federation.errors import ConfigError

    try:
        block = cast(SnsTopic, SnsTopic.load(source))
    except ValueError as exc:
        raise ConfigError(
            f"no SnsTopic block named {source!r}: run `prefect-federation provision` to create "
            f"the domain's topic and its block ({exc})"
        ) from exc
    return block.publisher()


def chain_context() -> dict[str, Any]:
    """Correlation, causation and flow-run reference of the current flow run, if any."""
    from prefect.context import FlowRunContext

    context = FlowRunContext.get()
    if context is None or context.flow_run is None:
        return {}
    flow_run = context.flow_run
    result: dict[str, Any] = {"flowrunid": flow_run.id}
    link = read_chain(getattr(flow_run, "labels", None), flow_run.tags or [])
    if link.correlation_id is not None:
        result["correlationid"] = link.correlation_id
    if link.event_id is not None:  # the event that started this run caused the one it publishes
        result["causationid"] = link.event_id
    from prefect_federation.listener.launcher import flow_run_ui_url

    url = flow_run_ui_url(flow_run.id)
    if url:
        result["flowrunurl"] = url
    return result


def _as_data(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    data = to_jsonable_python(value)
    if not isinstance(data, dict):
        raise TypeError(
            "event data must be a pydantic model or a dict (a JSON object), "
            f"not {type(value).__name__}"
        )
    return data


def build_event(
    event_type: str,
    data: Any = None,
    *,
    source: str | None = None,
    subject: str | None = None,
    event_id: UUID | None = None,
) -> EventEnvelope:
    """An envelope for `event_type`, carrying the current run's chain context."""
    fields: dict[str, Any] = dict(chain_context())
    if event_id is not None:
        fields["id"] = event_id
    return EventEnvelope(
        type=event_type,
        source=source or domain_of(event_type),
        subject=subject,
        data=_as_data(data),
        **fields,
    )


def stable_event_id(*parts: object) -> UUID:
    """A deterministic event id: a retry that publishes again sends the *same* event, which
    consumers' idempotency then absorbs (a fresh id would start a second run downstream)."""
    return uuid5(NAMESPACE_URL, "prefect-federation:event:" + ":".join(str(p) for p in parts))


def _current_task_run_id() -> UUID | None:
    from prefect.context import TaskRunContext

    context = TaskRunContext.get()
    return context.task_run.id if context is not None else None


def _publish(
    event_type: str,
    data: Any = None,
    *,
    source: str | None = None,
    subject: str | None = None,
    event_id: UUID | None = None,
) -> EventEnvelope:
    if event_id is None:
        task_run_id = _current_task_run_id()  # task retries keep their task run: same id
        if task_run_id is not None:
            event_id = stable_event_id("task-run", task_run_id, event_type)
    from prefect_federation.contracts.registry import default_registry

    contracts = default_registry()
    contracts.check(event_type, _as_data(data))  # bad data: nothing is published, no retry
    publisher = resolve_publisher(source or domain_of(event_type))  # before the event's time
    envelope = build_event(event_type, data, source=source, subject=subject, event_id=event_id)
    envelope = contracts.enforce(envelope)  # and it carries the contract's `dataschema`
    publisher.publish(envelope)
    return envelope


def _retry_only_transient(task: Any, task_run: Any, state: Any) -> bool:
    """Retry a failed publish only when it may succeed later (`RetryableError`): an event too
    large or data breaking its contract fails the run at once."""
    from prefect_federation.errors import RetryableError

    try:
        error = state.result(raise_on_failure=False)
    except Exception as exc:  # the result cannot be read: do what Prefect would
        error = exc
    return not isinstance(error, BaseException) or isinstance(error, RetryableError)


publish_event = task(
    name="publish-event",
    retries=3,
    retry_delay_seconds=[1.0, 4.0, 10.0],
    retry_condition_fn=_retry_only_transient,
    task_run_name="publish {event_type}",
)(_publish)
"""A task: publish an event now (retried; raises after the last retry so the run fails)."""


def _completion_id(event_type: str) -> UUID | None:
    """One completion event per flow run and type, however often the flow is retried."""
    from prefect.context import FlowRunContext

    context = FlowRunContext.get()
    if context is None or context.flow_run is None:
        return None
    return stable_event_id("flow-run", context.flow_run.id, "completed", event_type)


def publishes(
    event_type: str, *, source: str | None = None
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Publish `event_type` when the decorated flow function completes; its return value (a
    pydantic model or a dict) becomes the event's data. Put it *below* `@flow`."""

    def decorate(fn: Callable[P, R]) -> Callable[P, R]:
        from prefect import Flow

        if isinstance(fn, Flow):
            raise TypeError(
                f"@publishes({event_type!r}) must be placed below @flow, on the function itself"
            )
        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def async_wrapper(*args: P.args, **kwargs: P.kwargs) -> Any:
                result = await fn(*args, **kwargs)
                publish_event(
                    event_type, result, source=source, event_id=_completion_id(event_type)
                )
                return result

            return async_wrapper  # type: ignore[return-value]

        @functools.wraps(fn)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            result = fn(*args, **kwargs)
            publish_event(event_type, result, source=source, event_id=_completion_id(event_type))
            return result

        return wrapper

    return decorate
