"""`prefect-federation check`: every subscription against both of its sides, statically.

For each subscription: its producer is declared and publishes the type; every template parses
and reads only `event.<attribute>`s that exist; every `event.data.<path>` read exists in the
producer's contract and is always there (or has a `| default(...)`); every `filter` path exists
and its values can match; the parameters rendered from a sample of the contract fit the target
flow's parameter schema (Prefect's own, from `prefect.yaml` -> entrypoint), types included; every
required flow parameter is given. Every problem is reported, not the first.
"""

from __future__ import annotations

from pathlib import Path

from prefect_federation.contracts.models import Contract
from prefect_federation.contracts.parameters import target_problems
from prefect_federation.contracts.problems import Problem
from prefect_federation.contracts.reads import TemplateReads, reads_of
from prefect_federation.contracts.schema import lookup
from prefect_federation.contracts.targets import Targets
from prefect_federation.contracts.where import ENVELOPE_ATTRIBUTES, Where, defs, did_you_mean
from prefect_federation.declarations import (
    DomainDeclaration,
    Federation,
    Subscription,
    load_declaration,
)
from prefect_federation.errors import ConfigError

__all__ = ["check_subscription", "check_subscriptions", "load_all", "subscription_label"]


def subscription_label(index: int, subscription: Subscription) -> str:
    """`subscribes[0] (scoring.completed from scoring -> write-risk-report/reporting)`: the
    producer is named in every problem of the subscription."""
    name = f" {subscription.name}" if subscription.name else ""
    if subscription.join is not None:
        return f"subscribes[{index}] (join {subscription.label} -> {subscription.deployment}{name})"
    return (
        f"subscribes[{index}] ({subscription.event} from {subscription.upstream} -> "
        f"{subscription.deployment}{name})"
    )


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
        for problem in (
            check_join_key(contracts, consumer.domain, index, subscription)
            if subscription.join is not None  # its types and parameters: joins.checks, at load
            else check_subscription(
                federation, contracts, targets, consumer.domain, index, subscription
            )
        )
    ]


def check_join_key(
    contracts: dict[str, Contract], consumer: str, index: int, subscription: Subscription
) -> list[Problem]:
    """A join's key must render from every joined type's contract (each `event.data` field it
    reads is one the type always sends), and its parameters' `events['<type>'].data` reads from
    that type's."""
    assert subscription.join is not None
    label = subscription_label(index, subscription)

    def where(event_type: str) -> Where | None:
        contract = contracts.get(event_type)
        if contract is None or not contract.declared:
            return None
        return Where(consumer, label, subscription.source_of(event_type), contract)

    problems: list[Problem] = []
    for event_type in subscription.join.events:
        ctx = where(event_type)
        if ctx is not None:
            problems += _template_problems(ctx, reads_of(subscription.join.key, "join.key"))
    for template in reads_of(subscription.parameters):
        for read in template.reads:
            if read.root != "events" or len(read.path) < 3 or read.path[1] != "data":
                continue
            ctx = where(read.path[0])
            if ctx is not None:
                path = list(read.path[2:])
                problems += _data_read_problems(ctx, template.where, path, read.defaulted)
    return problems


def _contract_for(
    federation: Federation,
    contracts: dict[str, Contract],
    consumer: str,
    index: int,
    subscription: Subscription,
) -> tuple[Contract | None, list[Problem]]:
    ctx = Where(consumer, subscription_label(index, subscription), subscription.upstream, None)
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
                + did_you_mean(subscription.upstream, known)
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
                + did_you_mean(subscription.label, published),
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
    ctx = Where(consumer, subscription_label(index, subscription), subscription.upstream, contract)
    templates = reads_of(subscription.parameters)
    problems += _template_problems(ctx, templates)
    if contract is not None:
        problems += _filter_problems(ctx, subscription)
    if targets is not None:
        problems += target_problems(ctx, subscription, templates, targets)
    return problems


def _template_problems(ctx: Where, templates: list[TemplateReads]) -> list[Problem]:
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
                        + did_you_mean(read.root, ["event"]),
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
                        + did_you_mean(read.path[0], ENVELOPE_ATTRIBUTES),
                        field,
                    )
                )
                continue
            if read.path[0] == "data" and len(read.path) > 1 and ctx.contract is not None:
                problems += _data_read_problems(ctx, field, list(read.path[1:]), read.defaulted)
    return problems


def _data_read_problems(ctx: Where, field: str, path: list[str], defaulted: bool) -> list[Problem]:
    assert ctx.contract is not None
    found = lookup(ctx.contract.data_schema, path)
    dotted = "event.data." + ".".join(path)
    if not found.found:
        last = found.missing.rsplit(".", 1)[-1]
        return [
            ctx.problem(
                "unknown-field",
                f"reads `{dotted}`, but {ctx.of} has no `data.{found.missing}`"
                + did_you_mean(last, found.known),
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


def _filter_problems(ctx: Where, subscription: Subscription) -> list[Problem]:
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
                    + did_you_mean(last, found.known),
                    field,
                )
            )
            continue
        if found.open:
            continue
        validator = jsonschema.Draft202012Validator({**defs(schema), **found.schema})
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
