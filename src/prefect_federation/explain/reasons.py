"""Why an event does or does not reach a subscription, in sentences (pure: no I/O).

Each function takes declarations and an event and says, in one sentence, why a domain's
subscription is not for it: the SNS filter policy (evaluated here, as SNS would), the type, the
source, or the data filter with the value that failed. `outcome_of` turns what was observed of
one matching subscription (its run, a dead letter, a pause, a hold) into what happened.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from prefect_federation.declarations import DomainDeclaration, Subscription
from prefect_federation.events import EventEnvelope
from prefect_federation.explain.models import Observed, Outcome, Status
from prefect_federation.provision.policies import filter_policy
from prefect_federation.trace.records import FINAL_STATES

__all__ = [
    "FAILED_STATES",
    "domain_filter_policy",
    "filter_reason",
    "outcome_of",
    "policy_accepts",
    "policy_reason",
    "subscription_reason",
]

FAILED_STATES = FINAL_STATES - {"COMPLETED"}
_JOIN_STATUS: dict[str, Status] = {
    "open": "join-waiting",
    "expired": "join-expired",
    "late": "join-late",
    "started": "missing",  # complete, but its run was not found
}
_MISSING = object()


def domain_filter_policy(domain: DomainDeclaration, upstream: str) -> dict[str, Any] | None:
    """The filter policy `provision` puts on `domain`'s subscription to `upstream`'s topic; None
    when the domain does not subscribe to that topic at all."""
    types = domain.upstreams().get(upstream)
    if types is None:
        return None
    raw = any(s.adapter == "raw" and s.upstream == upstream for s in domain.subscribes)
    return filter_policy(types, accept_untyped=raw)


def _condition_accepts(condition: Any, value: str | None) -> bool:
    if isinstance(condition, dict):
        if "exists" in condition:
            return (value is not None) is bool(condition["exists"])
        if "prefix" in condition:
            return value is not None and value.startswith(str(condition["prefix"]))
        if "anything-but" in condition:
            excluded = condition["anything-but"]
            excluded = excluded if isinstance(excluded, list) else [excluded]
            return value is not None and value not in [str(e) for e in excluded]
        raise ValueError(f"filter policy operator {sorted(condition)} is not evaluated here")
    return value is not None and value == str(condition)


def policy_accepts(policy: Mapping[str, Any], attributes: Mapping[str, str]) -> bool:
    """SNS's attribute filter policy, evaluated locally: every key must accept (an `$or` of
    policies: any of them); a key's list accepts when one of its values or operators does."""
    for key, conditions in policy.items():
        if key == "$or":
            if not any(policy_accepts(p, attributes) for p in conditions):
                return False
            continue
        options = conditions if isinstance(conditions, list) else [conditions]
        if not any(_condition_accepts(c, attributes.get(key)) for c in options):
            return False
    return True


def policy_reason(domain: DomainDeclaration, envelope: EventEnvelope) -> str | None:
    """Why SNS does not deliver the event to `domain`'s queue; None when it does."""
    policy = domain_filter_policy(domain, envelope.source)
    if policy is None:
        subscribed = ", ".join(sorted(domain.upstreams())) or "no topic"
        return (
            f"{domain.domain} does not subscribe to {envelope.source}'s topic (it reads: "
            f"{subscribed})"
        )
    attributes = {k: v["StringValue"] for k, v in envelope.message_attributes().items()}
    if not policy_accepts(policy, attributes):
        return (
            f"the SNS filter policy of {domain.domain}'s subscription to {envelope.source} "
            f"({_policy_text(policy)}) does not accept type {envelope.type!r}"
        )
    return None


def _policy_text(policy: Mapping[str, Any]) -> str:
    import json

    return json.dumps(policy, separators=(",", ":"))


def _lookup(data: Any, path: str) -> Any:
    value = data
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return _MISSING
        value = value[part]
    return value


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return bool(a == b)


def filter_reason(subscription: Subscription, data: Mapping[str, Any]) -> str | None:
    """The first data filter the event's data fails, with the value; None when all pass."""
    for path, accepted in subscription.filter.items():
        options = accepted if isinstance(accepted, list) else [accepted]
        value = _lookup(data, path)
        if value is _MISSING:
            return f"data filter {path}: the event's data has no {path!r}"
        if not any(_same(value, o) for o in options):
            wanted = options[0] if len(options) == 1 else options
            return f"data filter {path}: {value!r} is not {wanted!r}"
    return None


def subscription_reason(subscription: Subscription, envelope: EventEnvelope) -> str | None:
    """Why the subscription is not for this event by type or source; None when it is (the
    data filter is `filter_reason`: a filtered event was still delivered and received)."""
    if envelope.type not in subscription.event_types:
        return f"subscribes to {subscription.label!r}, not {envelope.type!r}"
    if subscription.source_of(envelope.type) != envelope.source:
        return (
            f"accepts {envelope.type!r} only from {subscription.source_of(envelope.type)!r}, "
            f"not from {envelope.source!r}"
        )
    return None


def outcome_of(observed: Observed) -> Outcome:
    """What happened to one matching subscription, from what was observed, in one sentence.

    A run wins over everything else (whatever else is seen, it started); then the dead letter,
    the event's place in its join (waiting for the others, expired, late), a skip record, a
    pause, a hold for capacity, the queue's contents; `ok` is True when a run exists and has
    not failed (or the data filter left the event out on purpose).
    """
    run = observed.run
    if observed.filtered is not None:
        return Outcome(status="filtered", ok=True, sentence=f"filtered: {observed.filtered}")
    if run is not None:
        label = run.state_name or run.state.title()
        where = f" {run.url}" if run.url else ""
        if run.state in FAILED_STATES:
            message = f": {run.message}" if run.message else ""
            return Outcome(
                status="run-failed", ok=False, sentence=f"run {run.name} {label}{message}{where}"
            )
        if run.state == "COMPLETED":
            return Outcome(status="ran", ok=True, sentence=f"run {run.name} {label}{where}")
        return Outcome(
            status="run-created", ok=True, sentence=f"run {run.name} created, {label}{where}"
        )
    if observed.dead_letter is not None:
        letter = observed.dead_letter
        return Outcome(
            status="dead-lettered",
            ok=False,
            sentence=f"dead-lettered: {letter.reason or 'no reason recorded'} (still in the DLQ, "
            f"message {letter.message_id}: `prefect-federation dlq show`)",
        )
    if observed.join is not None:
        from prefect_federation.explain.joined import join_sentence

        return Outcome(
            status=_JOIN_STATUS[observed.join.status],
            ok=False,
            sentence=join_sentence(observed.join),
        )
    if observed.skipped is not None:
        return Outcome(
            status="skipped",
            ok=False,
            sentence=f"skipped while paused ({observed.skipped}); "
            "`prefect-federation replay --skipped --domain D` brings it back",
        )
    if observed.paused is not None:
        return Outcome(status="paused", ok=False, sentence=f"paused: {observed.paused}")
    if observed.held_back is not None:
        return Outcome(status="held-back", ok=False, sentence=f"held back: {observed.held_back}")
    if observed.queued:
        return Outcome(
            status="waiting",
            ok=False,
            sentence=f"no run yet: still waiting in the queue ({observed.queued} message(s) "
            "there; is its listener running? `prefect-federation status`)",
        )
    return Outcome(
        status="missing",
        ok=False,
        sentence="no run, not in the DLQ and the queue is empty: was the domain provisioned "
        "(subscribed) when the event was published? `prefect-federation replay` re-sends it",
    )
