"""Day two against real Prefect servers (the test harness, and one more for two servers):
`trace`, `wait_for_chain` (behind `publish --wait`) and the listener-silence automation
(`alerts`), as library calls and as CLI commands.

Runs are made the way the listener makes them (`plan_runs` + `PrefectLauncher`), so they carry
its tags and labels; their states are then set by hand (`set_flow_run_state(..., force=True)`).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest
import typer
import yaml
from prefect.client.orchestration import SyncPrefectClient, get_client
from prefect.states import Completed, Failed, Running
from typer.testing import CliRunner

from prefect_federation.alerts import automation_name, ensure_listener_silence_automation
from prefect_federation.cli.chain import alerts, trace, wait_and_report
from prefect_federation.declarations import DomainDeclaration
from prefect_federation.errors import ConfigError
from prefect_federation.events import EventEnvelope
from prefect_federation.heartbeat import HEARTBEAT_EVENT, listener_resource_id
from prefect_federation.labels import domain_tag
from prefect_federation.listener import PrefectLauncher, plan_runs
from prefect_federation.testing import make_event
from prefect_federation.trace import RunChange, trace_chain, wait_for_chain

pytestmark = pytest.mark.integration


def land(region: str) -> None:
    """Signature of the upstream test deployment."""


def build(region: str) -> None:
    """Signature of the downstream test deployments."""


def _flat(text: str) -> str:
    return " ".join(text.split())


def make_app() -> typer.Typer:
    """The commands as `cli.py` registers them."""
    app = typer.Typer()
    app.command()(trace)
    app.command()(alerts)
    return app


APP = make_app()


def create_deployment(
    client: SyncPrefectClient, fn: Any, flow: str, name: str, domain: str | None
) -> str:
    from prefect.utilities.callables import parameter_schema

    flow_id = client.create_flow_from_name(flow)
    client.create_deployment(
        flow_id=flow_id,
        name=name,
        parameter_openapi_schema=parameter_schema(fn).model_dump_for_openapi(),
        entrypoint="flows/none.py:none",
        tags=[domain_tag(domain)] if domain else [],
    )
    return f"{flow}/{name}"


def subscriber(domain: str, event: str, deployment: str) -> DomainDeclaration:
    return DomainDeclaration.model_validate(
        {
            "domain": domain,
            "subscribes": [
                {
                    "event": event,
                    "deployment": deployment,
                    "parameters": {"region": "{{ event.data.region }}"},
                }
            ],
        }
    )


@pytest.fixture(scope="module")
def deployments(prefect_api: str, make_deployment: Any) -> dict[str, str]:
    """On the harness server: ingestion (tagged domain:ingestion), customer-master (tagged), and
    an untagged one whose runs take their domain from the work pool (`tests`)."""
    with get_client(sync_client=True) as client:
        return {
            "ingestion": create_deployment(client, land, "trace-land", "ingestion", "ingestion"),
            "customer-master": create_deployment(
                client, build, "trace-build", "customer-master", "customer-master"
            ),
            "untagged": make_deployment(build, "trace-audit", "audit"),
        }


@pytest.fixture
def client(prefect_api: str) -> Iterator[SyncPrefectClient]:
    with get_client(sync_client=True) as own:
        yield own


def start(client: SyncPrefectClient, domain: DomainDeclaration, event: EventEnvelope) -> list[UUID]:
    """What the domain's listener does with the event: the runs, with its tags and labels."""
    launcher = PrefectLauncher(client, emit_events=False)
    return [launcher.start(r).flow_run_id for r in plan_runs(event.to_json(), domain)]


def finish(client: SyncPrefectClient, run_id: UUID, *, failed: str | None = None) -> None:
    client.set_flow_run_state(run_id, Running(), force=True)
    final = Failed(message=failed) if failed else Completed()
    client.set_flow_run_state(run_id, final, force=True)


class Chain:
    """vendor.file-delivered -> ingestion run -> ingestion.completed -> customer-master run
    (and an audit run of the untagged deployment)."""

    def __init__(self, client: SyncPrefectClient, deployments: dict[str, str]) -> None:
        self.client = client
        self.first = make_event("vendor.file-delivered", {"region": "north"})
        self.ingestion = subscriber("ingestion", "vendor.file-delivered", deployments["ingestion"])
        [self.land_run] = start(client, self.ingestion, self.first)
        self.second = make_event(
            "ingestion.completed",
            {"region": "north"},
            correlationid=self.first.id,
            causationid=self.first.id,
        )

    def downstream(self, deployments: dict[str, str]) -> tuple[UUID, UUID]:
        master = subscriber(
            "customer-master", "ingestion.completed", deployments["customer-master"]
        )
        audit = subscriber("audit", "ingestion.completed", deployments["untagged"])
        [build_run] = start(self.client, master, self.second)
        [audit_run] = start(self.client, audit, self.second)
        return build_run, audit_run


# -- trace -------------------------------------------------------------------------------------


def test_trace_shows_the_first_event_its_run_the_event_that_run_published_and_its_runs(
    client: SyncPrefectClient, deployments: dict[str, str], prefect_api: str
) -> None:
    chain = Chain(client, deployments)
    finish(client, chain.land_run)
    build_run, audit_run = chain.downstream(deployments)
    finish(client, build_run)
    finish(client, audit_run, failed="audit refused: 3 rows without a region")

    result = trace_chain({prefect_api: client}, chain.first.id)

    [root] = result.events
    assert (root.id, root.type) == (chain.first.id, "vendor.file-delivered")
    [land_run] = root.runs
    assert land_run.id == chain.land_run
    assert land_run.domain == "ingestion"
    assert land_run.deployment == deployments["ingestion"]
    assert land_run.state == "COMPLETED"
    assert land_run.start is not None
    assert land_run.end is not None
    assert land_run.url == f"{prefect_api.removesuffix('/api')}/runs/flow-run/{chain.land_run}"
    [published] = land_run.published
    assert (published.id, published.type) == (chain.second.id, "ingestion.completed")
    by_domain = {r.domain: r for r in published.runs}
    assert set(by_domain) == {"customer-master", "tests"}  # untagged: its work pool
    assert by_domain["customer-master"].id == build_run
    assert by_domain["tests"].state == "FAILED"
    assert by_domain["tests"].message == "audit refused: 3 rows without a region"
    assert result.finished is True
    assert result.states == {"COMPLETED": 2, "FAILED": 1}
    assert result.total_seconds is not None
    assert result.total_seconds > 0


def test_runs_are_read_page_by_page(
    client: SyncPrefectClient,
    deployments: dict[str, str],
    prefect_api: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from prefect_federation.trace import RunReader

    chain = Chain(client, deployments)
    build_run, audit_run = chain.downstream(deployments)
    monkeypatch.setattr(RunReader, "PAGE", 1)

    records, problems = RunReader({prefect_api: client}).read(chain.first.id)

    assert problems == []
    assert sorted(r.id for r in records) == sorted([chain.land_run, build_run, audit_run])


def test_a_server_that_cannot_be_read_is_named_and_the_others_still_shown(
    client: SyncPrefectClient, deployments: dict[str, str], prefect_api: str
) -> None:
    chain = Chain(client, deployments)
    down = "http://127.0.0.1:9/api"  # discard port: nothing listens

    with SyncPrefectClient(down) as unreachable:
        result = trace_chain({prefect_api: client, down: unreachable}, chain.first.id)

    assert [r.id for r in result.iter_runs()] == [chain.land_run]
    [problem] = result.problems
    assert problem.startswith(f"{down}: ")


def test_the_trace_command_prints_the_tree_and_json(
    client: SyncPrefectClient, deployments: dict[str, str], tmp_path: Path
) -> None:
    chain = Chain(client, deployments)
    finish(client, chain.land_run)
    declarations = tmp_path / "ingestion.yaml"
    declarations.write_text(yaml.safe_dump({"domain": "ingestion"}))

    shown = CliRunner().invoke(APP, ["trace", str(chain.first.id), "-d", str(declarations)])
    as_json = CliRunner().invoke(
        APP, ["trace", str(chain.first.id), "-d", str(declarations), "--json"]
    )

    assert shown.exit_code == 0, shown.output
    assert "vendor.file-delivered" in shown.output
    assert f"ingestion {deployments['ingestion']} Completed" in _flat(shown.output)
    assert f"/runs/flow-run/{chain.land_run}" in shown.output
    assert as_json.exit_code == 0, as_json.output
    document = json.loads(as_json.output)
    assert document["events"][0]["runs"][0]["id"] == str(chain.land_run)
    assert document["events"][0]["runs"][0]["duration_seconds"] >= 0


def test_the_trace_command_exits_1_when_no_server_holds_a_run_of_the_chain(
    prefect_api: str, tmp_path: Path
) -> None:
    declarations = tmp_path / "ingestion.yaml"
    declarations.write_text(yaml.safe_dump({"domain": "ingestion"}))

    result = CliRunner().invoke(APP, ["trace", str(uuid4()), "-d", str(declarations)])
    not_an_id = CliRunner().invoke(APP, ["trace", "nope", "-d", str(declarations)])

    assert result.exit_code == 1
    assert "no run of chain" in result.output
    assert not_an_id.exit_code == 2
    assert "is not a UUID" in not_an_id.output


# -- waiting -----------------------------------------------------------------------------------


def test_waiting_is_ok_once_every_run_of_the_chain_completed(
    client: SyncPrefectClient, deployments: dict[str, str], prefect_api: str
) -> None:
    chain = Chain(client, deployments)
    finish(client, chain.land_run)
    build_run, audit_run = chain.downstream(deployments)
    finish(client, build_run)
    finish(client, audit_run)
    seen: list[RunChange] = []

    outcome = wait_for_chain(
        {prefect_api: client}, chain.first.id, timeout=30, quiet_seconds=1, on_update=seen.append
    )

    assert outcome.ok is True, outcome.reason
    assert {r.id for r in outcome.runs} == {chain.land_run, build_run, audit_run}
    assert sorted(c.run.id for c in seen) == sorted([chain.land_run, build_run, audit_run])
    assert outcome.elapsed_seconds < 10


def test_waiting_follows_runs_that_appear_after_the_first_ones_completed(
    client: SyncPrefectClient, deployments: dict[str, str], prefect_api: str
) -> None:
    chain = Chain(client, deployments)
    finish(client, chain.land_run)
    later: dict[str, UUID] = {}

    def downstream_domains_react() -> None:
        with get_client(sync_client=True) as own:
            time.sleep(2)  # a listener's poll, after ingestion.completed was published
            master = subscriber(
                "customer-master", "ingestion.completed", deployments["customer-master"]
            )
            [later["build"]] = start(own, master, chain.second)
            time.sleep(1)
            finish(own, later["build"])

    thread = threading.Thread(target=downstream_domains_react)
    thread.start()
    try:
        seen: list[RunChange] = []
        outcome = wait_for_chain(
            {prefect_api: client},
            chain.first.id,
            timeout=60,
            quiet_seconds=4,
            on_update=seen.append,
            poll_seconds=0.5,
        )
    finally:
        thread.join()

    assert outcome.ok is True, outcome.reason
    assert {r.id for r in outcome.runs} == {chain.land_run, later["build"]}
    states_of_build = [c.run.state for c in seen if c.run.id == later["build"]]
    assert states_of_build[-1] == "COMPLETED"
    assert len(states_of_build) >= 2  # seen appearing, then completing


def test_waiting_names_the_failed_run_with_its_domain_deployment_message_and_link(
    client: SyncPrefectClient, deployments: dict[str, str], prefect_api: str
) -> None:
    chain = Chain(client, deployments)
    finish(client, chain.land_run)
    build_run, audit_run = chain.downstream(deployments)
    finish(client, build_run, failed="duplicate customer ids in batch 7")
    finish(client, audit_run)

    outcome = wait_for_chain({prefect_api: client}, chain.first.id, timeout=30, quiet_seconds=1)

    assert outcome.ok is False
    assert outcome.timed_out is False
    assert [r.id for r in outcome.failed] == [build_run]
    assert "1 of 3 run(s) did not complete" in outcome.reason
    assert f"customer-master {deployments['customer-master']}" in outcome.reason
    assert "ended Failed: duplicate customer ids in batch 7" in outcome.reason
    assert f"/runs/flow-run/{build_run}" in outcome.reason


def test_waiting_times_out_saying_what_is_still_running(
    client: SyncPrefectClient, deployments: dict[str, str], prefect_api: str
) -> None:
    chain = Chain(client, deployments)
    client.set_flow_run_state(chain.land_run, Running(), force=True)

    outcome = wait_for_chain({prefect_api: client}, chain.first.id, timeout=3, quiet_seconds=1)

    assert outcome.ok is False
    assert outcome.timed_out is True
    assert outcome.reason.startswith("timed out after 3s; still running: ingestion ")
    assert deployments["ingestion"] in outcome.reason
    assert "Running" in outcome.reason
    assert [r.id for r in outcome.unfinished] == [chain.land_run]


def test_waiting_for_an_event_that_started_nothing_says_so(prefect_api: str) -> None:
    with get_client(sync_client=True) as own:
        outcome = wait_for_chain({prefect_api: own}, uuid4(), timeout=2, quiet_seconds=1)

    assert outcome.ok is False
    assert outcome.reason.startswith("no run appeared within 2s")
    assert "filtered the event out" in outcome.reason


def test_wait_and_report_prints_each_run_then_the_tree_and_exits_0_or_1(
    client: SyncPrefectClient, deployments: dict[str, str], tmp_path: Path
) -> None:
    import io

    from rich.console import Console

    declarations = tmp_path / "ingestion.yaml"
    declarations.write_text(yaml.safe_dump({"domain": "ingestion"}))
    good = Chain(client, deployments)
    finish(client, good.land_run)
    bad = Chain(client, deployments)
    finish(client, bad.land_run, failed="the vendor file is empty")

    good_out, bad_out = io.StringIO(), io.StringIO()
    good_code = wait_and_report(
        str(good.first.id), 20, 1, declarations, out=Console(file=good_out, width=300)
    )
    bad_code = wait_and_report(
        str(bad.first.id), 20, 1, declarations, out=Console(file=bad_out, width=300)
    )

    assert good_code == 0
    printed = _flat(good_out.getvalue())
    assert "created by vendor.file-delivered" in printed
    assert f"of {deployments['ingestion']}" in printed
    assert "completed" in printed
    assert "the chain completed: 1 run(s), all COMPLETED" in printed
    assert bad_code == 1
    assert "chain not completed: 1 of 1 run(s) did not complete" in _flat(bad_out.getvalue())
    assert "the vendor file is empty" in bad_out.getvalue()


# -- the listener-silence automation -----------------------------------------------------------


def _ours(client: SyncPrefectClient, domain: str) -> list[Any]:
    return [a for a in client.read_automations() if a.name == automation_name(domain)]


def test_the_silence_automation_is_created_once_and_read_back_with_its_trigger(
    client: SyncPrefectClient,
) -> None:
    from prefect.automations import Automation, DoNothing
    from prefect.events.schemas.automations import EventTrigger, Posture

    domain = f"scoring-{uuid4().hex[:6]}"

    first = ensure_listener_silence_automation(domain, 5, None, client=client)
    again = ensure_listener_silence_automation(domain, 5, None, client=client)
    longer = ensure_listener_silence_automation(domain, 12, None, client=client)

    assert (first.action, again.action, longer.action) == ("created", "unchanged", "updated")
    assert first.automation_id == again.automation_id == longer.automation_id
    assert len(_ours(client, domain)) == 1
    read = client.read_automation(first.automation_id)
    assert read is not None
    automation = Automation(**read.model_dump())
    assert automation.name == f"prefect-federation: listener {domain} silent"
    assert automation.enabled is True
    trigger = automation.trigger
    assert isinstance(trigger, EventTrigger)
    assert trigger.posture == Posture.Proactive
    assert trigger.expect == {HEARTBEAT_EVENT}
    assert trigger.match.model_dump() == {"prefect.resource.id": listener_resource_id(domain)}
    assert trigger.threshold == 1
    assert trigger.within == timedelta(minutes=12)
    assert [type(a) for a in automation.actions] == [DoNothing]


def test_the_silence_automation_stays_quiet_while_heartbeats_arrive_and_triggers_after(
    client: SyncPrefectClient, prefect_api: str
) -> None:
    """The real thing, on the server's own trigger evaluation (about 50 s): the match on the
    listener's resource id is right (heartbeats keep it quiet; with a wrong match it triggers
    about 15 s after creation) and silence triggers it."""
    import httpx
    from prefect.events import emit_event

    domain = f"beat-{uuid4().hex[:6]}"
    result = ensure_listener_silence_automation(domain, 10 / 60, None, client=client)

    def automation_events() -> list[str]:
        response = httpx.post(
            f"{prefect_api}/events/filter",
            json={
                "filter": {
                    "event": {"prefix": ["prefect.automation.triggered"]},
                    "any_resource": {"id": [f"prefect.automation.{result.automation_id}"]},
                },
                "limit": 10,
            },
        )
        response.raise_for_status()
        return [e["event"] for e in response.json()["events"]]

    started = time.monotonic()
    while time.monotonic() - started < 24:  # the 10 s window, twice, and the feed's lag
        emit_event(
            event=HEARTBEAT_EVENT,
            resource={"prefect.resource.id": listener_resource_id(domain)},
            payload={"phase": "alive"},
        )
        time.sleep(2)
    assert automation_events() == []
    deadline = time.monotonic() + 90
    while not automation_events() and time.monotonic() < deadline:
        time.sleep(2)
    assert "prefect.automation.triggered" in automation_events()


def test_the_silence_automation_notifies_through_the_named_block(
    client: SyncPrefectClient,
) -> None:
    from prefect.blocks.notifications import CustomWebhookNotificationBlock
    from prefect.events.actions import SendNotification

    domain = f"reporting-{uuid4().hex[:6]}"
    block_name = f"on-call-{domain}"
    block_id = CustomWebhookNotificationBlock(name="on-call", url="http://127.0.0.1:9/hook").save(
        block_name, overwrite=True
    )

    by_slug = ensure_listener_silence_automation(
        domain, 5, f"custom-webhook/{block_name}", client=client
    )
    by_name = ensure_listener_silence_automation(domain, 5, block_name, client=client)
    quiet = ensure_listener_silence_automation(domain, 5, None, client=client)

    assert (by_slug.action, by_name.action, quiet.action) == ("created", "unchanged", "updated")
    read = client.read_automation(by_slug.automation_id)
    assert read is not None
    assert read.actions[0].type == "do-nothing"
    ensure_listener_silence_automation(domain, 5, block_name, client=client)
    read = client.read_automation(by_slug.automation_id)
    assert read is not None
    [action] = read.actions
    assert isinstance(action, SendNotification)
    assert action.block_document_id == block_id
    assert domain in action.body
    assert len(_ours(client, domain)) == 1


def test_a_missing_or_non_notification_block_is_refused_by_name(
    client: SyncPrefectClient,
) -> None:
    from prefect.blocks.system import Secret

    Secret(value="x").save("not-a-notifier", overwrite=True)
    domain = f"nowhere-{uuid4().hex[:6]}"

    with pytest.raises(ConfigError, match="no notification block named 'no-such-block'"):
        ensure_listener_silence_automation(domain, 5, "no-such-block", client=client)
    with pytest.raises(ConfigError, match="no block 'slack-webhook/no-such-block'"):
        ensure_listener_silence_automation(domain, 5, "slack-webhook/no-such-block", client=client)
    with pytest.raises(ConfigError, match="cannot send notifications"):
        ensure_listener_silence_automation(domain, 5, "secret/not-a-notifier", client=client)
    assert _ours(client, domain) == []


def test_stray_duplicates_of_the_automation_are_removed(client: SyncPrefectClient) -> None:
    from prefect.events.schemas.automations import AutomationCore

    from prefect_federation.alerts import listener_silence_automation

    domain = f"dup-{uuid4().hex[:6]}"
    twin = AutomationCore(**listener_silence_automation(domain, 5).model_dump(exclude={"id"}))
    client.create_automation(twin)
    client.create_automation(twin)

    result = ensure_listener_silence_automation(domain, 5, None, client=client)

    assert result.removed_duplicates == 1
    assert [a.id for a in _ours(client, domain)] == [result.automation_id]


def test_the_alerts_command_makes_one_automation_per_subscribing_domain(
    client: SyncPrefectClient, tmp_path: Path
) -> None:
    suffix = uuid4().hex[:6]
    producer, consumer_a, consumer_b = f"src-{suffix}", f"ca-{suffix}", f"cb-{suffix}"
    for name, subscribes in [
        (producer, []),
        (consumer_a, [{"event": f"{producer}.done", "deployment": "f/a"}]),
        (consumer_b, [{"event": f"{producer}.done", "deployment": "f/b"}]),
    ]:
        declaration: dict[str, Any] = {"domain": name, "subscribes": subscribes}
        if name == producer:
            declaration["publishes"] = [{"type": f"{producer}.done"}]
        (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump(declaration))

    first = CliRunner().invoke(APP, ["alerts", "-d", str(tmp_path), "--minutes", "7"])
    second = CliRunner().invoke(APP, ["alerts", "-d", str(tmp_path), "--minutes", "7"])
    one = CliRunner().invoke(APP, ["alerts", "-d", str(tmp_path), "--domain", producer])
    default = CliRunner().invoke(APP, ["alerts", "-d", str(tmp_path), "--domain", consumer_a])

    assert first.exit_code == 0, first.output
    assert f"{consumer_a}: created automation" in _flat(first.output)
    assert f"{consumer_b}: created automation" in _flat(first.output)
    assert "no heartbeat for 7 min -> do nothing" in _flat(first.output)
    assert second.exit_code == 0, second.output
    assert "2 automation(s), 0 created or updated" in _flat(second.output)
    assert len(_ours(client, consumer_a)) == len(_ours(client, consumer_b)) == 1
    assert _ours(client, producer) == []
    assert one.exit_code == 2
    assert "subscribes to nothing" in one.output
    assert default.exit_code == 0, default.output  # 3 x the listeners' default 5-min heartbeat
    assert f"{consumer_a}: updated automation" in _flat(default.output)
    assert "no heartbeat for 15 min" in _flat(default.output)


# -- two Prefect servers -----------------------------------------------------------------------


def test_a_chain_across_two_prefect_servers_is_traced_and_waited_for_on_both(
    client: SyncPrefectClient, deployments: dict[str, str], prefect_api: str, tmp_path: Path
) -> None:
    from prefect_federation.local import LocalFederation

    with LocalFederation(tmp_path / "stack") as local:
        other_api = local.start_prefect("b", home=tmp_path / "prefect-b")
        with SyncPrefectClient(other_api) as other:
            remote = create_deployment(other, build, "trace-score", "scoring", "scoring")
            chain = Chain(client, deployments)
            finish(client, chain.land_run)
            scoring = subscriber("scoring", "ingestion.completed", remote)
            [score_run] = start(other, scoring, chain.second)
            finish(other, score_run)
            declarations = tmp_path / "declarations"
            declarations.mkdir()
            (declarations / "ingestion.yaml").write_text(yaml.safe_dump({"domain": "ingestion"}))
            (declarations / "scoring.yaml").write_text(
                yaml.safe_dump({"domain": "scoring", "prefect_api_url": other_api})
            )
            clients = {prefect_api: client, other_api: other}

            traced = trace_chain(clients, chain.first.id)
            outcome = wait_for_chain(clients, chain.first.id, timeout=30, quiet_seconds=1)
            shown = CliRunner().invoke(APP, ["trace", str(chain.first.id), "-d", str(declarations)])
            only_here = trace_chain({prefect_api: client}, chain.first.id)

    [land_run] = traced.events[0].runs
    assert land_run.server == prefect_api
    [score] = land_run.published[0].runs
    assert (score.id, score.server, score.domain) == (score_run, other_api, "scoring")
    assert score.url == f"{other_api.removesuffix('/api')}/runs/flow-run/{score_run}"
    assert outcome.ok is True, outcome.reason
    assert {r.id for r in outcome.runs} == {chain.land_run, score_run}
    assert shown.exit_code == 0, shown.output
    assert "2 run(s) on 2 Prefect server(s)" in _flat(shown.output)
    assert f"scoring {remote} Completed" in _flat(shown.output)
    assert only_here.run_count == 1  # the other server is what holds the scoring run
