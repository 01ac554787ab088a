"""`explain`'s pure parts: the SNS filter policy evaluated locally, the reasons, the outcomes."""

from __future__ import annotations

from uuid import uuid4

import pytest

from prefect_federation.declarations import DomainDeclaration, Subscription, build_federation
from prefect_federation.dlq.models import DeadLetter
from prefect_federation.explain import (
    EventExplanation,
    Observed,
    filter_reason,
    judge_domains,
    outcome_of,
    policy_accepts,
    policy_reason,
    render_explanation,
    subscription_reason,
)
from prefect_federation.provision.policies import filter_policy
from prefect_federation.testing import make_event
from prefect_federation.trace.records import RunRecord


def sub(**fields: object) -> Subscription:
    return Subscription.model_validate({"deployment": "f/d", **fields})


def domain(name: str, *subscriptions: dict[str, object]) -> DomainDeclaration:
    return DomainDeclaration.model_validate(
        {"domain": name, "subscribes": [{"deployment": "f/d", **s} for s in subscriptions]}
    )


@pytest.mark.parametrize(
    ("policy", "attributes", "accepted"),
    [
        (filter_policy(["a.done"]), {"type": "a.done"}, True),
        (filter_policy(["a.done"]), {"type": "a.other"}, False),
        (filter_policy(["a.done"]), {}, False),
        (filter_policy(["a.done"], accept_untyped=True), {}, True),
        (filter_policy(["a.done"], accept_untyped=True), {"type": "a.x"}, False),
        ({"type": [{"prefix": "a."}]}, {"type": "a.x"}, True),
        ({"type": [{"anything-but": ["a.x"]}]}, {"type": "a.x"}, False),
    ],
)
def test_the_sns_filter_policy_is_evaluated_as_sns_does(
    policy: dict[str, object], attributes: dict[str, str], accepted: bool
) -> None:
    assert policy_accepts(policy, attributes) is accepted


def test_a_domain_not_reading_the_sources_topic_is_named_with_what_it_reads() -> None:
    reason = policy_reason(domain("b", {"event": "x.done"}), make_event("a.done"))
    assert reason == "b does not subscribe to a's topic (it reads: x)"


def test_a_type_the_filter_policy_refuses_names_the_policy() -> None:
    reason = policy_reason(domain("b", {"event": "a.done"}), make_event("a.other"))
    assert reason is not None
    assert "SNS filter policy" in reason
    assert "'a.other'" in reason
    assert '{"type":["a.done"]}' in reason


def test_type_and_source_reasons() -> None:
    assert subscription_reason(sub(event="a.done"), make_event("a.other")) == (
        "subscribes to 'a.done', not 'a.other'"
    )
    assert subscription_reason(sub(event="a.done", source="c"), make_event("a.done")) == (
        "accepts 'a.done' only from 'c', not from 'a'"
    )
    assert subscription_reason(sub(event="a.done"), make_event("a.done")) is None


def test_the_data_filter_names_the_path_and_the_failing_value() -> None:
    subscription = sub(event="a.done", filter={"region": ["north", "south"], "n": 1})
    assert filter_reason(subscription, {"region": "east", "n": 1}) == (
        "data filter region: 'east' is not ['north', 'south']"
    )
    assert filter_reason(subscription, {"region": "north", "n": True}) == (
        "data filter n: True is not 1"
    )
    assert filter_reason(subscription, {"n": 1}) == (
        "data filter region: the event's data has no 'region'"
    )
    assert filter_reason(subscription, {"region": "south", "n": 1.0}) is None


def run(state: str, **fields: object) -> RunRecord:
    return RunRecord.model_validate(
        {"id": uuid4(), "name": "r1", "server": "http://s/api", "state": state, **fields}
    )


def letter(reason: str) -> DeadLetter:
    return DeadLetter(
        message_id="m-1", receipt_handle="h", body="{}", body_preview="{}", reason=reason
    )


@pytest.mark.parametrize(
    ("observed", "status", "ok", "words"),
    [
        (Observed(run=run("COMPLETED", url="http://ui/r")), "ran", True, "run r1 Completed"),
        (Observed(run=run("SCHEDULED")), "run-created", True, "run r1 created, Scheduled"),
        (
            Observed(run=run("FAILED", message="boom")),
            "run-failed",
            False,
            "run r1 Failed: boom",
        ),
        (Observed(filtered="data filter r: 'x' is not 'y'"), "filtered", True, "'x' is not 'y'"),
        (
            Observed(dead_letter=letter("ParameterSchemaError: rows")),
            "dead-lettered",
            False,
            "dead-lettered: ParameterSchemaError: rows (still in the DLQ",
        ),
        (Observed(paused="hold since 10:00 by ann: deploy"), "paused", False, "paused: hold"),
        (Observed(held_back="concurrency limit 1"), "held-back", False, "held back: concurrency"),
        (Observed(skipped="skip by ann"), "skipped", False, "skipped while paused"),
        (Observed(queued=3), "waiting", False, "still waiting in the queue (3 message(s)"),
        (Observed(), "missing", False, "not in the DLQ and the queue is empty"),
    ],
)
def test_what_happened_is_one_sentence(
    observed: Observed, status: str, ok: bool, words: str
) -> None:
    outcome = outcome_of(observed)
    assert (outcome.status, outcome.ok) == (status, ok)
    assert words in outcome.sentence


def test_a_run_wins_over_a_dead_letter_of_an_earlier_delivery() -> None:
    outcome = outcome_of(Observed(run=run("COMPLETED"), dead_letter=letter("x")))
    assert outcome.status == "ran"


def test_judge_puts_the_event_against_every_subscribing_domain() -> None:
    federation = build_federation(
        [
            (
                "a",
                DomainDeclaration.model_validate(
                    {"domain": "a", "publishes": [{"type": "a.done"}]}
                ),
            ),
            (
                "b",
                domain(
                    "b",
                    {"event": "a.done"},
                    {"event": "a.done", "name": "north", "filter": {"r": "n"}},
                ),
            ),
            ("c", domain("c", {"event": "x.other"})),
        ]
    )
    envelope = make_event("a.done", {"r": "s"})
    seen: list[str] = []

    def observe(d: DomainDeclaration, s: Subscription) -> Observed:
        seen.append(f"{d.domain}:{s.name}")
        return Observed(queued=1)

    b, c = judge_domains(federation, envelope, observe)
    assert b.delivered
    assert not c.delivered
    assert [s.outcome.status for s in b.subscriptions if s.outcome] == ["waiting", "filtered"]
    assert c.reason == "c does not subscribe to a's topic (it reads: x)"
    assert seen == ["b:None", "b:north"]
    explanation = EventExplanation(
        event_id=envelope.id, found=True, type=envelope.type, source="a", domains=[b, c]
    )
    assert not explanation.ok
    from rich.console import Console

    console = Console(width=200, record=True)
    console.print(render_explanation(explanation))
    text = console.export_text()
    assert "2 matching subscription(s): 0 ran, 1 filtered out, 1 did not" in text
    assert "f/d (north): filtered: data filter r: 's' is not 'n'" in text


def test_an_event_found_nowhere_is_not_ok() -> None:
    assert not EventExplanation(event_id=uuid4(), found=False).ok
