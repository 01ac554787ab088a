"""The listener: `decide()` and the loop, with an in-memory queue and a recording launcher."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from uuid import UUID, uuid4

import pytest

from prefect_federation.declarations import DomainDeclaration, Federation
from prefect_federation.errors import (
    AwsThrottled,
    ConfigError,
    DeploymentNotFound,
    EnvelopeParseError,
    EventTooLarge,
    HeldBack,
    ParameterSchemaError,
    PrefectApiUnavailable,
    PublishError,
    SettleError,
    UnsubscribedEventError,
)
from prefect_federation.listener.consumer import Listener
from prefect_federation.listener.launcher import StartedRun
from prefect_federation.listener.outcome import Outcome, backoff_seconds, decide
from prefect_federation.listener.pipeline import RunRequest
from prefect_federation.listener.stats import MessageResult
from prefect_federation.settings import ListenerSettings
from prefect_federation.testing import InMemoryQueue, RecordingLauncher, make_event_body

SAMPLE_ID = UUID("0b6f4a3e-6c1d-4c55-9a53-2f3b9d0e7a11")

# -- decide -------------------------------------------------------------------------------------


# (error, receive count, the queue's maxReceiveCount) -> outcome: every way handling can end.
OUTCOMES = [
    pytest.param(None, 1, 5, Outcome("ack"), id="handled"),
    pytest.param(None, 5, 5, Outcome("ack"), id="handled-at-the-last-receive"),
    *[
        pytest.param(e, 1, 5, Outcome("dead-letter", f"{type(e).__name__}: {e}"), id=name)
        for name, e in [
            ("not-json", EnvelopeParseError("not JSON")),
            ("unsubscribed", UnsubscribedEventError("nope")),
            ("schema", ParameterSchemaError("rejected")),
            ("no-deployment", DeploymentNotFound("gone")),
            ("too-large", EventTooLarge("300000 bytes")),
        ]
    ],
    *[
        pytest.param(e, 2, 5, Outcome("retry", f"{type(e).__name__}: {e}", 4), id=name)
        for name, e in [
            ("prefect-down", PrefectApiUnavailable("down")),
            ("throttled", AwsThrottled("slow")),
            ("publish", PublishError("failed")),
            ("a-bug", RuntimeError("bug")),
        ]
    ],
    pytest.param(
        PrefectApiUnavailable("down"),
        1,
        5,
        Outcome("retry", "PrefectApiUnavailable: down", 2),
        id="back-off-grows-from-2s",
    ),
    pytest.param(
        PrefectApiUnavailable("down"),
        4,
        5,
        Outcome("retry", "PrefectApiUnavailable: down", 16),
        id="below-max-receives",
    ),
    pytest.param(
        PrefectApiUnavailable("down"),
        5,
        5,
        Outcome("dead-letter", "gave up after 5 receives; last error: PrefectApiUnavailable: down"),
        id="at-max-receives",
    ),
    pytest.param(
        PrefectApiUnavailable("down"),
        50,
        None,
        Outcome("retry", "PrefectApiUnavailable: down", 300),
        id="no-max-back-off-capped",
    ),
    pytest.param(
        HeldBack("g", 8),
        1,
        5,
        Outcome("retry", "HeldBack: held back: an earlier message of group 'g' is retried", 8),
        id="fifo-held-back-waits-as-long-as-its-group",
    ),
    pytest.param(
        HeldBack("g", 8),
        5,
        5,
        Outcome(
            "dead-letter",
            "gave up after 5 receives; last error: HeldBack: held back: an earlier "
            "message of group 'g' is retried",
        ),
        id="fifo-held-back-at-max-receives",
    ),
    pytest.param(
        SettleError("delete the message", AwsThrottled("503")),
        1,
        5,
        Outcome("left", "SettleError: could not delete the message: AwsThrottled: 503"),
        id="acting-on-the-outcome-failed",
    ),
]


@pytest.mark.parametrize(("error", "receive_count", "max_receive_count", "expected"), OUTCOMES)
def test_the_outcome_of_every_way_handling_can_end(
    error: BaseException | None,
    receive_count: int,
    max_receive_count: int | None,
    expected: Outcome,
) -> None:
    assert decide(error, receive_count, max_receive_count) == expected


def test_without_a_max_receive_count_a_message_is_retried_forever() -> None:
    assert decide(PrefectApiUnavailable("down"), 500, None) == Outcome(
        "retry", "PrefectApiUnavailable: down", 300
    )


@pytest.mark.parametrize(
    ("receive_count", "delay"), [(0, 2), (1, 2), (2, 4), (3, 8), (8, 256), (9, 300), (50, 300)]
)
def test_backoff_doubles_per_receive_and_is_capped(receive_count: int, delay: int) -> None:
    assert backoff_seconds(receive_count) == delay


def test_backoff_stays_capped_for_a_very_high_receive_count() -> None:
    assert decide(PrefectApiUnavailable("down"), 1024, None) == Outcome(
        "retry", "PrefectApiUnavailable: down", 300
    )


# -- the listener -------------------------------------------------------------------------------


@pytest.fixture
def make_listener(
    scoring: DomainDeclaration, federation: Federation
) -> Iterator[Callable[..., Listener]]:
    made: list[Listener] = []

    def make(queue: InMemoryQueue, launcher: object, **kwargs: object) -> Listener:
        kwargs.setdefault("federation", federation)
        kwargs.setdefault("settings", ListenerSettings(domain="scoring", concurrency=4))
        listener = Listener(scoring, queue, launcher, **kwargs)  # type: ignore[arg-type]
        made.append(listener)
        return listener

    yield make
    for listener in made:
        listener._pool.shutdown(wait=True)


def good_body(**fields: object) -> str:
    return make_event_body(
        "ingestion.completed",
        {"snapshot_date": "2026-11-01", "rows": 7, "region": "north"},
        **fields,
    )


def test_an_envelope_without_an_id_is_dead_lettered_on_every_delivery_and_never_runs(
    make_listener: Callable[..., Listener],
) -> None:
    document = json.loads(good_body())
    del document["id"]
    body = json.dumps(document)
    queue, launcher = InMemoryQueue(), RecordingLauncher()
    listener = make_listener(queue, launcher)

    for _ in range(3):  # three deliveries of the same body (redeliveries, duplicates)
        queue.put(body)
        listener.poll_once(wait_seconds=0)

    assert launcher.requests == []
    assert len(queue.dead_letters) == 3
    assert all("id: Field required" in reason for _, reason in queue.dead_letters)


def test_a_good_message_starts_a_run_with_rendered_parameters_and_is_deleted(
    make_listener: Callable[..., Listener],
) -> None:
    queue, launcher = InMemoryQueue(), RecordingLauncher()
    message_id = queue.put(good_body(id=SAMPLE_ID))
    listener = make_listener(queue, launcher)

    (result,) = listener.poll_once(wait_seconds=0)

    assert result.outcome == Outcome("ack")
    (request,) = launcher.requests
    assert request.deployment == "score/daily"
    assert request.parameters == {
        "snapshot_date": "2026-11-01",
        "rows": 7,
        "label": "rows=7",
        "trigger": {"event_id": str(SAMPLE_ID), "chain": [str(SAMPLE_ID), "fixed"]},
    }
    assert [run.deployment for run in result.runs] == ["score/daily"]
    assert queue.deleted == [message_id]
    assert queue.depth == 0
    assert queue.dead_letters == []
    stats = listener.stats.as_dict()
    assert (stats["received"], stats["runs_created"], stats["acked"]) == (1, 1, 1)
    assert stats["last_event_type"] == "ingestion.completed"
    assert stats["last_event_at"] is not None


def test_the_same_body_delivered_twice_starts_one_run(
    make_listener: Callable[..., Listener],
) -> None:
    queue, launcher = InMemoryQueue(), RecordingLauncher()
    body = good_body()
    queue.put(body)
    queue.put(body)
    listener = make_listener(queue, launcher)

    results = listener.poll_once(wait_seconds=0)

    assert [r.outcome.action for r in results] == ["ack", "ack"]
    assert len(launcher.requests) == 2
    assert len({r.idempotency_key for r in launcher.requests}) == 1
    assert len(launcher.runs) == 1
    assert [r.flow_run_id for r in results[0].runs] == [r.flow_run_id for r in results[1].runs]
    assert sorted(r.created for r in results[0].runs + results[1].runs) == [False, True]
    assert queue.depth == 0


def test_the_same_airflow_body_delivered_again_under_one_message_id_starts_one_run(
    make_listener: Callable[..., Listener], sample_body: Callable[[str], str]
) -> None:
    queue, launcher = InMemoryQueue(), RecordingLauncher()
    listener = make_listener(queue, launcher, federation=None)
    queue.put(sample_body("airflow_sns.json"))
    queue.put(sample_body("airflow_sns.json"))

    results = listener.poll_once(wait_seconds=0)

    assert [r.outcome.action for r in results] == ["ack", "ack"]
    assert len(launcher.runs) == 1
    (run,) = launcher.runs.values()
    assert run.deployment == "import/table"


BAD_MESSAGES = [
    pytest.param("not json at all", "EnvelopeParseError: message body is not JSON", id="not-json"),
    pytest.param("[1, 2, 3]", "EnvelopeParseError: message body is JSON but not", id="array"),
    pytest.param(
        '{"specversion": "1.0", "type": "ingestion.completed"}',
        "EnvelopeValidationError: not a valid event envelope: id: Field required; "
        "source: Field required; time: Field required",
        id="invalid-envelope",
    ),
    pytest.param(
        make_event_body("billing.paid", {"amount": 3}),
        "UnsubscribedEventError: domain 'scoring' does not subscribe to 'billing.paid'",
        id="unsubscribed-type",
    ),
    pytest.param(
        make_event_body(
            "ingestion.completed", {"region": "north", "snapshot_date": "d"}, source="impostor"
        ),
        "UnsubscribedEventError: domain 'scoring' accepts 'ingestion.completed' only from",
        id="wrong-source",
    ),
    pytest.param(
        make_event_body("ingestion.completed", {"region": "north", "rows": 1}),
        "EnvelopeValidationError: data: 'snapshot_date' is a required property",
        id="schema-violation",
    ),
    pytest.param(
        make_event_body("ingestion.completed", {"region": "north", "snapshot_date": "d"}),
        "ParameterRenderError: parameters.rows: template '{{ event.data.rows }}' failed",
        id="render-failure",
    ),
]


@pytest.mark.parametrize(("body", "reason"), BAD_MESSAGES)
def test_a_bad_message_is_dead_lettered_with_its_reason_and_the_next_is_handled(
    make_listener: Callable[..., Listener], body: str, reason: str
) -> None:
    queue, launcher = InMemoryQueue(), RecordingLauncher()
    bad_id = queue.put(body)
    good_id = queue.put(good_body())
    listener = make_listener(queue, launcher)

    results = listener.poll_once(wait_seconds=0)

    assert [r.message.message_id for r in results] == [bad_id, good_id]
    assert results[0].outcome.action == "dead-letter"
    assert results[1].outcome.action == "ack"
    ((dead, dead_reason),) = queue.dead_letters
    assert dead.message_id == bad_id
    assert dead.body == body
    assert dead_reason.startswith(reason)
    assert sorted(queue.deleted) == sorted([bad_id, good_id])
    assert [r.deployment for r in launcher.requests] == ["score/daily"]
    assert listener.stats.dead_lettered == 1
    assert listener.stats.acked == 1


def test_a_filtered_out_event_is_acked_and_counted_as_filtered(
    make_listener: Callable[..., Listener],
) -> None:
    queue, launcher = InMemoryQueue(), RecordingLauncher()
    message_id = queue.put(
        make_event_body("ingestion.completed", {"snapshot_date": "d", "region": "west"})
    )
    listener = make_listener(queue, launcher)

    (result,) = listener.poll_once(wait_seconds=0)

    assert result.outcome == Outcome("ack")
    assert result.runs == []
    assert launcher.requests == []
    assert queue.deleted == [message_id]
    assert listener.stats.filtered == 1
    assert listener.stats.acked == 1
    assert listener.stats.runs_created == 0


def test_an_unavailable_prefect_api_leaves_the_message_for_a_retry(
    make_listener: Callable[..., Listener],
) -> None:
    queue = InMemoryQueue()
    launcher = RecordingLauncher(fail_with=PrefectApiUnavailable("connection refused"))
    message_id = queue.put(good_body())
    listener = make_listener(queue, launcher)

    (result,) = listener.poll_once(wait_seconds=0)

    assert result.outcome == Outcome("retry", "PrefectApiUnavailable: connection refused", 2)
    assert isinstance(result.error, PrefectApiUnavailable)
    assert queue.deleted == []
    assert queue.dead_letters == []
    assert queue.retries == [(message_id, 2)]
    assert queue.depth == 1
    assert listener.stats.retried == 1
    assert listener.outage.streak == 1

    (again,) = listener.poll_once(wait_seconds=0)

    assert again.message.receive_count == 2
    assert queue.retries == [(message_id, 2), (message_id, 4)]


def test_a_message_that_keeps_failing_is_dead_lettered_at_the_max_receive_count(
    make_listener: Callable[..., Listener],
) -> None:
    queue = InMemoryQueue(max_receive_count=3)
    launcher = RecordingLauncher(fail_with=PrefectApiUnavailable("down"))
    message_id = queue.put(good_body())
    listener = make_listener(queue, launcher)

    outcomes = [listener.poll_once(wait_seconds=0)[0].outcome.action for _ in range(3)]

    assert outcomes == ["retry", "retry", "dead-letter"]
    ((dead, reason),) = queue.dead_letters
    assert dead.message_id == message_id
    assert reason == "gave up after 3 receives; last error: PrefectApiUnavailable: down"
    assert queue.depth == 0
    assert listener.poll_once(wait_seconds=0) == []


def test_a_permanent_launcher_error_sends_the_message_to_the_dead_letter_queue(
    make_listener: Callable[..., Listener],
) -> None:
    queue = InMemoryQueue()
    launcher = RecordingLauncher(fail_with=ParameterSchemaError("rows must be a string"))
    message_id = queue.put(good_body())
    listener = make_listener(queue, launcher)

    (result,) = listener.poll_once(wait_seconds=0)

    assert result.outcome == Outcome("dead-letter", "ParameterSchemaError: rows must be a string")
    assert queue.dead_letters[0][1] == "ParameterSchemaError: rows must be a string"
    assert queue.deleted == [message_id]
    assert queue.retries == []


def test_an_unexpected_launcher_exception_is_retried(
    make_listener: Callable[..., Listener],
) -> None:
    queue = InMemoryQueue()
    launcher = RecordingLauncher(fail_with=KeyError("surprise"))
    message_id = queue.put(good_body())
    listener = make_listener(queue, launcher)

    (result,) = listener.poll_once(wait_seconds=0)

    assert result.outcome.action == "retry"
    assert result.outcome.reason == "KeyError: 'surprise'"
    assert queue.retries == [(message_id, 2)]
    assert queue.deleted == []


def test_on_result_is_called_once_per_message(make_listener: Callable[..., Listener]) -> None:
    seen: list[MessageResult] = []
    queue = InMemoryQueue()
    queue.put(good_body())
    queue.put("garbage")
    listener = make_listener(queue, RecordingLauncher(), on_result=seen.append)

    listener.poll_once(wait_seconds=0)

    assert sorted(r.outcome.action for r in seen) == ["ack", "dead-letter"]


def test_a_stopped_listener_run_returns_and_reports_its_stats(
    make_listener: Callable[..., Listener],
) -> None:
    queue = InMemoryQueue()
    queue.put(good_body())
    launcher = RecordingLauncher()
    listener = make_listener(queue, launcher, on_result=lambda _result: listener.stop())

    listener.run()

    assert listener.stopping.is_set()
    assert listener.stats.acked == 1
    assert len(launcher.runs) == 1


class _FailFirstLauncher(RecordingLauncher):
    """Fails the first request with an unavailable API, then starts runs."""

    def start(self, request: RunRequest) -> StartedRun:
        if not self.requests:
            self.requests.append(request)
            raise PrefectApiUnavailable("blip")
        return super().start(request)


def test_on_a_fifo_queue_a_retried_message_holds_back_the_rest_of_its_group(
    make_listener: Callable[..., Listener],
) -> None:
    queue = InMemoryQueue(fifo=True)
    first_id = queue.put(good_body())
    second_id = queue.put(good_body())
    listener = make_listener(queue, _FailFirstLauncher())
    batch = [m.model_copy(update={"group_id": "g"}) for m in queue.receive(10, 0)]

    results = listener.handle_batch(batch)

    assert [r.message.message_id for r in results] == [first_id, second_id]
    assert results[0].outcome.action == "retry"
    assert second_id not in queue.deleted


def test_while_prefect_is_down_the_listener_receives_nothing_until_it_answers(
    monkeypatch: pytest.MonkeyPatch, make_listener: Callable[..., Listener]
) -> None:
    import threading
    import time

    from prefect_federation.errors import PrefectApiUnavailable
    from prefect_federation.queue import ReceivedMessage

    pauses: list[float] = []
    queue = InMemoryQueue(max_receive_count=3)
    queue.put(good_body())
    receives_while_down: list[int] = []
    real_receive = queue.receive

    def counting_receive(max_messages: int, wait_seconds: int) -> list[ReceivedMessage]:
        batch = real_receive(max_messages, 0)
        if launcher.fail_with is not None:
            receives_while_down.append(len(batch))
        return batch

    monkeypatch.setattr(queue, "receive", counting_receive)
    launcher = RecordingLauncher(fail_with=PrefectApiUnavailable("connection refused"))
    answers = iter([False, False, False, True])
    asked: list[bool] = []

    def health() -> bool:
        up = next(answers, True)
        asked.append(up)
        if up:
            launcher.fail_with = None
        return up

    listener = make_listener(
        queue,
        launcher,
        settings=ListenerSettings(domain="scoring", wait_time_seconds=0),
        health_check=health,
        pause=lambda seconds: pauses.append(seconds) or False,  # no sleeping: record the wait
    )
    thread = threading.Thread(target=listener.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while queue.depth and time.monotonic() < deadline:
        time.sleep(0.01)
    listener.stop()
    thread.join(5)

    assert queue.depth == 0
    assert queue.dead_letters == []
    assert len(launcher.runs) == 1
    assert receives_while_down == [1]  # one receive failed; none more until Prefect answered
    assert asked == [False, False, False, True]
    assert pauses == [2.0, 4.0, 8.0, 16.0]  # the back-off between health checks grows


# -- one slow message, counters -----------------------------------------------------------------


class _SlowLauncher(RecordingLauncher):
    """Blocks the requests of the events in `slow` (as a Prefect API answering 503 would) until
    released."""

    def __init__(self, slow: set[UUID]) -> None:
        super().__init__()
        self.slow = slow
        self.release = threading.Event()

    def start(self, request: RunRequest) -> StartedRun:
        if request.envelope.id in self.slow:
            self.release.wait(30)
        return super().start(request)


def _wait_until(condition: Callable[[], bool], timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


@contextmanager
def running_until_drained(
    listener: Listener, queue: InMemoryQueue, launcher: _SlowLauncher
) -> Iterator[None]:
    """The listener's loop on a thread; at the end the slow runs are released, the queue must
    drain, and the listener stops."""
    thread = threading.Thread(target=listener.run, daemon=True)
    thread.start()
    try:
        yield
    finally:
        launcher.release.set()
        assert _wait_until(lambda: queue.depth == 0)
        listener.stop()
        thread.join(10)


def test_a_slow_message_does_not_hold_up_the_messages_received_after_it(
    make_listener: Callable[..., Listener],
) -> None:
    slow_id = UUID("00000000-0000-4000-8000-000000000001")
    queue = InMemoryQueue()
    slow_message = queue.put(good_body(id=slow_id))
    launcher = _SlowLauncher({slow_id})
    settings = ListenerSettings(domain="scoring", wait_time_seconds=0, batch_wait_seconds=0.2)
    listener = make_listener(queue, launcher, settings=settings)
    with running_until_drained(listener, queue, launcher):
        assert _wait_until(lambda: queue.messages[slow_message]["hidden"])  # received, hanging
        later = [queue.put(good_body()) for _ in range(3)]  # arrive while the slow one hangs

        assert _wait_until(lambda: all(m in queue.deleted for m in later))
        assert len(launcher.runs) == 3  # handled while the slow message was still in flight
    assert len(launcher.runs) == 4
    assert listener.stats.acked == 4


def test_the_next_receive_does_not_wait_for_a_batch_once_half_the_slots_are_free(
    make_listener: Callable[..., Listener],
) -> None:
    queue = InMemoryQueue()
    slow = {uuid4() for _ in range(4)}
    slow_messages = [queue.put(good_body(id=event_id)) for event_id in slow]
    launcher = _SlowLauncher(slow)
    # a long batch wait: only the refill rule can receive while the slow four hang
    settings = ListenerSettings(
        domain="scoring", wait_time_seconds=0, concurrency=10, batch_wait_seconds=60
    )
    listener = make_listener(queue, launcher, settings=settings)
    with running_until_drained(listener, queue, launcher):
        assert _wait_until(lambda: all(queue.messages[m]["hidden"] for m in slow_messages))
        later = [queue.put(good_body()) for _ in range(12)]  # 6 slots free: received at once

        assert _wait_until(lambda: all(m in queue.deleted for m in later))
        assert len(launcher.runs) == 12  # handled while the four slow ones were in flight
    assert listener.stats.acked == 16


def test_runs_that_already_existed_are_counted_apart_from_runs_created(
    make_listener: Callable[..., Listener],
) -> None:
    queue, launcher = InMemoryQueue(), RecordingLauncher()
    listener = make_listener(queue, launcher)
    body = good_body(id=SAMPLE_ID)

    for _ in range(3):  # one event, delivered three times
        queue.put(body)
        listener.poll_once(wait_seconds=0)

    stats = listener.stats.as_dict()
    assert (stats["runs_created"], stats["runs_existing"], stats["acked"]) == (1, 2, 3)


def test_a_queue_without_a_dead_letter_queue_is_refused_at_start_up(
    make_listener: Callable[..., Listener],
) -> None:
    listener = make_listener(InMemoryQueue(max_receive_count=None), RecordingLauncher())

    with pytest.raises(ConfigError, match="has no dead-letter queue"):
        listener.preflight()
    with pytest.raises(ConfigError):
        listener.run()


class _DeleteFails(InMemoryQueue):
    def delete(self, message: object) -> None:
        raise AwsThrottled("delete_message: ServiceUnavailable")


def test_a_failing_delete_is_an_outcome_counted_and_reported_not_a_receive_failure(
    make_listener: Callable[..., Listener],
) -> None:
    seen: list[MessageResult] = []
    queue, launcher = _DeleteFails(), RecordingLauncher()
    queue.put(good_body())
    listener = make_listener(queue, launcher, on_result=seen.append)

    (result,) = listener.poll_once(wait_seconds=0)

    assert result.outcome.action == "left"
    assert result.outcome.reason == (
        "SettleError: could not delete the message: AwsThrottled: delete_message: "
        "ServiceUnavailable"
    )
    assert [r.outcome.action for r in seen] == ["left"]
    assert listener.stats.as_dict()["left"] == 1
    assert listener.stats.received == 1
    assert len(launcher.runs) == 1  # the run exists; the redelivery finds it


class PreparingLauncher(RecordingLauncher):
    """A launcher that can get ready for runs (as the fork executor's warms a child up)."""

    def __init__(self, fails: bool = False) -> None:
        super().__init__()
        self.fails = fails
        self.prepared_before: list[int] = []  # runs requested when each `prepare` came

    def prepare(self) -> None:
        self.prepared_before.append(len(self.requests))
        if self.fails:
            raise OSError("fork server gone")


@pytest.mark.parametrize("fails", [False, True])
def test_a_launcher_is_told_to_prepare_once_per_receive_that_returned_messages_before_any_run(
    make_listener: Callable[..., Listener], fails: bool
) -> None:
    queue, launcher = InMemoryQueue(), PreparingLauncher(fails)
    listener = make_listener(queue, launcher)

    assert listener.poll_once(wait_seconds=0) == []  # nothing received: nothing to prepare
    queue.put(good_body())
    queue.put(good_body(id=SAMPLE_ID))
    results = listener.poll_once(wait_seconds=0)

    assert launcher.prepared_before == [0]  # once, before the first run was asked for
    assert [r.outcome.action for r in results] == ["ack", "ack"]  # failing to prepare: no harm
    assert len(launcher.runs) == 2
