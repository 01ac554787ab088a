"""The declaration models: a domain, what it publishes, what it subscribes to (the YAML
layout is in the package's docstring)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from prefect_federation.errors import ConfigError
from prefect_federation.events import DOMAIN_PATTERN, EVENT_TYPE_PATTERN, domain_of
from prefect_federation.joins.declared import (
    JOIN_EXPIRED,
    SLA_MISSED,
    SLA_RECOVERED,
    Expectation,
    Join,
    alert_type,
)
from prefect_federation.templates import check_template

__all__ = [
    "DEPLOYMENT_PATTERN",
    "DomainDeclaration",
    "Expectation",
    "Federation",
    "Join",
    "Publication",
    "Subscription",
    "WorkPool",
]

JsonScalar = str | int | float | bool | None
DEPLOYMENT_PATTERN = r"^[^/\s]+/[^/\s]+$"
MODEL_PATTERN = r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$"


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Publication(_Strict):
    """An event type a domain publishes."""

    type: str = Field(pattern=EVENT_TYPE_PATTERN, description="The event type.")
    description: str | None = Field(default=None, description="What the event means.")
    data_schema: dict[str, Any] | None = Field(
        default=None,
        alias="schema",
        description="Optional JSON schema of the event's data; consumers validate against it.",
    )
    model: str | None = Field(
        default=None,
        pattern=MODEL_PATTERN,
        description="The pydantic model of the event's data, `module.path:ClassName`, importable "
        "from the project root (instead of `schema`).",
    )
    version: int = Field(
        default=1,
        ge=1,
        description="The contract's major version, carried as `dataschema` on every envelope; "
        "raise it for a breaking change.",
    )

    @model_validator(mode="after")
    def _one_contract(self) -> Publication:
        if self.model is not None and self.data_schema is not None:
            raise ValueError("give `model` or `schema`, not both")
        return self


class Subscription(_Strict):
    """One event type a domain consumes (or a `join` of several), and the deployment run it
    starts."""

    event: str | None = Field(
        default=None, pattern=EVENT_TYPE_PATTERN, description="The event type to consume."
    )
    join: Join | None = Field(
        default=None,
        description="Instead of `event`: wait for several types sharing a key, run once.",
    )
    source: str | None = Field(
        default=None,
        pattern=DOMAIN_PATTERN,
        description="The only domain accepted as the event's source (default: the type's domain).",
    )
    filter: dict[str, JsonScalar | list[JsonScalar]] = Field(
        default_factory=dict,
        description="Event data must match: dotted path -> value, or a list of accepted values.",
    )
    deployment: str = Field(
        pattern=DEPLOYMENT_PATTERN, description="The deployment to run: `flow-name/deployment`."
    )
    parameters: dict[str, Any] = Field(
        default_factory=dict,
        description="Run parameters; strings may be `{{ event... }}` templates.",
    )
    name: str | None = Field(
        default=None,
        pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$",
        description="Tells apart two subscriptions of one event to the same deployment.",
    )
    adapter: Literal["envelope", "raw"] = Field(
        default="envelope",
        description="`raw`: accept plain JSON bodies (e.g. Airflow's SnsPublishOperator) as data.",
    )
    data_schema: dict[str, Any] | None = Field(
        default=None,
        alias="schema",
        description="`adapter: raw` only: the JSON schema of the raw body, which `check` "
        "checks the templates against (the producer declares none).",
    )
    max_waiting: int = Field(
        default=10,
        ge=1,
        le=10000,
        description="Backpressure: no new run while this many of the deployment's runs are "
        "scheduled and not started; the messages wait in the queue.",
    )

    @model_validator(mode="after")
    def _schema_only_for_raw(self) -> Subscription:
        if self.data_schema is not None and self.adapter != "raw":
            raise ValueError("`schema` is for `adapter: raw` subscriptions (else the producer's)")
        return self

    @field_validator("parameters")
    @classmethod
    def _templates_compile(cls, value: dict[str, Any]) -> dict[str, Any]:
        check_template(value)
        return value

    @model_validator(mode="after")
    def _event_or_join(self) -> Subscription:
        if (self.event is None) == (self.join is None):
            raise ValueError("give either `event` (one type) or `join` (several), not both")
        if self.join is not None and (self.source is not None or self.adapter != "envelope"):
            raise ValueError("a `join` takes each type from its own domain: no `source`/`adapter`")
        return self

    @property
    def event_types(self) -> list[str]:
        """The types this subscription consumes: its `event`, or every type of its `join`."""
        return list(self.join.events) if self.join is not None else [str(self.event)]

    @property
    def label(self) -> str:
        """What it consumes, for messages: `a.completed` or `a.completed + b.completed`."""
        return " + ".join(self.event_types)

    @property
    def join_id(self) -> str:
        """How the join store names this subscription: its `name`, or its deployment."""
        return self.name or self.deployment

    def source_of(self, event_type: str) -> str:
        """The only domain accepted as the source of `event_type` for this subscription."""
        return self.source or domain_of(event_type)

    @property
    def upstream(self) -> str:
        """The domain whose topic this subscription reads (a join's: its first type's)."""
        return self.source_of(self.event_types[0])


class WorkPool(_Strict):
    """The Prefect work pool a domain's deployments run in (`provision` creates it)."""

    name: str | None = Field(
        default=None,
        pattern=r"^[^/%&><\s]+$",
        description="The pool's name (default: the domain's name, as in prefect.yaml).",
    )
    type: str = Field(
        default="process",
        pattern=r"^[a-z0-9][a-z0-9:_-]*$",
        description="The pool's type: `process` (default), `docker`, `kubernetes`, `ecs`, ...",
    )


class DomainDeclaration(_Strict):
    """A domain: its name, what it publishes, what it subscribes to."""

    domain: str = Field(pattern=DOMAIN_PATTERN, description="The domain's name.")
    description: str | None = None
    prefect_api_url: str | None = Field(
        default=None,
        description="The domain's own Prefect API (`${VAR}` expanded); default: PREFECT_API_URL.",
    )
    fifo: bool = Field(default=False, description="Use FIFO topic/queue (ordered per group).")
    work_pool: WorkPool | None = Field(
        default=None,
        description="The domain's work pool; default: a `process` pool named after the domain, "
        "for a domain that subscribes (its runs need one).",
    )
    publishes: list[Publication] = Field(default_factory=list)
    subscribes: list[Subscription] = Field(default_factory=list)
    expects: list[Expectation] = Field(
        default_factory=list, description="Events that must arrive by a deadline every day."
    )

    @model_validator(mode="after")
    def _one_run_per_subscription(self) -> DomainDeclaration:
        seen: dict[tuple[str, str, str | None], int] = {}
        for index, subscription in enumerate(self.subscribes):
            key = (subscription.label, subscription.deployment, subscription.name)
            if key in seen:
                raise ValueError(
                    f"subscribes[{index}] and subscribes[{seen[key]}] both run "
                    f"{subscription.deployment!r} for {subscription.label!r}: give each a distinct "
                    "`name` (it keeps their runs apart)"
                )
            seen[key] = index
        return self

    @model_validator(mode="after")
    def _publishes_own_types(self) -> DomainDeclaration:
        for index, publication in enumerate(self.publishes):
            if domain_of(publication.type) != self.domain:
                raise ValueError(
                    f"publishes[{index}].type {publication.type!r} must start with "
                    f"'{self.domain}.' (a domain publishes events named after itself)"
                )
        return self

    @model_validator(mode="after")
    def _joins_and_expectations(self) -> DomainDeclaration:
        subscribed = {t for s in self.subscribes for t in s.event_types}
        for index, expectation in enumerate(self.expects):
            if expectation.event not in subscribed:
                raise ValueError(
                    f"expects[{index}].event {expectation.event!r}: the domain must subscribe to "
                    "it (its listener watches for it on the domain's queue)"
                )
        published = {p.type for p in self.publishes}
        needed = [alert_type(self.domain, JOIN_EXPIRED)] if self.joins() else []
        if self.expects:
            needed += [alert_type(self.domain, SLA_MISSED), alert_type(self.domain, SLA_RECOVERED)]
        missing = [t for t in needed if t not in published]
        if missing:
            raise ValueError(
                f"domain {self.domain!r} has joins or expectations, so it publishes their alerts: "
                f"add {', '.join(missing)} to `publishes` (provision then creates its topic)"
            )
        return self

    def joins(self) -> list[Subscription]:
        """The subscriptions that join several event types."""
        return [s for s in self.subscribes if s.join is not None]

    @property
    def keeps_state(self) -> bool:
        """True when the domain's listener needs the durable join/expectation table."""
        return bool(self.joins() or self.expects)

    def resolved_prefect_api_url(self) -> str | None:
        """`prefect_api_url` with `${VAR}` references expanded from the environment."""
        if not self.prefect_api_url:
            return None
        url = os.path.expandvars(self.prefect_api_url)
        if "$" in url:
            raise ConfigError(
                f"domain {self.domain!r}: prefect_api_url {self.prefect_api_url!r} refers to an "
                "environment variable that is not set"
            )
        return url.rstrip("/")

    def pool(self) -> WorkPool | None:
        """The work pool this domain needs, its name filled in; None when it runs nothing."""
        if self.work_pool is None and not self.subscribes:
            return None
        declared = self.work_pool or WorkPool()
        return WorkPool(name=declared.name or self.domain, type=declared.type)

    def subscriptions_for(self, event_type: str) -> list[Subscription]:
        """The subscriptions of this domain to `event_type`."""
        return [s for s in self.subscribes if event_type in s.event_types]

    def upstreams(self) -> dict[str, list[str]]:
        """Upstream domain -> the event types this domain consumes from it."""
        result: dict[str, list[str]] = {}
        for subscription in self.subscribes:
            for event_type in subscription.event_types:
                types = result.setdefault(subscription.source_of(event_type), [])
                if event_type not in types:
                    types.append(event_type)
        return result


class Federation(BaseModel):
    """Every domain declaration known here, checked against each other."""

    model_config = ConfigDict(frozen=True)

    domains: dict[str, DomainDeclaration]

    def __iter__(self) -> Iterator[DomainDeclaration]:  # type: ignore[override]
        return iter(self.domains.values())

    def domain(self, name: str) -> DomainDeclaration:
        """The declaration of `name`, or a ConfigError listing the known domains."""
        try:
            return self.domains[name]
        except KeyError:
            known = ", ".join(sorted(self.domains)) or "none"
            raise ConfigError(f"unknown domain {name!r}; declared domains: {known}") from None

    def publication(self, event_type: str) -> Publication | None:
        """The declaration of `event_type` by its publisher, if that domain is declared here."""
        owner = self.domains.get(domain_of(event_type))
        if owner is None:
            return None
        return next((p for p in owner.publishes if p.type == event_type), None)

    def publishers(self) -> list[DomainDeclaration]:
        return [d for d in self if d.publishes]

    def subscribers(self) -> list[DomainDeclaration]:
        return [d for d in self if d.subscribes]

    def by_prefect_server(self) -> dict[str | None, list[str]]:
        """Prefect API URL (None: the current one) -> the domains that live there."""
        groups: dict[str | None, list[str]] = {}
        for declaration in self:
            groups.setdefault(declaration.resolved_prefect_api_url(), []).append(declaration.domain)
        return groups
