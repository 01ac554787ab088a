"""Nothing lost, nothing twice: the listener under crashes, outages, slow handling, scale-out and
poison messages, and a publisher whose topic is unreachable.

The scenarios with processes live in bench/chaos/, shared with the full-size soak
(`python -m bench.soak`); here they run small. Counting is by the runs' `event-id:<id>` tag and
deployment on the Prefect server, so a lost event and a second run are both seen.

"A run that keeps failing to be created ends in the DLQ after maxReceiveCount with the last error"
is `tests/integration/test_listener_sqs.py::
test_a_message_that_keeps_failing_is_dead_lettered_with_the_last_error_at_max_receives`.
"""

from __future__ import annotations

import copy
import json
import re
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from prefect_federation.declarations import DomainDeclaration, build_federation
from prefect_federation.errors import PermanentError, PublishError
from prefect_federation.listener.consumer import Listener
from prefect_federation.listener.launcher import RecordingLauncher
from prefect_federation.listener.pipeline import RunRequest
from prefect_federation.local import LocalFederation, Stack, free_port
from prefect_federation.provision import provision
from prefect_federation.publisher import SnsPublisher
from prefect_federation.queue import SqsQueueClient
from prefect_federation.queue_admin import SqsQueueAdmin
from prefect_federation.settings import FederationSettings, ListenerSettings
from prefect_federation.testing import InMemoryQueue, make_event

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # `bench` is a top-level directory, not an installed package
    sys.path.insert(0, str(ROOT))

from bench.chaos import (  # noqa: E402
    Tally,
    aws_outage_scenario,
    crash_scenario,
    prefect_outage_scenario,
    scale_out_scenario,
    start_prefect_server,
)

pytestmark = pytest.mark.integration

EVENTS = ROOT / "tests" / "events"


@pytest.fixture
def federation(tmp_path: Path, moto_endpoint: str) -> Iterator[LocalFederation]:
    """The session's moto server, and every process a test starts; all stopped at the end, pass
    or fail."""
    with LocalFederation(tmp_path / "stack", aws_endpoint=moto_endpoint) as federation:
        yield federation


@pytest.fixture
def stack(federation: LocalFederation) -> Stack:
    return federation.stack


def explain(tally: Tally, stack: Stack) -> str:
    """The tally, and the end of every listener's log: what an assertion failure shows."""
    tails = "\n".join(
        f"--- {p.name}\n{p.tail(15)}" for p in stack.processes if "listener" in p.name
    )
    return f"{tally.line()}\n{tails}"


def assert_exactly_once(tally: Tally, stack: Stack) -> None:
    why = explain(tally, stack)
    assert tally.lost == 0, why
    assert tally.duplicates == 0, why
    assert tally.unexpected == 0, why
    assert tally.runs == tally.expected_runs, why
    assert tally.queue == (0, 0), why
    assert tally.dlq == (0, 0), why


CHAOS_UP = {"domain": "chaos-up", "publishes": [{"type": "chaos-up.tick"}]}
CHAOS_DOWN = {
    "domain": "chaos-down",
    "subscribes": [
        {
            "event": "chaos-up.tick",
            "deployment": "tick/slow",
            "parameters": {"n": "{{ event.data.n }}"},
        }
    ],
}


def chaos_federation() -> Any:
    return build_federation(
        (f"<test:{d['domain']}>", DomainDeclaration.model_validate(d))
        for d in (CHAOS_UP, CHAOS_DOWN)
    )


def queue_depth(sqs: Any, queue_url: str) -> int:
    """Messages in a queue, visible or not."""
    return SqsQueueAdmin(sqs).counts(queue_url).held


# -- 1. crash safety ----------------------------------------------------------------------------


def test_a_listener_killed_at_random_moments_loses_no_event_and_starts_none_twice(
    federation: LocalFederation, stack: Stack, tmp_path: Path, prefect_api: str
) -> None:
    federation.start_prefect(api_url=prefect_api)
    tally = crash_scenario(federation, tmp_path, events=60, kills=4, rate=5.0)

    assert_exactly_once(tally, stack)
    assert tally.expected_runs == 66  # 60 events: 60 runs of chaos-all + 6 of chaos-sampled
    assert tally.notes["kills_with_messages_in_flight"] >= 1, explain(tally, stack)
    assert tally.notes["last_listener_exit"] == 0, explain(tally, stack)


# -- 2. Prefect outage --------------------------------------------------------------------------


def test_while_the_prefect_server_is_down_messages_wait_and_become_runs_once_it_is_back(
    federation: LocalFederation, stack: Stack, tmp_path: Path
) -> None:
    start_prefect_server(federation, tmp_path / "prefect-home")

    tally = prefect_outage_scenario(
        federation,
        tmp_path,
        events=20,
        rate=2.0,
        outage_after=3,
        outage_seconds=14,
        # Prefect's client would absorb a 14 s outage in its own retries (up to ~60 s; the soak
        # shows it): without them the listener sees the outage, and its back-off is tested
        client_retries=0,
    )

    assert_exactly_once(tally, stack)
    why = explain(tally, stack)
    assert tally.notes["queued_during_outage"] > 0, why  # the messages waited in SQS
    assert tally.notes["listener_alive"], why  # no crash
    assert tally.notes["listener_exit"] == 0, why
    # it backed off, a bounded number of times, and no storm of receives
    assert 1 <= tally.notes["backoff_lines"] < 30, why
    assert tally.notes["received"] is not None, why
    assert tally.notes["received"] <= 2 * tally.published, why


class OutageLauncher(RecordingLauncher):
    """Prefect is down for `seconds` from the first request: until then every request raises
    PrefectApiUnavailable (what PrefectLauncher raises once the client's own retries are spent)."""

    def __init__(self, seconds: float) -> None:
        super().__init__()
        self.seconds = seconds
        self.down_since: float | None = None

    def start(self, request: RunRequest) -> Any:
        from prefect_federation.errors import PrefectApiUnavailable

        self.down_since = self.down_since or time.monotonic()
        if time.monotonic() - self.down_since < self.seconds:
            raise PrefectApiUnavailable("Prefect API http://127.0.0.1:4200/api: ConnectError")
        return super().start(request)

    def healthy(self) -> bool:
        """The listener's health check: down for `seconds` from the first request."""
        return self.down_since is None or time.monotonic() - self.down_since >= self.seconds


def test_messages_waiting_out_a_long_prefect_outage_are_not_dead_lettered(
    sns: Any, sqs: Any, name_prefix: str
) -> None:
    federation = chaos_federation()
    report = provision(
        federation,
        sns,
        sqs,
        FederationSettings(name_prefix=name_prefix, max_receive_count=3, visibility_timeout=30),
    )
    queue_url = report.resources["chaos-down"].queue_url
    dlq_url = report.resources["chaos-down"].dlq_url
    topic_arn = report.resources["chaos-up"].topic_arn
    assert queue_url is not None
    assert dlq_url is not None
    assert topic_arn is not None
    launcher = OutageLauncher(seconds=8)
    listener = Listener(
        federation.domain("chaos-down"),
        SqsQueueClient(sqs, queue_url),
        launcher,
        federation=federation,
        settings=ListenerSettings(domain="chaos-down", wait_time_seconds=1),
    )
    publisher = SnsPublisher(sns, topic_arn)
    for n in range(3):
        publisher.publish(make_event("chaos-up.tick", {"n": n}))

    thread = threading.Thread(target=listener.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not (
            len(launcher.runs) == 3 or queue_depth(sqs, dlq_url) == 3
        ):
            time.sleep(0.5)
    finally:
        listener.stop()
        thread.join(30)

    assert queue_depth(sqs, dlq_url) == 0
    assert len(launcher.runs) == 3


# -- 3. AWS outage ------------------------------------------------------------------------------


def test_while_aws_is_unreachable_the_listener_retries_and_afterwards_every_event_runs_once(
    federation: LocalFederation, stack: Stack, tmp_path: Path, prefect_api: str
) -> None:
    federation.start_prefect(api_url=prefect_api)
    tally = aws_outage_scenario(
        federation,
        tmp_path,
        events=20,
        rate=2.0,
        outage_after=3,
        outage_seconds=15,
    )

    assert_exactly_once(tally, stack)
    why = explain(tally, stack)
    assert tally.notes["receive_failed_during_outage"] >= 1, why
    assert tally.notes["receive_failed_lines"] < 30, why  # backed off, did not spin
    assert tally.notes["listener_alive"], why
    assert tally.notes["listener_exit"] == 0, why


# -- 4. slow handling ---------------------------------------------------------------------------


class SlowFirstLauncher(RecordingLauncher):
    """Records every request; the first one takes `delay` seconds."""

    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay = delay
        self.calls = 0
        self.first_started = threading.Event()

    def start(self, request: RunRequest) -> Any:
        with self._lock:
            self.calls += 1
            first = self.calls == 1
        if first:
            self.first_started.set()
            time.sleep(self.delay)
        return super().start(request)


def two_listeners_on_a_slow_queue(
    sns: Any, sqs: Any, name_prefix: str, launcher: RecordingLauncher, listener_visibility: int
) -> tuple[Listener, Listener, SnsPublisher, str]:
    """A queue with a 2 s visibility timeout and two in-process listeners on it."""
    federation = chaos_federation()
    report = provision(
        federation, sns, sqs, FederationSettings(name_prefix=name_prefix, visibility_timeout=2)
    )
    queue_url = report.resources["chaos-down"].queue_url
    topic_arn = report.resources["chaos-up"].topic_arn
    assert queue_url is not None
    assert topic_arn is not None
    listeners = [
        Listener(
            federation.domain("chaos-down"),
            SqsQueueClient(sqs, queue_url),
            launcher,
            federation=federation,
            settings=ListenerSettings(
                domain="chaos-down", wait_time_seconds=1, visibility_timeout=listener_visibility
            ),
        )
        for _ in range(2)
    ]
    return listeners[0], listeners[1], SnsPublisher(sns, topic_arn), queue_url


def handle_slowly_while_another_listener_polls(
    first: Listener, second: Listener, launcher: SlowFirstLauncher
) -> tuple[list[Any], list[Any]]:
    """`first` receives and handles slowly; meanwhile `second` keeps polling the same queue."""
    first_results: list[Any] = []
    worker = threading.Thread(target=lambda: first_results.extend(first.poll_once(1)))
    worker.start()
    assert launcher.first_started.wait(10), "the first listener never received the message"
    second_results: list[Any] = []
    while worker.is_alive():
        second_results += second.poll_once(wait_seconds=1)
    worker.join()
    return first_results, second_results


def test_a_message_handled_longer_than_the_visibility_timeout_is_not_handed_to_a_second_listener(
    sns: Any, sqs: Any, name_prefix: str
) -> None:
    launcher = SlowFirstLauncher(delay=5)  # 2.5 visibility timeouts
    first, second, publisher, queue_url = two_listeners_on_a_slow_queue(
        sns, sqs, name_prefix, launcher, listener_visibility=2
    )
    publisher.publish(make_event("chaos-up.tick", {"n": 1}))

    first_results, second_results = handle_slowly_while_another_listener_polls(
        first, second, launcher
    )

    assert second_results == []  # the second listener got nothing while the first worked
    assert [r.outcome.action for r in first_results] == ["ack"]
    assert launcher.calls == 1
    assert len(launcher.requests) == 1
    assert second.poll_once(wait_seconds=1) == []  # and nothing is left
    assert queue_depth(sqs, queue_url) == 0


def test_a_slow_message_stays_hidden_even_when_the_listener_setting_is_longer_than_the_queues(
    sns: Any, sqs: Any, name_prefix: str
) -> None:
    launcher = SlowFirstLauncher(delay=5)
    first, second, publisher, _ = two_listeners_on_a_slow_queue(
        sns,
        sqs,
        name_prefix,
        launcher,
        listener_visibility=60,  # the default; the queue has 2
    )
    publisher.publish(make_event("chaos-up.tick", {"n": 1}))

    _, second_results = handle_slowly_while_another_listener_polls(first, second, launcher)

    assert second_results == []
    assert launcher.calls == 1


# -- 5. two listeners on one queue --------------------------------------------------------------


def test_two_listener_processes_on_one_queue_make_exactly_one_run_per_event_and_subscription(
    federation: LocalFederation, stack: Stack, tmp_path: Path, prefect_api: str
) -> None:
    federation.start_prefect(api_url=prefect_api)
    tally = scale_out_scenario(federation, tmp_path, events=80, listeners=2, duplicate_every=4)

    assert_exactly_once(tally, stack)
    why = explain(tally, stack)
    assert tally.published == 100  # every 4th of 80 events delivered twice
    assert all(n > 0 for n in tally.notes["run_lines_per_listener"]), why  # both took a share
    assert tally.notes["listener_exits"] == [0, 0], why


# -- 6. poison messages, property-based -----------------------------------------------------------

SCORING = DomainDeclaration.model_validate(
    {
        "domain": "scoring",
        "publishes": [{"type": "scoring.completed"}],
        "subscribes": [
            {
                "event": "ingestion.completed",
                "filter": {"region": ["north", "south"]},
                "deployment": "score/daily",
                "parameters": {
                    "snapshot_date": "{{ event.data.snapshot_date }}",
                    "rows": "{{ event.data.rows }}",
                    "label": "rows={{ event.data.rows }} of {{ event.data.tables | join(',') }}",
                    "batch": "{{ event.data.meta.batch.id | upper }}",
                    "trigger": {"event_id": "{{ event.id }}", "at": "{{ event.time }}"},
                },
            },
            {
                "event": "ingestion.completed",
                "name": "audit",
                "deployment": "audit/daily",
                "parameters": {"rows_doubled": "{{ event.data.rows * 2 }}"},
            },
            {
                "event": "airflow.exported",
                "source": "airflow",
                "adapter": "raw",
                "deployment": "import/table",
                "parameters": {"table": "{{ event.data.table }}", "ds": "{{ event.data.ds }}"},
            },
        ],
    }
)
INGESTION = DomainDeclaration.model_validate(
    {
        "domain": "ingestion",
        "publishes": [
            {
                "type": "ingestion.completed",
                "schema": {
                    "type": "object",
                    "required": ["snapshot_date"],
                    "properties": {
                        "snapshot_date": {"type": "string"},
                        "rows": {"type": "integer"},
                    },
                },
            }
        ],
    }
)
POISON_FEDERATION = build_federation([("ingestion.yaml", INGESTION), ("scoring.yaml", SCORING)])
SEEDS = {path.name: json.loads(path.read_text()) for path in sorted(EVENTS.glob("*.json"))}
TYPES = [
    "ingestion.completed",
    "airflow.exported",
    "ingestion.started",
    "scoring.completed",
    "Ingestion.Completed",
    "ingestion",
    "",
    "ingestion.completed ",
    "x" * 300,
]
SOURCES = ["ingestion", "airflow", "scoring", "INGESTION", "", "-", "a" * 100]

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


@st.composite
def mutated_document(draw: st.DrawFn, document: dict[str, Any]) -> dict[str, Any]:
    """A seed object after a few structural mutations (at the top level or in `data`)."""
    document = copy.deepcopy(document)
    for _ in range(draw(st.integers(0, 4))):
        target = document
        if isinstance(document.get("data"), dict) and draw(st.booleans()):
            target = document["data"]
        keys = sorted(target)
        mutation = draw(
            st.sampled_from(
                ["drop", "retype", "type", "source", "junk", "huge", "deep", "id", "time"]
            )
        )
        if mutation == "drop" and keys:
            del target[draw(st.sampled_from(keys))]
        elif mutation == "retype" and keys:
            target[draw(st.sampled_from(keys))] = draw(json_values)
        elif mutation == "type":
            document["type"] = draw(st.sampled_from(TYPES) | st.text(max_size=30))
        elif mutation == "source":
            document["source"] = draw(st.sampled_from(SOURCES) | st.text(max_size=30))
        elif mutation == "junk":
            target[draw(st.text(max_size=10))] = draw(json_values)
        elif mutation == "huge":
            size = draw(st.sampled_from([1_000, 100_000, 270_000, 1_100_000]))
            target[draw(st.sampled_from([*keys, "blob"]))] = "x" * size
        elif mutation == "deep":  # nested lists, spliced in as text by `_dumps`
            depth = draw(st.sampled_from([10, 1_000, 100_000]))
            target[draw(st.sampled_from([*keys, "nested"]))] = f"{DEEP}{depth}"
        elif mutation == "id":
            document["id"] = draw(st.sampled_from(["", "not-a-uuid", 42, None]) | json_values)
        elif mutation == "time":
            document["time"] = draw(
                st.sampled_from(["2026-11-01T06:00:00", "yesterday", 0, 1e300, "9999-99-99"])
            )
    return document


DEEP = "<deep-list>"


def _dumps(document: Any) -> str:
    """JSON text; a `<deep-list>N` string becomes N nested lists (too deep to build in Python)."""
    text = json.dumps(document)
    return re.sub(rf'"{DEEP}(\d+)"', lambda m: "[" * int(m[1]) + '"bottom"' + "]" * int(m[1]), text)


@st.composite
def poison_bodies(draw: st.DrawFn) -> tuple[str, dict[str, str]]:
    """(body, message attributes): random text, random JSON, or a mutated sample envelope."""
    kind = draw(st.sampled_from(["text", "json", "mutated", "mutated", "mutated", "sns"]))
    if kind == "text":
        body = draw(st.text(max_size=200))
    elif kind == "json":
        body = _dumps(draw(json_values))
    else:
        seed_name = draw(st.sampled_from(sorted(SEEDS)))
        seed = SEEDS[seed_name]
        if "Message" in seed and kind != "sns":
            inner = json.loads(seed["Message"])
            seed = {**seed, "Message": _dumps(draw(mutated_document(inner)))}
            body = _dumps(draw(mutated_document(seed)) if draw(st.booleans()) else seed)
        elif kind == "sns":
            inner_doc = SEEDS["envelope.json"] if "Message" not in seed else seed
            envelope = _dumps(draw(mutated_document(inner_doc)))
            body = _dumps({**SEEDS["envelope_sns.json"], "Message": envelope})
        else:
            body = _dumps(draw(mutated_document(seed)))
    text_mutation = draw(st.sampled_from(["none", "none", "truncate", "insert", "append", "nul"]))
    if text_mutation == "truncate" and body:
        body = body[: draw(st.integers(0, len(body) - 1))]
    elif text_mutation == "insert":
        at = draw(st.integers(0, len(body)))
        body = body[:at] + draw(st.text(min_size=1, max_size=10)) + body[at:]
    elif text_mutation == "append":
        body = body + draw(st.sampled_from(["}", "]", ",", "\x00", "garbage", "{}"]))
    elif text_mutation == "nul":
        body = body.replace('"', "\x00", 1)
    attributes = draw(
        st.dictionaries(
            st.sampled_from(["type", "source", "correlationid", "other"]),
            st.sampled_from(TYPES + SOURCES) | st.text(max_size=20),
            max_size=3,
        )
    )
    return body, attributes


LISTENER_SETTINGS = ListenerSettings(domain="scoring", concurrency=1)


def handle_once(
    body: str, attributes: dict[str, str] | None = None
) -> tuple[Any, InMemoryQueue, RecordingLauncher]:
    """One delivery of `body` through `Listener.handle` (in-memory queue, recording launcher)."""
    queue = InMemoryQueue(max_receive_count=5)
    launcher = RecordingLauncher()  # never raises: nothing here is retryable
    listener = Listener(
        SCORING, queue, launcher, federation=POISON_FEDERATION, settings=LISTENER_SETTINGS
    )
    queue.put(body, attributes)
    [message] = queue.receive(1, 0)
    result = listener.handle(message)  # must not raise
    return result, queue, launcher


@settings(
    max_examples=2000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(poison_bodies())
def test_any_body_either_becomes_runs_or_lands_in_the_dlq_with_a_reason_and_never_stays(
    case: tuple[str, dict[str, str]],
) -> None:
    body, attributes = case

    result, queue, launcher = handle_once(body, attributes)

    event(f"{result.outcome.action}: {type(result.error).__name__ if result.error else 'ok'}")
    assert result.outcome.action in ("ack", "dead-letter"), (result.outcome, result.error)
    assert queue.retries == []
    assert queue.depth == 0  # deleted either way: nothing stays without an outcome
    if result.outcome.action == "dead-letter":
        assert isinstance(result.error, PermanentError), repr(result.error)
        [(dead, reason)] = queue.dead_letters
        assert dead.message_id == result.message.message_id
        assert reason.strip()
    else:
        assert result.error is None
        assert queue.dead_letters == []
        assert len(result.runs) == len(launcher.requests)
        assert all(
            r.deployment in {"score/daily", "audit/daily", "import/table"} for r in result.runs
        )


def assert_dead_lettered_at_once(body: str) -> None:
    result, queue, _ = handle_once(body)
    assert result.outcome.action == "dead-letter", result.outcome
    assert isinstance(result.error, PermanentError), repr(result.error)
    assert queue.retries == []


def test_a_body_nested_too_deeply_for_the_json_parser_goes_to_the_dlq_at_once() -> None:
    document = {**SEEDS["envelope.json"], "causationid": "<here>"}
    assert_dead_lettered_at_once(json.dumps(document).replace('"<here>"', "[" * 5000 + "]" * 5000))


def test_sns_notification_with_message_attributes_not_an_object_goes_to_the_dlq_at_once() -> None:
    assert_dead_lettered_at_once(json.dumps({**SEEDS["envelope_sns.json"], "MessageAttributes": 1}))


# -- 8. publishing ------------------------------------------------------------------------------


class CountingPublisher:
    def __init__(self, inner: SnsPublisher) -> None:
        self.inner = inner
        self.attempts = 0

    def publish(self, envelope: Any) -> str:
        self.attempts += 1
        return self.inner.publish(envelope)


def test_a_flow_whose_topic_is_unreachable_fails_naming_the_topic_and_never_completes(
    prefect_api: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import boto3
    from botocore.config import Config
    from prefect import flow
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
    from prefect.client.schemas.objects import StateType

    from prefect_federation import publishing

    closed = free_port()  # nothing listens there
    sns = boto3.client(
        "sns",
        region_name="us-east-1",
        endpoint_url=f"http://127.0.0.1:{closed}",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"mode": "standard", "max_attempts": 1}, connect_timeout=1),
    )
    topic = "arn:aws:sns:us-east-1:123456789012:reliability-down-topic"
    publisher = CountingPublisher(SnsPublisher(sns, topic))
    # the task's own retries (3), without their 1 + 4 + 10 s of waiting
    monkeypatch.setattr(
        publishing, "publish_event", publishing.publish_event.with_options(retry_delay_seconds=0)
    )

    @flow(name="reliability-producer")
    @publishing.publishes("chaos-up.tick")
    def produce(n: int) -> dict[str, Any]:
        return {"n": n, "sampled": False}

    with publishing.use_publisher(publisher):
        state = produce(2, return_state=True)

    assert state.is_failed()
    assert publisher.attempts == 4  # the first try and 3 retries
    error = state.result(raise_on_failure=False)
    assert isinstance(error, PublishError), repr(error)
    assert topic in str(error)
    with get_client(sync_client=True) as client:
        flow_run_id = state.state_details.flow_run_id
        assert flow_run_id is not None
        run = client.read_flow_run(flow_run_id)
        assert run.state is not None
        assert run.state.type == StateType.FAILED
        assert topic in (run.state.message or "")
        history = {s.type for s in client.read_flow_run_states(flow_run_id)}
        assert StateType.COMPLETED not in history
        task_runs = client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
        )
    [publish] = [t for t in task_runs if t.name.startswith("publish")]
    assert publish.state is not None
    assert publish.state.type == StateType.FAILED
    assert publish.run_count == 4
