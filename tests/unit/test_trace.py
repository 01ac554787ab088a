"""The chain's tree from plain run records (`build_trace`), its rendering, and the decision of
`wait_for_chain` (`ChainWatch`): pure functions, no Prefect server."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest
from rich.console import Console

from prefect_federation.labels import FEDERATION_TAG, domain_tag, run_labels
from prefect_federation.testing import make_event
from prefect_federation.trace import (
    ChainWatch,
    RunRecord,
    build_trace,
    downstream_runs,
    format_seconds,
    known_servers,
    record_from_flow_run,
    render_trace,
    ui_url_of,
)

T0 = datetime(2026, 11, 24, 12, 0, 0, tzinfo=UTC)
SERVER_A = "http://prefect-a:4200/api"
SERVER_B = "http://prefect-b:4200/api"


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def run(
    domain: str,
    event: UUID | None,
    event_type: str | None = None,
    *,
    cause: UUID | None = None,
    start: float | None = None,
    end: float | None = None,
    event_at: float = 0.0,
    state: str = "COMPLETED",
    server: str = SERVER_A,
    source: str | None = None,
    created: float | None = None,
    message: str | None = None,
) -> RunRecord:
    run_id = uuid4()
    return RunRecord(
        id=run_id,
        name=f"{event_type}-{str(event)[:8]}",
        server=server,
        url=f"{ui_url_of(server)}/runs/flow-run/{run_id}",
        domain=domain,
        deployment=f"{domain}-flow/{domain}",
        state=state,
        message=message,
        created=at(created) if created is not None else (at(start) if start is not None else None),
        start=at(start) if start is not None else None,
        end=at(end) if end is not None else None,
        event_id=event,
        event_type=event_type,
        event_source=source or (event_type.split(".")[0] if event_type else None),
        event_time=at(event_at) if event is not None else None,
        causation_id=cause,
    )


def rendered(trace: Any) -> str:
    out = io.StringIO()
    Console(file=out, width=250, color_system=None).print(render_trace(trace))
    return out.getvalue()


# -- the tree ----------------------------------------------------------------------------------


def test_a_three_domain_chain_becomes_event_run_event_run_event_run() -> None:
    first, second, third = uuid4(), uuid4(), uuid4()
    ingest = run("ingestion", first, "vendor.file-delivered", start=1, end=3)
    master = run(
        "customer-master", second, "ingestion.completed", cause=first, start=4, end=6, event_at=3
    )
    score = run(
        "scoring", third, "customer-master.completed", cause=second, start=7, end=9, event_at=6
    )

    trace = build_trace(first, [score, master, ingest])

    [root] = trace.events
    assert (root.id, root.type, root.source) == (first, "vendor.file-delivered", "vendor")
    assert [r.id for r in root.runs] == [ingest.id]
    [published] = root.runs[0].published
    assert published.id == second
    assert [r.id for r in published.runs] == [master.id]
    [then] = published.runs[0].published
    assert then.id == third
    assert [r.id for r in then.runs] == [score.id]
    assert then.runs[0].published == []
    assert trace.run_count == 3


def test_the_runs_of_one_event_are_ordered_by_start_and_events_by_time() -> None:
    first, late, early = uuid4(), uuid4(), uuid4()
    scoring = run("scoring", first, "customer-master.completed", start=1, end=10)
    later_event = run("reporting", late, "scoring.completed", cause=first, start=9, event_at=8)
    earlier_event = run(
        "notifications", early, "scoring.scores-written", cause=first, start=5, event_at=4
    )
    second_run = run("audit", first, "customer-master.completed", start=2, end=4)

    trace = build_trace(first, [later_event, second_run, earlier_event, scoring])

    [root] = trace.events
    assert [r.domain for r in root.runs] == ["scoring", "audit"]
    assert [e.id for e in root.runs[0].published] == [early, late]


def test_an_event_sits_under_the_run_of_its_source_domain_when_its_cause_started_several() -> None:
    first, completed = uuid4(), uuid4()
    reporting = run("reporting", first, "scoring.completed", start=1, end=5)
    notifications = run("notifications", first, "scoring.completed", start=2, end=6)
    downstream = run("archive", completed, "notifications.sent", cause=first, start=7, event_at=5.5)

    trace = build_trace(first, [reporting, notifications, downstream])

    [root] = trace.events
    by_domain = {r.domain: r for r in root.runs}
    assert by_domain["reporting"].published == []
    [event] = by_domain["notifications"].published
    assert event.id == completed
    assert event.publisher_inferred is False


def test_a_publisher_that_cannot_be_told_apart_is_flagged_as_inferred() -> None:
    first, later = uuid4(), uuid4()
    one = run("scoring", first, "customer-master.completed", start=1, end=5)
    two = run("scoring", first, "customer-master.completed", start=1.5, end=5)
    downstream = run("reporting", later, "scoring.completed", cause=first, start=6, event_at=4)

    trace = build_trace(first, [one, two, downstream])

    [root] = trace.events
    [event] = [e for r in root.runs for e in r.published]
    assert event.publisher_inferred is True
    assert root.runs[0].published == [event]  # the earliest candidate


def test_the_publisher_is_the_run_whose_time_window_holds_the_event() -> None:
    first, later = uuid4(), uuid4()
    early = run("scoring", first, "customer-master.completed", start=1, end=3)
    late = run("scoring", first, "customer-master.completed", start=10, end=20)
    downstream = run("reporting", later, "scoring.completed", cause=first, start=16, event_at=15)

    trace = build_trace(first, [early, late, downstream])

    [root] = trace.events
    assert root.runs[0].id == early.id
    assert root.runs[0].published == []
    assert [e.id for e in root.runs[1].published] == [later]
    assert root.runs[1].published[0].publisher_inferred is False


def test_a_run_lasts_from_its_start_to_its_end_and_is_unknown_until_it_ends() -> None:
    first = uuid4()
    done = run("ingestion", first, "vendor.file-delivered", start=2, end=6.5, event_at=0.5)
    going = run("audit", first, "vendor.file-delivered", start=3, state="RUNNING", event_at=0.5)

    trace = build_trace(first, [done, going])

    by_domain = {r.domain: r for r in trace.events[0].runs}
    assert by_domain["ingestion"].duration_seconds == pytest.approx(4.5)
    assert by_domain["ingestion"].started_after_seconds == pytest.approx(1.5)
    assert by_domain["audit"].duration_seconds is None


def test_the_total_runs_from_the_first_events_time_to_the_last_runs_end() -> None:
    first, second = uuid4(), uuid4()
    runs = [
        run("ingestion", first, "vendor.file-delivered", start=1, end=3, event_at=0.25),
        run("scoring", second, "ingestion.completed", cause=first, start=4, end=9, event_at=3),
        run("audit", second, "ingestion.completed", cause=first, start=4, end=7, event_at=3),
    ]

    trace = build_trace(first, runs)

    assert trace.finished is True
    assert trace.started_at == at(0.25)
    assert trace.ended_at == at(9)
    assert trace.total_seconds == pytest.approx(8.75)
    assert trace.states == {"COMPLETED": 3}


def test_the_total_is_unknown_while_a_run_is_still_running() -> None:
    first, second = uuid4(), uuid4()
    runs = [
        run("ingestion", first, "vendor.file-delivered", start=1, end=3),
        run("scoring", second, "ingestion.completed", cause=first, start=4, state="RUNNING"),
    ]

    trace = build_trace(first, runs)

    assert trace.finished is False
    assert trace.total_seconds is None
    assert trace.ended_at is None
    assert trace.states == {"COMPLETED": 1, "RUNNING": 1}


def test_a_chain_across_two_servers_is_one_tree_with_each_run_linking_to_its_own_ui() -> None:
    first, second = uuid4(), uuid4()
    upstream = run("ingestion", first, "vendor.file-delivered", start=1, end=3, server=SERVER_A)
    downstream = run(
        "scoring", second, "ingestion.completed", cause=first, start=4, end=5, server=SERVER_B
    )

    trace = build_trace(first, [downstream, upstream], servers=[SERVER_A, SERVER_B])

    [root] = trace.events
    [top_run] = root.runs
    assert top_run.server == SERVER_A
    assert top_run.url == f"http://prefect-a:4200/runs/flow-run/{upstream.id}"
    [bottom_run] = top_run.published[0].runs
    assert bottom_run.server == SERVER_B
    assert bottom_run.url == f"http://prefect-b:4200/runs/flow-run/{downstream.id}"
    assert "2 Prefect server(s)" in rendered(trace)


def test_events_whose_publishing_run_is_on_no_known_server_hang_under_their_cause() -> None:
    first, second = uuid4(), uuid4()
    orphan = run("scoring", second, "ingestion.completed", cause=first, start=4, end=5)

    trace = build_trace(first, [orphan])

    [root] = trace.events
    assert root.id == first
    assert root.type is None
    assert root.runs == []
    [event] = root.via_unseen_runs
    assert event.id == second
    assert [r.id for r in event.runs] == [orphan.id]
    assert "no run of it on any known server" in rendered(trace)


def test_runs_without_the_event_labels_are_listed_apart() -> None:
    first = uuid4()
    labelled = run("ingestion", first, "vendor.file-delivered", start=1, end=2)
    bare = run("manual", None, start=3, end=4)

    trace = build_trace(first, [labelled, bare])

    assert [r.id for r in trace.events[0].runs] == [labelled.id]
    assert [r.id for r in trace.unlinked] == [bare.id]
    assert [r.id for r in trace.iter_runs()] == [labelled.id, bare.id]


def test_the_first_event_comes_first_among_top_level_events() -> None:
    first, resent = uuid4(), uuid4()
    continued = run("scoring", resent, "ingestion.completed", start=1, end=2, event_at=-10)
    original = run("ingestion", first, "vendor.file-delivered", start=3, end=4, event_at=0)

    trace = build_trace(first, [continued, original])

    assert [e.id for e in trace.events] == [first, resent]


def test_a_run_read_from_two_servers_counts_once() -> None:
    first = uuid4()
    once = run("ingestion", first, "vendor.file-delivered", start=1, end=2)

    trace = build_trace(first, [once, once])

    assert trace.run_count == 1
    assert len(trace.events[0].runs) == 1


def test_labels_that_loop_still_show_every_run() -> None:
    a, b = uuid4(), uuid4()
    one = run("x", a, "x.happened", cause=b, start=1, end=2)
    two = run("y", b, "y.happened", cause=a, start=3, end=4)

    trace = build_trace(uuid4(), [one, two])

    assert {r.id for r in trace.iter_runs()} == {one.id, two.id}


def test_the_part_of_a_chain_an_event_started_is_that_event_and_everything_after_it() -> None:
    first, resent, after = uuid4(), uuid4(), uuid4()
    old = run("ingestion", first, "vendor.file-delivered", start=1, end=2)
    new = run("scoring", resent, "ingestion.completed", start=10, end=11, event_at=9)
    newer = run("reporting", after, "scoring.completed", cause=resent, start=12, event_at=11)

    part = downstream_runs(first, [old, new, newer], resent)

    assert {r.id for r in part} == {new.id, newer.id}
    assert downstream_runs(first, [old], resent) == []


# -- rendering ---------------------------------------------------------------------------------


def test_the_rendered_tree_nests_runs_under_events_and_shows_state_time_and_link() -> None:
    first, second = uuid4(), uuid4()
    upstream = run("ingestion", first, "vendor.file-delivered", start=1, end=3.5)
    failed = run(
        "scoring",
        second,
        "ingestion.completed",
        cause=first,
        start=4,
        end=5,
        event_at=3,
        state="FAILED",
        message="ValueError: no rows",
    )

    lines = rendered(build_trace(first, [upstream, failed])).splitlines()

    def line_of(text: str) -> int:
        return next(i for i, line in enumerate(lines) if text in line)

    assert "1 completed, 1 failed" in lines[0]
    assert line_of("vendor.file-delivered") < line_of("ingestion ingestion-flow/ingestion")
    assert line_of("ingestion ingestion-flow/ingestion") < line_of("ingestion.completed")
    assert line_of("ingestion.completed") < line_of("scoring scoring-flow/scoring")
    scoring = lines[line_of("scoring scoring-flow/scoring")]
    assert "Failed" in scoring
    assert "ran 1.0s" in scoring
    assert f"http://prefect-a:4200/runs/flow-run/{failed.id}" in scoring
    assert "ValueError: no rows" in lines[line_of("scoring scoring-flow/scoring") + 1]
    # deeper in the tree = further right
    assert scoring.index("scoring") > lines[line_of("ingestion ingestion-flow")].index("ingestion")


def test_a_chain_that_finished_says_how_long_it_took() -> None:
    first = uuid4()
    trace = build_trace(first, [run("ingestion", first, "vendor.file-delivered", start=1, end=31)])

    assert "31.0s from the first event to the last run's end" in rendered(trace)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(None, "-"), (0.44, "0.4s"), (59.94, "59.9s"), (185, "3m 05s"), (7620, "2h 07m")],
)
def test_durations_read_as_seconds_minutes_or_hours(seconds: float | None, text: str) -> None:
    assert format_seconds(seconds) == text


# -- records from Prefect's objects ------------------------------------------------------------


def flow_run(**fields: Any) -> Any:
    from prefect.client.schemas.objects import FlowRun, State, StateType

    fields.setdefault("state", State(type=StateType.COMPLETED, name="Completed"))
    return FlowRun(flow_id=uuid4(), name="ingestion.completed-1a2b3c4d", **fields)


def test_a_record_takes_the_domain_from_the_domain_tag_before_the_work_pool() -> None:
    event, cause = uuid4(), uuid4()
    tagged = flow_run(
        tags=[FEDERATION_TAG, domain_tag("scoring")],
        work_pool_name="pool-x",
        labels=run_labels(make_event("ingestion.completed", id=event, time=T0, causationid=cause)),
    )

    record = record_from_flow_run(tagged, SERVER_B, deployment="score/scoring")

    assert record.domain == "scoring"
    assert record.deployment == "score/scoring"
    assert (record.event_id, record.causation_id) == (event, cause)
    assert record.event_time == T0
    assert record.state == "COMPLETED"
    assert record.url == f"http://prefect-b:4200/runs/flow-run/{tagged.id}"


def test_a_record_without_a_domain_tag_takes_the_deployments_work_pool() -> None:
    plain = flow_run(tags=[FEDERATION_TAG], work_pool_name="run-pool")

    assert record_from_flow_run(plain, SERVER_A).domain == "run-pool"
    assert record_from_flow_run(plain, SERVER_A, work_pool="deploy-pool").domain == "deploy-pool"
    assert (
        record_from_flow_run(plain, SERVER_A, deployment_tags=[domain_tag("ingestion")]).domain
        == "ingestion"
    )
    assert record_from_flow_run(plain, SERVER_A).event_id is None


def test_the_ui_link_uses_the_configured_ui_url_when_given() -> None:
    plain = flow_run()

    record = record_from_flow_run(plain, SERVER_A, ui_url="https://prefect.example.com/")

    assert record.url == f"https://prefect.example.com/runs/flow-run/{plain.id}"


def test_the_known_servers_are_the_current_one_then_each_domains_own() -> None:
    from prefect_federation.declarations import DomainDeclaration, build_federation

    federation = build_federation(
        [
            ("a.yaml", DomainDeclaration(domain="a", prefect_api_url=SERVER_B + "/")),
            ("b.yaml", DomainDeclaration(domain="b")),
            ("c.yaml", DomainDeclaration(domain="c", prefect_api_url=SERVER_A)),
        ]
    )

    assert known_servers(federation, SERVER_A) == [SERVER_A, SERVER_B]
    assert known_servers(federation, None) == [SERVER_B, SERVER_A]
    assert known_servers(None, SERVER_A + "/") == [SERVER_A]


# -- waiting: the decision ---------------------------------------------------------------------


def test_a_chain_is_done_only_after_every_run_is_final_and_nothing_changed_for_a_while() -> None:
    first = uuid4()
    watch = ChainWatch(timeout=60, quiet_seconds=5)
    scheduled = run("ingestion", first, "vendor.file-delivered", state="SCHEDULED")
    completed = scheduled.model_copy(update={"state": "COMPLETED"})

    assert watch.verdict(0) is None  # nothing yet
    assert len(watch.observe([scheduled], 1)) == 1
    assert watch.verdict(10) is None  # not final
    assert len(watch.observe([completed], 11)) == 1
    assert watch.verdict(15.9) is None  # final, but a downstream run may still appear
    outcome = watch.verdict(16)
    assert outcome is not None
    assert outcome.ok is True
    assert outcome.reason == "the chain completed: 1 run(s), all COMPLETED"


def test_a_new_run_restarts_the_quiet_period() -> None:
    first, second = uuid4(), uuid4()
    watch = ChainWatch(timeout=60, quiet_seconds=5)
    upstream = run("ingestion", first, "vendor.file-delivered", start=1, end=2)
    watch.observe([upstream], 2)
    downstream = run("scoring", second, "ingestion.completed", cause=first, state="SCHEDULED")

    assert watch.observe([upstream, downstream], 6) == [_change(downstream, None, 6)]
    assert watch.verdict(8) is None
    watch.observe([upstream, downstream.model_copy(update={"state": "COMPLETED"})], 9)
    assert watch.verdict(13) is None
    assert watch.verdict(14) is not None


def _change(record: RunRecord, previous: str | None, elapsed: float) -> Any:
    from prefect_federation.trace import RunChange

    return RunChange(run=record, previous=previous, elapsed=elapsed)


def test_an_unchanged_run_is_not_reported_again() -> None:
    first = uuid4()
    watch = ChainWatch(timeout=60)
    record = run("ingestion", first, "vendor.file-delivered", state="RUNNING", start=1)

    assert watch.observe([record], 1) == [_change(record, None, 1)]
    assert watch.observe([record], 2) == []
    done = record.model_copy(update={"state": "COMPLETED"})
    assert watch.observe([done], 3) == [_change(done, "RUNNING", 3)]


def test_a_failed_run_is_named_with_its_domain_deployment_state_message_and_link() -> None:
    first, second = uuid4(), uuid4()
    watch = ChainWatch(timeout=60, quiet_seconds=1)
    ok = run("ingestion", first, "vendor.file-delivered", start=1, end=2)
    failed = run(
        "scoring",
        second,
        "ingestion.completed",
        cause=first,
        start=3,
        end=4,
        state="FAILED",
        message="Flow run encountered an exception: ValueError: no rows",
    )
    watch.observe([ok, failed], 4)

    outcome = watch.verdict(5)

    assert outcome is not None
    assert outcome.ok is False
    assert outcome.timed_out is False
    assert [r.id for r in outcome.failed] == [failed.id]
    assert outcome.reason.startswith("1 of 2 run(s) did not complete: ")
    assert "scoring scoring-flow/scoring" in outcome.reason
    assert "ended FAILED: Flow run encountered an exception: ValueError: no rows" in outcome.reason
    assert failed.url is not None
    assert failed.url in outcome.reason


def test_a_cancelled_run_is_not_a_completed_chain() -> None:
    first = uuid4()
    watch = ChainWatch(timeout=60, quiet_seconds=0)
    watch.observe([run("ingestion", first, "vendor.file-delivered", state="CANCELLED")], 1)

    outcome = watch.verdict(1)

    assert outcome is not None
    assert outcome.ok is False


def test_a_timeout_says_what_is_still_running() -> None:
    first = uuid4()
    watch = ChainWatch(timeout=30, quiet_seconds=5)
    stuck = run("ingestion", first, "vendor.file-delivered", state="RUNNING", start=1)
    watch.observe([stuck], 1)

    assert watch.verdict(29.9) is None
    outcome = watch.verdict(30)

    assert outcome is not None
    assert outcome.ok is False
    assert outcome.timed_out is True
    assert outcome.reason.startswith("timed out after 30s; still running: ingestion ")
    assert "ingestion-flow/ingestion" in outcome.reason
    assert [r.id for r in outcome.unfinished] == [stuck.id]


def test_a_timeout_with_no_run_at_all_says_the_event_started_nothing() -> None:
    watch = ChainWatch(timeout=20)
    watch.servers = [SERVER_A]

    outcome = watch.verdict(20)

    assert outcome is not None
    assert outcome.ok is False
    assert outcome.reason.startswith(
        f"no run appeared within 20s on 1 Prefect server(s) ({SERVER_A})"
    )
    assert "filtered" in outcome.reason


def test_a_settled_chain_at_the_timeout_is_judged_by_its_states_not_timed_out() -> None:
    first = uuid4()
    watch = ChainWatch(timeout=10, quiet_seconds=5)
    watch.observe([run("ingestion", first, "vendor.file-delivered", start=1, end=2)], 8)

    outcome = watch.verdict(10)

    assert outcome is not None
    assert outcome.ok is True
    assert outcome.timed_out is False


def test_wait_and_report_exits_2_naming_declarations_that_do_not_exist(tmp_path: Any) -> None:
    from prefect_federation.cli.chain import wait_and_report

    out = io.StringIO()
    missing = tmp_path / "nowhere"

    code = wait_and_report(str(uuid4()), 5, 1, missing, out=Console(file=out, width=200))

    assert code == 2
    assert f"{missing}: no such declaration file or directory" in out.getvalue()


def test_prefect_federation_servers_adds_servers_no_declaration_names(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from pydantic import ValidationError

    monkeypatch.setenv("PREFECT_FEDERATION_SERVERS", f"{SERVER_B}/, {SERVER_A}")
    assert known_servers(None, SERVER_A) == [SERVER_A, SERVER_B]

    monkeypatch.setenv("PREFECT_FEDERATION_SERVERS", "127.0.0.1:4200/api")
    with pytest.raises(
        ValidationError, match=re.escape("'127.0.0.1:4200/api' is not a Prefect API URL")
    ):
        known_servers(None, SERVER_A)
