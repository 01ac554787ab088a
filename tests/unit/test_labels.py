"""The run-label contract: the writer's labels and tags read back as the event, and no module but
`labels.py` spells a label or tag name (so a rename cannot silently break chaining or trace)."""

from __future__ import annotations

import ast
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from uuid import UUID, uuid4

import pytest
from hypothesis import given
from hypothesis import strategies as st

import prefect_federation
from prefect_federation import labels
from prefect_federation.events import EventEnvelope
from prefect_federation.labels import (
    CORRELATION_TAG,
    DOMAIN_TAG,
    EVENT_ID_TAG,
    EVENT_TYPE_TAG,
    SOURCE_TAG,
    ChainLink,
    RunEvent,
    read_chain,
    read_run_event,
    run_labels,
    run_tags,
    tag_value,
)
from prefect_federation.testing import make_event

CHAIN = UUID("7d1f2c9a-3b4e-4f6a-8c2d-1e0f9a8b7c6d")
CAUSE = UUID("0b6f4a3e-6c1d-4c55-9a53-2f3b9d0e7a11")


def expected_event(envelope: EventEnvelope) -> RunEvent:
    return RunEvent(
        event_id=envelope.id,
        event_type=envelope.type,
        event_source=envelope.source,
        event_time=envelope.time,
        correlation_id=envelope.correlationid,
        causation_id=envelope.causationid,
    )


# -- the wire names (other domains' listeners and existing runs carry exactly these) ---------


def test_the_tags_are_the_chain_first_then_event_type_id_source_and_federation() -> None:
    envelope = make_event("ingestion.completed", correlationid=CHAIN)

    assert run_tags(envelope) == [
        f"correlation-id:{CHAIN}",  # first: the UI shows the first tags, hides the rest
        "event-type:ingestion.completed",
        f"event-id:{envelope.id}",
        "source:ingestion",
        "federation",
    ]


def test_the_labels_carry_event_id_type_source_time_and_chain() -> None:
    envelope = make_event("ingestion.completed", correlationid=CHAIN)

    assert run_labels(envelope) == {
        "federation.event.id": str(envelope.id),
        "federation.event.type": "ingestion.completed",
        "federation.event.source": "ingestion",
        "federation.correlation.id": str(CHAIN),
        "federation.event.time": envelope.time.isoformat(),
    }


def test_a_later_event_also_labels_its_cause() -> None:
    envelope = make_event("scoring.completed", correlationid=CHAIN, causationid=CAUSE)

    assert run_labels(envelope)["federation.causation.id"] == str(CAUSE)


def test_a_domains_tag_is_domain_colon_name() -> None:
    assert labels.domain_tag("scoring") == "domain:scoring"


# -- writer -> reader ------------------------------------------------------------------------

offsets = st.integers(min_value=-12 * 60, max_value=14 * 60).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)


@given(
    event_type=st.from_regex(r"\A[a-z][a-z0-9-]{0,10}(\.[a-z0-9][a-z0-9_-]{0,8}){1,3}\Z"),
    time=st.datetimes(timezones=offsets),
    first=st.booleans(),
)
def test_what_the_writer_puts_on_a_run_the_reader_reads_back(
    event_type: str, time: datetime, first: bool
) -> None:
    envelope = make_event(
        event_type, time=time, correlationid=uuid4(), causationid=None if first else uuid4()
    )

    assert read_run_event(run_labels(envelope)) == expected_event(envelope)
    link = ChainLink(correlation_id=envelope.correlationid, event_id=envelope.id)
    assert read_chain(run_labels(envelope), run_tags(envelope)) == link
    assert read_chain(run_labels(envelope), []) == link
    assert read_chain({}, run_tags(envelope)) == link  # a run with tags only
    tags = run_tags(envelope)
    assert tag_value(tags, CORRELATION_TAG) == str(envelope.correlationid)
    assert tag_value(tags, EVENT_ID_TAG) == str(envelope.id)
    assert tag_value(tags, EVENT_TYPE_TAG) == envelope.type
    assert tag_value(tags, SOURCE_TAG) == envelope.source
    assert labels.FEDERATION_TAG in tags


def test_a_run_without_labels_or_tags_names_no_event() -> None:
    assert read_run_event(None) == RunEvent()
    assert read_chain(None, []) == ChainLink(None, None)
    assert tag_value(["federation", "domain:scoring"], EVENT_ID_TAG) is None
    assert tag_value(["federation", "domain:scoring", "domain:other"], DOMAIN_TAG) == "scoring"


def test_showing_a_run_reads_an_unparsable_label_as_none_and_a_naive_time_as_utc() -> None:
    event = read_run_event(
        {labels.EVENT_ID: "not-a-uuid", labels.EVENT_TIME: "2026-11-24T12:00:00"}
    )

    assert event.event_id is None
    assert event.event_time == datetime(2026, 11, 24, 12, tzinfo=UTC)
    assert read_run_event({labels.EVENT_TIME: "yesterday"}).event_time is None


def test_chaining_refuses_an_unparsable_label_rather_than_start_a_new_chain() -> None:
    with pytest.raises(ValueError, match="badly formed"):
        read_chain({labels.CORRELATION_ID: "not-a-uuid"}, [labels.correlation_tag(CHAIN)])


# -- the names live in labels.py only --------------------------------------------------------

LABEL_KEYS = ("federation.event.", "federation.correlation.", "federation.causation.")
TAG_PREFIXES = ("correlation-id:", "event-id:", "event-type:", "source:", "domain:")
TAG_NAMES = ("federation", "correlation-id", "event-id", "event-type")


def spelled_names(source: str) -> list[str]:
    """The label and tag names a module spells in its code (docstrings aside)."""
    tree = ast.parse(source)
    docstrings = {
        id(node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
    }
    return [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
        and (node.value.startswith(LABEL_KEYS + TAG_PREFIXES) or node.value in TAG_NAMES)
    ]


def test_the_check_finds_a_spelled_label_or_tag_name() -> None:
    source = (
        '"""Docstrings may name federation.event.id and `correlation-id:<id>`."""\n'
        'KEY = "federation.event.id"\n'
        'tag = f"event-id:{event}"\n'
        'plain = ["federation", "domain:x", "a prefect-federation.event.x"]\n'
    )

    assert sorted(spelled_names(source)) == [
        "domain:x",
        "event-id:",
        "federation",
        "federation.event.id",
    ]
    assert spelled_names(Path(labels.__file__).read_text())


def test_no_module_but_labels_spells_a_label_or_tag_name() -> None:
    package = Path(prefect_federation.__file__).parent
    contract = Path(labels.__file__)
    spelled = {
        str(path.relative_to(package)): names
        for path in sorted(package.rglob("*.py"))
        if path != contract and (names := spelled_names(path.read_text()))
    }

    assert spelled == {}, "use prefect_federation.labels instead of spelling the names"
