"""Put one event against every declared domain (pure: what was observed comes in a callback)."""

from __future__ import annotations

from collections.abc import Callable

from prefect_federation.declarations import DomainDeclaration, Federation, Subscription
from prefect_federation.events import EventEnvelope
from prefect_federation.explain.models import DomainVerdict, Observed, Outcome, SubscriptionVerdict
from prefect_federation.explain.reasons import (
    filter_reason,
    outcome_of,
    policy_reason,
    subscription_reason,
)

__all__ = ["Observe", "judge_domains"]

Observe = Callable[[DomainDeclaration, Subscription], Observed]
"""(domain, subscription the event is for) -> what was observed of it (runs, DLQ, pause ...)."""


def judge_domains(
    federation: Federation,
    envelope: EventEnvelope,
    observe: Observe,
    *,
    data_known: bool = True,
) -> list[DomainVerdict]:
    """For each subscribing domain: is the event delivered to it and why not; for each of its
    subscriptions: is the event for it and why not, and if it is, what happened.

    `data_known` False (the event was not in the archive, only in a run's labels): data filters
    cannot be evaluated and are taken as passed.
    """
    verdicts = []
    for domain in federation.subscribers():
        refused = policy_reason(domain, envelope)
        subscriptions = []
        for subscription in domain.subscribes:
            reason = refused or subscription_reason(subscription, envelope)
            if reason is not None:
                subscriptions.append(_verdict(subscription, matches=False, reason=reason))
                continue
            failed = filter_reason(subscription, envelope.data) if data_known else None
            observed = observe(domain, subscription)
            if failed is not None and observed.run is None:
                observed = observed.model_copy(update={"filtered": failed})
            outcome = outcome_of(observed)
            subscriptions.append(
                _verdict(
                    subscription,
                    matches=True,
                    received=observed.run is not None and observed.received,
                    outcome=outcome,
                    observed=observed,
                )
            )
        verdicts.append(
            DomainVerdict(
                domain=domain.domain,
                delivered=refused is None,
                reads_topic=envelope.source in domain.upstreams(),  # the topics it subscribes to
                reason=refused,
                subscriptions=subscriptions,
            )
        )
    return verdicts


def _verdict(
    subscription: Subscription,
    *,
    matches: bool,
    reason: str | None = None,
    received: bool | None = None,
    outcome: Outcome | None = None,
    observed: Observed | None = None,
) -> SubscriptionVerdict:
    return SubscriptionVerdict(
        event=subscription.label,
        deployment=subscription.deployment,
        name=subscription.name,
        matches=matches,
        reason=reason,
        received=received if observed is not None and observed.run is not None else None,
        outcome=outcome,
        run=observed.run if observed is not None else None,
    )
