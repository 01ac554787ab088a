"""DLQ list/show/redrive/purge against the in-memory QueueAdmin: the operations' rules, fast."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from prefect_federation.dlq import (
    DeadLetterAction,
    find_dead_letter,
    list_dead_letters,
    locate_queues,
    purge,
    queue_depth,
    redrive,
)
from prefect_federation.errors import ConfigError
from prefect_federation.queue import ReceivedMessage, dead_letter_attributes
from prefect_federation.testing import InMemoryQueueAdmin, make_event_body

from .queue_fakes import PREFIX, Clock


def dead_letter(admin: InMemoryQueueAdmin, reason: str, *, original_id: str) -> str:
    """Put a message in the DLQ as the listener dead-letters it; returns its DLQ id."""
    queues = locate_queues(admin, PREFIX, "scoring")
    original = ReceivedMessage(
        message_id=original_id,
        receipt_handle="h",
        body=make_event_body("ingestion.completed", {"day": reason}),
        attributes={"type": "ingestion.completed", "source": "ingestion"},
        receive_count=2,
    )
    return admin.send(
        queues.dlq_url,
        original.body,
        dead_letter_attributes(original, reason, queues.queue_url),  # type: ignore[arg-type]
    )


def test_locate_queues_finds_the_queue_and_its_dlq_by_name(admin: InMemoryQueueAdmin) -> None:
    queues = locate_queues(admin, PREFIX, "scoring")

    assert queues.queue_name == "federation-scoring-inbox"
    assert queues.dlq_name == "federation-scoring-inbox-dlq"
    assert not queues.fifo


def test_locate_queues_of_an_unprovisioned_domain_is_a_config_error(
    admin: InMemoryQueueAdmin,
) -> None:
    with pytest.raises(ConfigError, match="no queue 'federation-billing-inbox'"):
        locate_queues(admin, PREFIX, "billing")


def test_a_queue_without_its_dlq_is_a_config_error() -> None:
    admin = InMemoryQueueAdmin()
    admin.create_queue(f"{PREFIX}scoring-inbox")

    with pytest.raises(ConfigError, match="dead-letter queue"):
        locate_queues(admin, PREFIX, "scoring")


def test_listing_shows_every_letter_oldest_first_and_leaves_them_visible(
    admin: InMemoryQueueAdmin, clock: Clock
) -> None:
    dlq = locate_queues(admin, PREFIX, "scoring").dlq_url
    for index in range(13):
        dead_letter(admin, f"reason {index}", original_id=f"orig-{index}")
        clock.now += timedelta(seconds=1)

    letters = list_dead_letters(admin, dlq)
    again = list_dead_letters(admin, dlq, max=4)

    assert [d.reason for d in letters] == [f"reason {i}" for i in range(13)]
    assert len(again) == 4
    assert admin.counts(dlq).visible == 13  # released at once, not after the timeout
    assert letters[0].event_type == "ingestion.completed"
    assert letters[0].receive_count == 2


def test_show_finds_a_letter_by_its_dlq_id_or_its_source_queue_id(
    admin: InMemoryQueueAdmin,
) -> None:
    dlq = locate_queues(admin, PREFIX, "scoring").dlq_url
    dlq_id = dead_letter(admin, "DeploymentNotFound: score/daily", original_id="orig-1")

    by_dlq_id = find_dead_letter(admin, dlq, dlq_id)
    by_source_id = find_dead_letter(admin, dlq, "orig-1")

    assert by_dlq_id is not None
    assert by_source_id is not None
    assert by_dlq_id.message_id == by_source_id.message_id == dlq_id
    assert by_dlq_id.reason == "DeploymentNotFound: score/daily"
    assert find_dead_letter(admin, dlq, "nobody") is None
    assert admin.counts(dlq).visible == 1


def test_redrive_sends_the_chosen_letter_back_without_federation_attributes(
    admin: InMemoryQueueAdmin,
) -> None:
    queues = locate_queues(admin, PREFIX, "scoring")
    chosen = dead_letter(admin, "fixed now", original_id="orig-1")
    dead_letter(admin, "still broken", original_id="orig-2")
    progress: list[DeadLetterAction] = []

    report = redrive(admin, queues.dlq_url, queues.queue_url, [chosen], on_progress=progress.append)

    assert report.ok
    assert report.done == [chosen]
    assert [(p.message_id, p.action) for p in progress] == [(chosen, "redriven")]
    [back] = admin.messages(queues.queue_url)
    assert set(back["attributes"]) == {"type", "source"}
    assert json.loads(back["body"])["data"] == {"day": "fixed now"}
    assert [d.reason for d in list_dead_letters(admin, queues.dlq_url)] == ["still broken"]


def test_redrive_all_empties_the_dlq_into_the_queue(admin: InMemoryQueueAdmin) -> None:
    queues = locate_queues(admin, PREFIX, "scoring")
    for index in range(12):
        dead_letter(admin, f"reason {index}", original_id=f"orig-{index}")

    report = redrive(admin, queues.dlq_url, queues.queue_url)

    assert len(report.done) == 12
    assert queue_depth(admin, queues.dlq_url) == 0
    assert queue_depth(admin, queues.queue_url) == 12


def test_redrive_of_an_unknown_id_reports_it_and_moves_nothing(admin: InMemoryQueueAdmin) -> None:
    queues = locate_queues(admin, PREFIX, "scoring")
    dead_letter(admin, "reason", original_id="orig-1")

    report = redrive(admin, queues.dlq_url, queues.queue_url, ["nobody"])

    assert not report.ok
    assert report.not_found == ["nobody"]
    assert queue_depth(admin, queues.queue_url) == 0
    assert admin.counts(queues.dlq_url).visible == 1


def test_a_failed_send_back_keeps_the_letter_in_the_dlq_and_reports_the_error(
    admin: InMemoryQueueAdmin,
) -> None:
    queues = locate_queues(admin, PREFIX, "scoring")
    dlq_id = dead_letter(admin, "reason", original_id="orig-1")
    admin.errors["send"] = RuntimeError("access denied")

    report = redrive(admin, queues.dlq_url, queues.queue_url)

    assert report.failed == {dlq_id: "RuntimeError: access denied"}
    assert admin.counts(queues.dlq_url).visible == 1  # released, not lost


def test_a_redrive_to_a_fifo_queue_keeps_the_group_and_dedups_per_dlq_message() -> None:
    admin = InMemoryQueueAdmin()
    queue_url = admin.create_queue(f"{PREFIX}scoring-inbox.fifo")
    dlq_url = admin.create_queue(f"{PREFIX}scoring-inbox-dlq.fifo")
    dlq_id = admin.send(dlq_url, "{}", group_id="ingestion")
    admin.send(dlq_url, "", group_id=None)

    redrive(admin, dlq_url, queue_url)

    first, second = admin.messages(queue_url)
    assert (first["group_id"], first["deduplication_id"]) == ("ingestion", f"redrive-{dlq_id}")
    assert second["group_id"] == "redriven"
    assert second["body"] == "(empty body)"


def test_purge_deletes_only_the_chosen_letters(admin: InMemoryQueueAdmin) -> None:
    queues = locate_queues(admin, PREFIX, "scoring")
    gone = dead_letter(admin, "purge me", original_id="orig-1")
    kept = dead_letter(admin, "keep me", original_id="orig-2")

    report = purge(admin, queues.dlq_url, ["orig-1"])

    assert report.done == [gone]
    assert [d.message_id for d in list_dead_letters(admin, queues.dlq_url)] == [kept]
    assert queue_depth(admin, queues.queue_url) == 0


def test_purge_all_empties_the_dlq(admin: InMemoryQueueAdmin) -> None:
    queues = locate_queues(admin, PREFIX, "scoring")
    for index in range(3):
        dead_letter(admin, f"reason {index}", original_id=f"orig-{index}")

    report = purge(admin, queues.dlq_url)

    assert len(report.done) == 3
    assert queue_depth(admin, queues.dlq_url) == 0


def test_a_scanned_message_not_released_comes_back_after_its_visibility_timeout(
    admin: InMemoryQueueAdmin, clock: Clock
) -> None:
    dlq = locate_queues(admin, PREFIX, "scoring").dlq_url
    dead_letter(admin, "reason", original_id="orig-1")

    [held] = admin.scan(dlq, 10, visibility_timeout=30, wait_seconds=0)
    assert admin.counts(dlq).in_flight == 1
    clock.now += timedelta(seconds=31)

    assert admin.counts(dlq).visible == 1
    [again] = admin.scan(dlq, 10, visibility_timeout=30, wait_seconds=0)
    assert again["Attributes"]["ApproximateReceiveCount"] == "2"
    assert again["ReceiptHandle"] != held["ReceiptHandle"]
