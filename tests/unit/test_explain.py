"""`explain`'s pure parts: the SNS filter policy evaluated locally, the reasons, the outcomes."""

from __future__ import annotations

from datetime import UTC, datetime
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
from prefect_federation.explain.joined import join_note
from prefect_federation.joins.models import JoinRecord, JoinStatus
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
    assert "not subscribed to a's topic: c" in text  # one line for every such domain
    assert not c.reads_topic


def test_an_event_found_nowhere_is_not_ok() -> None:
    assert not EventExplanation(event_id=uuid4(), found=False).ok


def joining(**fields: object) -> Subscription:
    return sub(
        name="report",
        join={"events": ["a.done", "b.done"], "key": "{{ event.data.day }}", "within": "1h"},
        **fields,
    )


def test_a_join_subscription_is_for_each_of_its_types_from_each_types_domain() -> None:
    assert subscription_reason(joining(), make_event("a.done")) is None
    assert subscription_reason(joining(), make_event("b.done")) is None
    assert subscription_reason(joining(), make_event("c.done")) == (
        "subscribes to 'a.done + b.done', not 'c.done'"
    )
    assert subscription_reason(joining(), make_event("b.done", source="a")) == (
        "accepts 'b.done' only from 'b', not from 'a'"
    )


def join_records(
    first_id: str, *, status: JoinStatus = "open", late: list[str] | None = None
) -> list[JoinRecord]:
    first = make_event("a.done", id=first_id, data={"day": "d1"})
    return [
        JoinRecord(
            item_id="join#report#other",
            subscription="report",
            key="other",
            arrivals={"a.done": make_event("a.done").to_json()},
            first_at=datetime(2026, 12, 1, tzinfo=UTC),
            expires_at=datetime(2026, 12, 1, 1, tzinfo=UTC),
            status="open",
        ),
        JoinRecord(
            item_id="join#report#d1",
            subscription="report",
            key="d1",
            arrivals={"a.done": first.to_json()},
            first_at=datetime(2026, 12, 1, tzinfo=UTC),
            expires_at=datetime(2026, 12, 1, 1, tzinfo=UTC),
            status=status,
            late=late or [],
        ),
    ]


def test_an_event_waiting_in_its_join_names_the_key_what_is_missing_and_until_when() -> None:
    event_id = uuid4()
    note = join_note(joining(), join_records(str(event_id)), event_id)
    assert note is not None
    outcome = outcome_of(Observed(join=note))
    assert (outcome.status, outcome.ok) == ("join-waiting", False)
    assert outcome.sentence == (
        "join [d1]: arrived (a.done so far); waiting for b.done until 2026-12-01 01:00:00Z"
    )


def test_an_expired_join_names_the_type_that_never_came() -> None:
    event_id = uuid4()
    records = join_records(str(event_id), status="expired")
    note = join_note(joining(), records, event_id)
    assert note is not None
    outcome = outcome_of(Observed(join=note))
    assert outcome.status == "join-expired"
    assert "expired at 2026-12-01 01:00:00Z with a.done; b.done never came" in outcome.sentence


def test_an_event_after_its_join_was_started_is_late() -> None:
    late_id = uuid4()
    records = join_records(str(uuid4()), status="started", late=[f"b.done {late_id}"])
    note = join_note(joining(), records, late_id)
    assert note is not None
    assert (note.status, note.closed) == ("late", "started")
    outcome = outcome_of(Observed(join=note))
    assert outcome.status == "join-late"
    assert "arrived after the join was started: recorded as late" in outcome.sentence


def test_an_event_no_join_record_holds_has_no_note() -> None:
    records = join_records(str(uuid4()))
    assert join_note(joining(), records, uuid4()) is None
    other = sub(
        name="other", join={"events": ["a.done", "b.done"], "key": "{{ event.id }}", "within": "1h"}
    )
    assert join_note(other, records, uuid4()) is None


def test_judge_names_a_join_subscription_by_its_types_and_renders_its_note() -> None:
    from rich.console import Console

    reporting = DomainDeclaration.model_validate(
        {
            "domain": "r",
            "publishes": [{"type": "r.join.expired"}],
            "subscribes": [
                {
                    "name": "report",
                    "deployment": "f/d",
                    "join": {
                        "events": ["a.done", "b.done"],
                        "key": "{{ event.data.day }}",
                        "within": "1h",
                    },
                }
            ],
        }
    )
    federation = build_federation([("r", reporting)])
    event = make_event("a.done", {"day": "d1"})
    (note,) = [join_note(reporting.subscribes[0], join_records(str(event.id)), event.id)]
    assert note is not None

    (verdict,) = judge_domains(federation, event, lambda d, s: Observed(join=note))
    (subscription,) = verdict.subscriptions
    assert subscription.event == "a.done + b.done"
    explanation = EventExplanation(event_id=event.id, found=True, domains=[verdict])
    console = Console(width=200, record=True)
    console.print(render_explanation(explanation))
    assert "f/d (report): join [d1]: arrived (a.done so far); waiting for b.done" in (
        console.export_text()
    )
