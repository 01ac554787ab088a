"""Observing a domain's queues for `status`, against the in-memory QueueAdmin."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from prefect_federation.declarations import DomainDeclaration
from prefect_federation.dlq import locate_queues
from prefect_federation.status import (
    AgeSource,
    HealthThresholds,
    domain_status,
    observe_queue,
    oldest_age_by_peek,
)
from prefect_federation.testing import InMemoryQueueAdmin

from .queue_fakes import PREFIX, START, Clock


def test_peeking_reads_the_oldest_waiting_message_and_leaves_it_visible(
    admin: InMemoryQueueAdmin, clock: Clock
) -> None:
    queues = locate_queues(admin, PREFIX, "scoring")
    admin.send(queues.queue_url, "{}")
    clock.now += timedelta(seconds=10)
    admin.send(queues.queue_url, "{}")
    clock.now += timedelta(seconds=30)

    age = oldest_age_by_peek(admin, queues.queue_url, clock.now)

    assert age == 40.0
    assert admin.counts(queues.queue_url).visible == 2


def test_an_empty_queue_has_no_oldest_age(admin: InMemoryQueueAdmin) -> None:
    queues = locate_queues(admin, PREFIX, "scoring")

    assert oldest_age_by_peek(admin, queues.queue_url, START) is None


def test_observing_counts_the_queue_and_every_message_of_the_dlq(
    admin: InMemoryQueueAdmin, clock: Clock
) -> None:
    queues = locate_queues(admin, PREFIX, "scoring")
    for _ in range(3):
        admin.send(queues.queue_url, "{}")
    admin.scan(queues.queue_url, 1, visibility_timeout=30, wait_seconds=0)  # one in flight
    admin.send(queues.dlq_url, "{}")
    admin.send(queues.dlq_url, "{}")
    admin.scan(queues.dlq_url, 1, visibility_timeout=30, wait_seconds=0)

    observed = observe_queue(admin, queues, clock.now, age_source=AgeSource.off)

    assert (observed.visible, observed.in_flight, observed.dlq_depth) == (2, 1, 2)
    assert observed.oldest_age_seconds is None
    assert observed.oldest_age_note is None


def test_without_a_cloudwatch_client_the_age_is_unknown_and_says_why(
    admin: InMemoryQueueAdmin,
) -> None:
    queues = locate_queues(admin, PREFIX, "scoring")
    admin.send(queues.queue_url, "{}")

    observed = observe_queue(admin, queues, START, age_source=AgeSource.cloudwatch)

    assert observed.oldest_age_seconds is None
    assert observed.oldest_age_note == "oldest message age unknown: no CloudWatch client"


class UnreachablePrefect:
    """A Prefect client whose every call fails, as when the server is down."""

    def __getattr__(self, name: str) -> Any:
        def fail(*args: Any, **kwargs: Any) -> Any:
            raise ConnectionError("all connection attempts failed")

        return fail


def scoring() -> DomainDeclaration:
    return DomainDeclaration.model_validate(
        {
            "domain": "scoring",
            "subscribes": [{"event": "ingestion.completed", "deployment": "score/daily"}],
        }
    )


def test_a_domain_with_dead_letters_and_an_unreachable_prefect_is_unhealthy_for_both(
    admin: InMemoryQueueAdmin, clock: Clock
) -> None:
    queues = locate_queues(admin, PREFIX, "scoring")
    admin.send(queues.dlq_url, "{}")

    status = domain_status(
        scoring(),
        admin,
        UnreachablePrefect(),  # type: ignore[arg-type]
        name_prefix=PREFIX,
        thresholds=HealthThresholds(),
        age_source=AgeSource.peek,
        now=clock.now,
    )

    assert not status.healthy
    assert not status.listener_observed
    assert status.dlq_depth == 1
    assert any("DLQ federation-scoring-inbox-dlq holds 1" in r for r in status.reasons)
    assert any("cannot read listener heartbeats" in r for r in status.reasons)
    assert admin.counts(queues.dlq_url).visible == 1  # observing consumed nothing


def test_a_domain_whose_queue_is_missing_is_unhealthy_naming_the_queue(clock: Clock) -> None:
    status = domain_status(
        scoring(),
        InMemoryQueueAdmin(clock=clock),
        UnreachablePrefect(),  # type: ignore[arg-type]
        name_prefix=PREFIX,
        now=clock.now,
    )

    assert not status.healthy
    assert status.visible is None
    assert any(
        "cannot observe the queues" in r and "federation-scoring-inbox" in r for r in status.reasons
    )
