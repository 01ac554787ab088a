"""`explain EVENT_ID`: why did (or didn't) a downstream run start for this event?

- `models`: the answer (`EventExplanation`, per domain and subscription, with an `Outcome`);
- `reasons` (pure): the sentences: SNS filter policy evaluated locally (`policy_accepts`), type,
  source, data filter with the value that failed, and what happened (`outcome_of`);
- `judge` (pure): `judge_domains` puts one event against every declared domain;
- `gather` (I/O): `ExplainSources` (archive, Prefect servers, queues), `explain_event`;
- `render`: the tree, like `trace`'s.
"""

from prefect_federation.explain.gather import ExplainSources, explain_event
from prefect_federation.explain.judge import judge_domains
from prefect_federation.explain.models import (
    DomainVerdict,
    EventExplanation,
    Observed,
    Outcome,
    Publication,
    SubscriptionVerdict,
)
from prefect_federation.explain.reasons import (
    filter_reason,
    outcome_of,
    policy_accepts,
    policy_reason,
    subscription_reason,
)
from prefect_federation.explain.render import render_explanation, summary

__all__ = [
    "DomainVerdict",
    "EventExplanation",
    "ExplainSources",
    "Observed",
    "Outcome",
    "Publication",
    "SubscriptionVerdict",
    "explain_event",
    "filter_reason",
    "judge_domains",
    "outcome_of",
    "policy_accepts",
    "policy_reason",
    "render_explanation",
    "subscription_reason",
    "summary",
]
