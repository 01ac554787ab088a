"""Publishing from flows, without a Prefect server: the task's function and `@publishes`."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from uuid import UUID, uuid4

import pytest
from prefect import flow
from prefect.context import FlowRunContext
from prefect.settings import PREFECT_API_URL, PREFECT_UI_URL, temporary_settings
from pydantic import BaseModel

from prefect_federation import publishing
from prefect_federation.labels import (
    CORRELATION_ID,
    EVENT_ID,
    FEDERATION_TAG,
    correlation_tag,
    event_id_tag,
)
from prefect_federation.publisher import InMemoryPublisher
from prefect_federation.publishing import (
    build_event,
    chain_context,
    publish_event,
    publishes,
    resolve_publisher,
    use_publisher,
)


class ScoringResult(BaseModel):
    snapshot_date: date
    scored: int


@pytest.fixture(autouse=True)
def no_declared_contracts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests publish the worked example's types with data of their own: no declarations
    here, so no contracts (tests/unit/test_contract_publishing.py checks the contracts)."""
    monkeypatch.setenv("PREFECT_FEDERATION_DECLARATIONS", str(tmp_path / "no-declarations"))


@pytest.fixture
def publisher() -> Iterator[InMemoryPublisher]:
    recording = InMemoryPublisher()
    with use_publisher(recording):
        yield recording


@pytest.fixture
def in_a_flow_run(monkeypatch: pytest.MonkeyPatch) -> SimpleNamespace:
    """Pretend to be inside a flow run the listener started (labels carry the event chain)."""
    flow_run = SimpleNamespace(
        id=uuid4(),
        labels={
            CORRELATION_ID: "7d1f2c9a-3b4e-4f6a-8c2d-1e0f9a8b7c6d",
            EVENT_ID: "0b6f4a3e-6c1d-4c55-9a53-2f3b9d0e7a11",
        },
        tags=[FEDERATION_TAG],
    )
    context = SimpleNamespace(flow_run=flow_run)
    monkeypatch.setattr(FlowRunContext, "get", classmethod(lambda cls: context))
    return flow_run


def test_publish_event_records_an_envelope_whose_source_is_the_type_domain(
    publisher: InMemoryPublisher,
) -> None:
    returned = publish_event.fn("scoring.completed", {"snapshot_date": "2026-11-01"})

    (envelope,) = publisher.envelopes
    assert envelope is returned
    assert envelope.type == "scoring.completed"
    assert envelope.source == "scoring"
    assert envelope.data == {"snapshot_date": "2026-11-01"}
    assert envelope.correlationid == envelope.id
    assert envelope.causationid is None
    assert envelope.flowrunid is None


def test_publish_event_accepts_an_explicit_source_and_subject(
    publisher: InMemoryPublisher,
) -> None:
    publish_event.fn("scoring.completed", None, source="scoring-v2", subject="2026-11-01")

    (envelope,) = publisher.envelopes
    assert envelope.source == "scoring-v2"
    assert envelope.subject == "2026-11-01"
    assert envelope.data == {}


def test_publish_event_is_a_retried_prefect_task() -> None:
    assert publish_event.name == "publish-event"
    assert publish_event.retries == 3


def test_use_publisher_overrides_only_inside_its_block() -> None:
    recording = InMemoryPublisher()

    with use_publisher(recording):
        assert resolve_publisher("scoring") is recording

    assert publishing._publisher_override.get() is None


def test_build_event_turns_a_pydantic_model_into_json_data() -> None:
    envelope = build_event(
        "scoring.completed", ScoringResult(snapshot_date=date(2026, 11, 1), scored=5)
    )

    assert envelope.data == {"snapshot_date": "2026-11-01", "scored": 5}
    assert envelope.source == "scoring"


def test_build_event_makes_dict_values_json_safe() -> None:
    event_id = uuid4()

    envelope = build_event("scoring.completed", {"when": date(2026, 11, 1), "ref": event_id})

    assert envelope.data == {"when": "2026-11-01", "ref": str(event_id)}


@pytest.mark.parametrize("data", [[1, 2], "text", 3, (1,)])
def test_build_event_refuses_data_that_is_not_an_object(data: Any) -> None:
    with pytest.raises(TypeError, match="must be a pydantic model or a dict") as info:
        build_event("scoring.completed", data)

    assert type(data).__name__ in str(info.value)


def test_build_event_refuses_a_bad_event_type() -> None:
    with pytest.raises(ValueError, match="type"):
        build_event("Scoring")


def test_publishes_placed_above_a_flow_raises_type_error() -> None:
    def score() -> dict[str, int]:
        return {"scored": 1}

    score_flow = flow(score)

    with pytest.raises(TypeError, match=r"@publishes\('scoring\.completed'\) must be placed below"):
        publishes("scoring.completed")(score_flow)


def test_publishes_publishes_the_return_value_when_the_function_completes(
    publisher: InMemoryPublisher, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(publishing, "publish_event", publish_event.fn)

    @publishes("scoring.completed")
    def score(day: date) -> ScoringResult:
        """Score a day."""
        return ScoringResult(snapshot_date=day, scored=12)

    result = score(date(2026, 11, 1))

    assert result == ScoringResult(snapshot_date=date(2026, 11, 1), scored=12)
    assert score.__name__ == "score"
    assert score.__doc__ == "Score a day."
    (envelope,) = publisher.envelopes
    assert envelope.type == "scoring.completed"
    assert envelope.data == {"snapshot_date": "2026-11-01", "scored": 12}


def test_publishes_wraps_an_async_function_too(
    publisher: InMemoryPublisher, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(publishing, "publish_event", publish_event.fn)

    @publishes("scoring.completed", source="scoring-async")
    async def score() -> dict[str, int]:
        return {"scored": 3}

    assert asyncio.iscoroutinefunction(score)
    assert asyncio.run(score()) == {"scored": 3}
    (envelope,) = publisher.envelopes
    assert envelope.source == "scoring-async"
    assert envelope.data == {"scored": 3}


def test_publishes_does_not_publish_when_the_function_raises(
    publisher: InMemoryPublisher, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(publishing, "publish_event", publish_event.fn)

    @publishes("scoring.completed")
    def score() -> dict[str, int]:
        raise RuntimeError("scoring failed")

    with pytest.raises(RuntimeError, match="scoring failed"):
        score()

    assert publisher.envelopes == []


def test_outside_a_flow_run_there_is_no_chain_context() -> None:
    assert chain_context() == {}


def test_inside_a_listener_started_run_an_event_continues_the_chain(
    in_a_flow_run: SimpleNamespace,
) -> None:
    with temporary_settings(updates={PREFECT_UI_URL: "http://ui.example"}):
        envelope = build_event("scoring.completed", {"scored": 1})

    assert envelope.correlationid == UUID("7d1f2c9a-3b4e-4f6a-8c2d-1e0f9a8b7c6d")
    assert envelope.causationid == UUID("0b6f4a3e-6c1d-4c55-9a53-2f3b9d0e7a11")
    assert envelope.id != envelope.causationid
    assert envelope.flowrunid == in_a_flow_run.id
    assert envelope.flowrunurl == f"http://ui.example/runs/flow-run/{in_a_flow_run.id}"


def test_the_chain_is_read_from_tags_when_the_run_has_no_labels(
    in_a_flow_run: SimpleNamespace,
) -> None:
    chain, cause = uuid4(), uuid4()
    in_a_flow_run.labels = {}
    in_a_flow_run.tags = [FEDERATION_TAG, correlation_tag(chain), event_id_tag(cause)]

    envelope = build_event("scoring.completed")

    assert envelope.correlationid == chain
    assert envelope.causationid == cause


def test_a_run_not_started_by_an_event_starts_a_new_chain(in_a_flow_run: SimpleNamespace) -> None:
    in_a_flow_run.labels = {}
    in_a_flow_run.tags = []

    envelope = build_event("scoring.completed")

    assert envelope.correlationid == envelope.id
    assert envelope.causationid is None
    assert envelope.flowrunid == in_a_flow_run.id


def test_no_flowrunurl_is_set_when_no_ui_url_is_configured(in_a_flow_run: SimpleNamespace) -> None:
    with temporary_settings(restore_defaults={PREFECT_UI_URL, PREFECT_API_URL}):
        assert PREFECT_UI_URL.value() is None
        envelope = build_event("scoring.completed")

    assert envelope.flowrunurl is None


# -- retries publish the same event, never a second one --------------------------------------


def test_a_retried_publish_inside_one_task_run_sends_the_same_event_id(
    publisher: InMemoryPublisher, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prefect.context import TaskRunContext

    task_run = SimpleNamespace(id=uuid4())
    monkeypatch.setattr(
        TaskRunContext, "get", classmethod(lambda cls: SimpleNamespace(task_run=task_run))
    )

    first = publish_event.fn("scoring.completed", {"n": 1})
    retry = publish_event.fn("scoring.completed", {"n": 1})

    assert first.id == retry.id
    assert [e.id for e in publisher.envelopes] == [first.id, first.id]


def test_two_publishes_in_different_task_runs_are_two_events(
    publisher: InMemoryPublisher, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prefect.context import TaskRunContext

    ids = iter([uuid4(), uuid4()])
    monkeypatch.setattr(
        TaskRunContext,
        "get",
        classmethod(lambda cls: SimpleNamespace(task_run=SimpleNamespace(id=next(ids)))),
    )

    first = publish_event.fn("scoring.completed", {"n": 1})
    second = publish_event.fn("scoring.completed", {"n": 1})

    assert first.id != second.id


def test_the_completion_event_of_a_flow_run_has_one_id_across_flow_retries(
    publisher: InMemoryPublisher, in_a_flow_run: SimpleNamespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    import prefect_federation.publishing as publishing

    monkeypatch.setattr(publishing, "publish_event", publish_event.fn)  # no task machinery

    @publishes("scoring.completed")
    def score() -> dict[str, int]:
        return {"scored": 3}

    score()
    score()  # the flow retried after publishing: the same event again, absorbed downstream

    first, again = publisher.envelopes
    assert first.id == again.id
    assert first.id != in_a_flow_run.id
