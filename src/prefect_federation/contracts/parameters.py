"""The parameters half of `check`: the subscription's parameters against the target flow's
parameter schema (required and unknown parameters; types, from a sample of the contract)."""

from __future__ import annotations

from typing import Any

from prefect_federation.contracts.models import Contract
from prefect_federation.contracts.problems import Problem
from prefect_federation.contracts.reads import TemplateReads
from prefect_federation.contracts.schema import json_types, lookup, sample, samples
from prefect_federation.contracts.targets import Target, TargetError, Targets
from prefect_federation.contracts.where import ENVELOPE_ATTRIBUTES, Where, defs, did_you_mean
from prefect_federation.declarations import Subscription
from prefect_federation.errors import ParameterRenderError
from prefect_federation.events import EventEnvelope
from prefect_federation.templates import render_value

__all__ = ["target_problems"]


def _sample_envelope(contract: Contract | None, event_type: str, source: str) -> dict[str, Any]:
    data = sample(contract.data_schema) if contract is not None else {}
    envelope = EventEnvelope(
        type=event_type, source=source, data=data if isinstance(data, dict) else {}
    )
    return {"event": envelope.model_dump()}


def target_problems(
    ctx: Where, subscription: Subscription, templates: list[TemplateReads], targets: Targets
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
                    + did_you_mean(name, list(target.properties)),
                    f"parameters.{name}",
                )
            )
    problems += _type_problems(ctx, subscription, templates, target, flow)
    return problems


def _under(where: str, name: str) -> bool:
    prefix = f"parameters.{name}"
    return where == prefix or where.startswith((prefix + ".", prefix + "["))


def _reported(ctx: Where, template: TemplateReads) -> bool:
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


def _unverifiable(ctx: Where, templates: list[TemplateReads]) -> bool:
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
    ctx: Where,
    subscription: Subscription,
    templates: list[TemplateReads],
    target: Target,
    flow: str,
) -> list[Problem]:
    import jsonschema

    context = _sample_envelope(ctx.contract, subscription.label, subscription.upstream)
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
        validator = jsonschema.Draft202012Validator({**defs(target.parameter_schema), **prop})
        template = by_where.get(f"parameters.{name}")
        read = template.single_read if template else None
        candidates = [value]
        field_schema: dict[str, Any] | None = None
        if read is not None and read.path[:1] == ("data",) and ctx.contract is not None:
            found = lookup(ctx.contract.data_schema, list(read.path[1:]))
            if found.found and not found.open:
                field_schema = found.schema
                root = ctx.contract.data_schema
                candidates += samples({**defs(root), **found.schema}, root)
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
