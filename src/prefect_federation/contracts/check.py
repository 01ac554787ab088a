"""`prefect-federation check`: every subscription against both of its sides, statically.

For each subscription: its producer is declared and publishes the type; every template parses
and reads only `event.<attribute>`s that exist; every `event.data.<path>` read exists in the
producer's contract and is always there (or has a `| default(...)`); every `filter` path exists
and its values can match; the parameters rendered from a sample of the contract fit the target
flow's parameter schema (Prefect's own, from `prefect.yaml` -> entrypoint), types included; every
required flow parameter is given. Every problem is reported, not the first.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

from prefect_federation.contracts.models import Contract
from prefect_federation.contracts.problems import Problem
from prefect_federation.contracts.reads import TemplateReads, reads_of
from prefect_federation.contracts.schema import json_types, lookup, sample, samples
from prefect_federation.contracts.targets import Target, TargetError, Targets
from prefect_federation.declarations import (
    DomainDeclaration,
    Federation,
    Subscription,
    load_declaration,
)
from prefect_federation.errors import ConfigError, ParameterRenderError
from prefect_federation.events import EventEnvelope
from prefect_federation.templates import render_value

__all__ = ["check_subscription", "check_subscriptions", "load_all", "subscription_label"]

ENVELOPE_ATTRIBUTES = tuple(EventEnvelope.model_fields)


def _did_you_mean(word: str, options: list[str] | tuple[str, ...]) -> str:
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return f"; did you mean `{close[0]}`?" if close else ""


def subscription_label(index: int, subscription: Subscription) -> str:
    """`subscribes[0] (scoring.completed -> write-risk-report/reporting)`."""
    name = f" {subscription.name}" if subscription.name else ""
    return f"subscribes[{index}] ({subscription.event} -> {subscription.deployment}{name})"


def load_all(path: Path) -> tuple[Federation, list[Problem]]:
    """Every declaration under `path` that loads; a problem for each that does not."""
    if path.is_file():
        files = [path]
    elif path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix in {".yaml", ".yml"} and p.is_file())
    else:
        raise ConfigError(f"{path}: no such declaration file or directory")
    if not files:
        raise ConfigError(f"{path}: no domain declarations (*.yaml) found")
    domains: dict[str, DomainDeclaration] = {}
    problems: list[Problem] = []
    for file in files:
        try:
            declaration = load_declaration(file)
        except ConfigError as exc:
            problems.append(Problem("declaration", str(exc)))
            continue
        if declaration.domain in domains:
            problems.append(
                Problem("declaration", f"{file}: domain {declaration.domain!r} declared twice")
            )
            continue
        domains[declaration.domain] = declaration
    return Federation(domains=domains), problems


def check_subscriptions(
    federation: Federation, contracts: dict[str, Contract], targets: Targets | None
) -> list[Problem]:
    """The problems of every subscription of every domain."""
    return [
        problem
        for consumer in federation
        for index, subscription in enumerate(consumer.subscribes)
        for problem in check_subscription(
            federation, contracts, targets, consumer.domain, index, subscription
        )
    ]


class _Context:
    """What one subscription's checks share: where it is, and its producer's contract."""

    def __init__(self, consumer: str, label: str, producer: str, contract: Contract | None):
        self.consumer, self.label, self.producer, self.contract = (
            consumer,
            label,
            producer,
            contract,
        )

    def problem(
        self, rule: str, message: str, field: str | None = None, severity: str = "error"
    ) -> Problem:
        return Problem(
            rule,
            message,
            consumer=self.consumer,
            subscription=self.label,
            producer=self.producer,
            field=field,
            severity="warning" if severity == "warning" else "error",
        )

    @property
    def of(self) -> str:
        """`scoring.completed v1 (producer scoring)`."""
        assert self.contract is not None
        if self.contract.origin.startswith("raw"):
            return f"the raw body schema of {self.contract.type} (producer {self.producer})"
        return f"{self.contract.type} v{self.contract.version} (producer {self.producer})"


def _contract_for(
    federation: Federation,
    contracts: dict[str, Contract],
    consumer: str,
    index: int,
    subscription: Subscription,
) -> tuple[Contract | None, list[Problem]]:
    ctx = _Context(consumer, subscription_label(index, subscription), subscription.upstream, None)
    if subscription.adapter == "raw" and subscription.data_schema is not None:
        origin = f"raw body schema of {consumer} subscribes[{index}]"
        return Contract(
            type=subscription.event,
            version=1,
            producer=subscription.upstream,
            data_schema=subscription.data_schema,
            origin=origin,
        ), []
    producer = federation.domains.get(subscription.upstream)
    if producer is None:
        if subscription.adapter == "raw":
            return None, [
                ctx.problem(
                    "no-contract",
                    f"raw bodies from {subscription.upstream!r} are not described: give the "
                    "subscription a `schema:` of the body to have its templates checked",
                    severity="warning",
                )
            ]
        known = sorted(federation.domains)
        return None, [
            ctx.problem(
                "unknown-producer",
                f"producer domain {subscription.upstream!r} is not declared"
                + _did_you_mean(subscription.upstream, known)
                + " (an external producer gets a declaration with only `publishes:`, like "
                "deployments/vendor.yaml)",
            )
        ]
    published = [p.type for p in producer.publishes]
    if subscription.event not in published:
        return None, [
            ctx.problem(
                "not-published",
                f"producer {producer.domain!r} does not publish {subscription.event!r} (it "
                f"publishes: {', '.join(published) or 'nothing'})"
                + _did_you_mean(subscription.event, published),
            )
        ]
    contract = contracts.get(subscription.event)
    if contract is not None and not contract.declared:
        return None, [
            ctx.problem(
                "no-contract",
                f"{subscription.event} (producer {producer.domain}) declares no `model` or "
                "`schema`: its reads are not checked",
                severity="warning",
            )
        ]
    return contract, []  # None: the model failed to import (reported once, for the producer)


def check_subscription(
    federation: Federation,
    contracts: dict[str, Contract],
    targets: Targets | None,
    consumer: str,
    index: int,
    subscription: Subscription,
) -> list[Problem]:
    """The problems of one subscription."""
    contract, problems = _contract_for(federation, contracts, consumer, index, subscription)
    ctx = _Context(
        consumer, subscription_label(index, subscription), subscription.upstream, contract
    )
    templates = reads_of(subscription.parameters)
    problems += _template_problems(ctx, templates)
    if contract is not None:
        problems += _filter_problems(ctx, subscription)
    if targets is not None:
        problems += _target_problems(ctx, subscription, templates, targets)
    return problems


def _template_problems(ctx: _Context, templates: list[TemplateReads]) -> list[Problem]:
    problems = []
    for template in templates:
        if template.syntax_error is not None:
            problems.append(
                ctx.problem("template-syntax", f"not a valid template: {template.syntax_error}")
            )
        for read in template.reads:
            field = template.where
            if read.root != "event":
                problems.append(
                    ctx.problem(
                        "unknown-root",
                        f"`{read.dotted}`: templates see only `event`"
                        + _did_you_mean(read.root, ["event"]),
                        field,
                    )
                )
                continue
            if not read.path:
                continue
            if read.path[0] not in ENVELOPE_ATTRIBUTES:
                problems.append(
                    ctx.problem(
                        "unknown-attribute",
                        f"`{read.dotted}`: the envelope has no attribute `{read.path[0]}`"
                        + _did_you_mean(read.path[0], ENVELOPE_ATTRIBUTES),
                        field,
                    )
                )
                continue
            if read.path[0] == "data" and len(read.path) > 1 and ctx.contract is not None:
                problems += _data_read_problems(ctx, field, list(read.path[1:]), read.defaulted)
    return problems


def _data_read_problems(
    ctx: _Context, field: str, path: list[str], defaulted: bool
) -> list[Problem]:
    assert ctx.contract is not None
    found = lookup(ctx.contract.data_schema, path)
    dotted = "event.data." + ".".join(path)
    if not found.found:
        last = found.missing.rsplit(".", 1)[-1]
        return [
            ctx.problem(
                "unknown-field",
                f"reads `{dotted}`, but {ctx.of} has no `data.{found.missing}`"
                + _did_you_mean(last, found.known),
                field,
            )
        ]
    if not found.required and not found.open and not defaulted:
        return [
            ctx.problem(
                "optional-field",
                f"reads `{dotted}`, which {ctx.of} does not always send (optional or "
                "nullable): give the template a `| default(...)`",
                field,
            )
        ]
    return []


def _filter_problems(ctx: _Context, subscription: Subscription) -> list[Problem]:
    import jsonschema

    assert ctx.contract is not None
    schema = ctx.contract.data_schema
    problems = []
    for path, accepted in subscription.filter.items():
        field = f"filter.{path}"
        found = lookup(schema, path.split("."))
        if not found.found:
            last = found.missing.rsplit(".", 1)[-1]
            problems.append(
                ctx.problem(
                    "filter-field",
                    f"filters on `data.{path}`, which {ctx.of} does not have: it never matches"
                    + _did_you_mean(last, found.known),
                    field,
                )
            )
            continue
        if found.open:
            continue
        validator = jsonschema.Draft202012Validator({**_defs(schema), **found.schema})
        for value in accepted if isinstance(accepted, list) else [accepted]:
            error = jsonschema.exceptions.best_match(validator.iter_errors(value))
            if error is not None:
                problems.append(
                    ctx.problem(
                        "filter-value",
                        f"value {value!r} can never match `data.{path}` of {ctx.of}: "
                        f"{error.message}",
                        field,
                    )
                )
    return problems


def _defs(schema: dict[str, Any]) -> dict[str, Any]:
    return {k: schema[k] for k in ("$defs", "definitions") if k in schema}


def _sample_envelope(contract: Contract | None, event_type: str, source: str) -> dict[str, Any]:
    data = sample(contract.data_schema) if contract is not None else {}
    envelope = EventEnvelope(
        type=event_type, source=source, data=data if isinstance(data, dict) else {}
    )
    return {"event": envelope.model_dump()}


def _target_problems(
    ctx: _Context, subscription: Subscription, templates: list[TemplateReads], targets: Targets
) -> list[Problem]:
    if not targets.available():
        return [
            ctx.problem(
                "no-target",
                f"no {targets.prefect_yaml}: the parameters are not checked against "
                f"{subscription.deployment}'s flow",
                severity="warning",
            )
        ]
    try:
        target = targets.target(subscription.deployment)
    except TargetError as exc:
        return [ctx.problem("unknown-deployment", str(exc), "deployment")]
    problems = []
    flow = subscription.deployment.split("/")[0]
    for name in target.required:
        if name not in subscription.parameters:
            problems.append(
                ctx.problem(
                    "missing-parameter",
                    f"flow {flow} ({target.entrypoint}) requires parameter `{name}`; the "
                    "subscription does not give it",
                    f"parameters.{name}",
                )
            )
    for name in subscription.parameters:
        if name not in target.properties:
            problems.append(
                ctx.problem(
                    "unknown-parameter",
                    f"flow {flow} ({target.entrypoint}) has no parameter `{name}`"
                    + _did_you_mean(name, list(target.properties)),
                    f"parameters.{name}",
                )
            )
    problems += _type_problems(ctx, subscription, templates, target, flow)
    return problems


def _under(where: str, name: str) -> bool:
    prefix = f"parameters.{name}"
    return where == prefix or where.startswith((prefix + ".", prefix + "["))


def _reported(ctx: _Context, template: TemplateReads) -> bool:
    """Whether a problem of the template's reads is reported already (by `_template_problems`)."""
    if template.syntax_error:
        return True
    for read in template.reads:
        if read.root != "event" or (read.path and read.path[0] not in ENVELOPE_ATTRIBUTES):
            return True
        data_read = read.path[:1] == ("data",) and len(read.path) > 1
        contract = ctx.contract
        if data_read and contract and not lookup(contract.data_schema, list(read.path[1:])).found:
            return True
    return False


def _unverifiable(ctx: _Context, templates: list[TemplateReads]) -> bool:
    if ctx.contract is None:
        return any(r.path[:1] == ("data",) for t in templates for r in t.reads)
    schema = ctx.contract.data_schema
    return any(
        lookup(schema, list(r.path[1:])).open
        for t in templates
        for r in t.reads
        if r.path[:1] == ("data",) and len(r.path) > 1
    )


def _type_problems(
    ctx: _Context,
    subscription: Subscription,
    templates: list[TemplateReads],
    target: Target,
    flow: str,
) -> list[Problem]:
    import jsonschema

    context = _sample_envelope(ctx.contract, subscription.event, subscription.upstream)
    by_where = {t.where: t for t in templates}
    problems: list[Problem] = []
    for name, given in subscription.parameters.items():
        mine = [t for w, t in by_where.items() if _under(w, name)]
        if any(_reported(ctx, t) for t in mine):
            continue  # reported already: a sample cannot render it
        if _unverifiable(ctx, mine):
            continue  # it reads a field the contract leaves open: nothing to render it from
        try:
            value = render_value(given, context, f"parameters.{name}")
        except ParameterRenderError as exc:
            problems.append(
                ctx.problem(
                    "parameter-render",
                    f"fails on a sample event of the contract: {exc}",
                    f"parameters.{name}",
                )
            )
            continue
        prop = target.properties.get(name)
        if prop is None:
            continue
        validator = jsonschema.Draft202012Validator({**_defs(target.parameter_schema), **prop})
        template = by_where.get(f"parameters.{name}")
        read = template.single_read if template else None
        candidates = [value]
        field_schema: dict[str, Any] | None = None
        if read is not None and read.path[:1] == ("data",) and ctx.contract is not None:
            found = lookup(ctx.contract.data_schema, list(read.path[1:]))
            if found.found and not found.open:
                field_schema = found.schema
                root = ctx.contract.data_schema
                candidates += samples({**_defs(root), **found.schema}, root)
        for candidate in candidates:
            error = jsonschema.exceptions.best_match(validator.iter_errors(candidate))
            if error is None:
                continue
            takes = "/".join(sorted(json_types(prop, target.parameter_schema))) or "its schema"
            if read is not None and field_schema is not None:
                gives = "/".join(sorted(json_types(field_schema, ctx.contract.data_schema)))  # type: ignore[union-attr]
                source = f"`{read.dotted}` is {gives} in {ctx.of}"
            elif template is not None:
                source = f"the template renders {candidate!r} (a string)"
            else:
                source = f"the subscription gives {candidate!r}"
            problems.append(
                ctx.problem(
                    "parameter-type",
                    f"{source}; flow {flow}'s parameter `{name}` takes {takes} ({error.message})",
                    f"parameters.{name}",
                )
            )
            break
    return problems
