"""What the listener calls for joins and expectations: record arrivals in the store, ask for a
join's run once it is complete, sweep closed windows and passed deadlines, publish the alerts.

- `complete(plan)`: before any run starts and before the message is acked, every arrival of
  the message is stored (so deleting the message never loses it); the runs of joins the store
  says are complete are returned, with an idempotency key from the join key (one run per
  (subscription, key), whichever listener and whichever event completed it, however often).
- `started(request, run)`: the join's run exists; events of that key from now on are late.
- `tick()`: on the listener's clock thread: joins whose window closed incomplete become
  `join.expired`; expectations past their deadline without their event become `sla.missed`.
  Each alert is claimed by one conditional write first, so two listeners publish it once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol
from uuid import NAMESPACE_URL, uuid5

from prefect_federation.declarations import DomainDeclaration, Subscription
from prefect_federation.events import EventEnvelope
from prefect_federation.joins.declared import JOIN_EXPIRED, SLA_MISSED, SLA_RECOVERED, alert_type
from prefect_federation.joins.models import ExpectationInstance, JoinRecord
from prefect_federation.joins.planner import (
    due_instances,
    instance_for_arrival,
    is_complete,
    join_idempotency_key,
    join_item_id,
    join_parameters,
    missing_types,
)
from prefect_federation.joins.store import JoinStore, SlaClaim
from prefect_federation.labels import run_labels, run_tags
from prefect_federation.listener.launcher import StartedRun
from prefect_federation.listener.pipeline import MessagePlan, RunRequest
from prefect_federation.publisher import Publisher

__all__ = ["JoinCoordinator", "PrefectAlertEmitter", "prefect_event_name"]

logger = logging.getLogger("prefect_federation.joins")

Clock = Callable[[], datetime]


def prefect_event_name(what: str) -> str:
    """The event in the domain's Prefect event stream: `prefect-federation.sla.missed`."""
    return f"prefect-federation.{what}"


class AlertEmitter(Protocol):
    def __call__(self, domain: str, what: str, resource_id: str, data: dict[str, Any]) -> None: ...


class PrefectAlertEmitter:
    """Records an alert in the domain's Prefect event stream (`prefect.events.emit_event`)."""

    def __call__(self, domain: str, what: str, resource_id: str, data: dict[str, Any]) -> None:
        from prefect.events import emit_event

        emit_event(
            event=prefect_event_name(what),
            resource={
                "prefect.resource.id": resource_id,
                "prefect.resource.name": f"{domain} {what}",
                "federation.domain": domain,
            },
            payload=data,
        )


class JoinCoordinator:
    """One domain's joins and expectations over a shared `JoinStore`."""

    def __init__(
        self,
        domain: DomainDeclaration,
        store: JoinStore,
        publisher: Publisher | None,
        *,
        emit: AlertEmitter | None = None,
        clock: Clock | None = None,
        tick_seconds: float = 15.0,
    ) -> None:
        self.domain = domain
        self.store = store
        self.publisher = publisher
        self.emit = emit
        self.clock = clock or (lambda: datetime.now(UTC))
        self.tick_seconds = tick_seconds
        self.counts = {"waiting": 0, "completed": 0, "late": 0, "duplicate": 0}
        self.published: list[EventEnvelope] = []
        self._settled: set[str] = set()  # expectation instances this process saw decided
        self._lock = threading.Lock()
        self._claiming = threading.Lock()
        self._ticker: threading.Thread | None = None

    def _subscription(self, join_id: str) -> Subscription:
        return next(s for s in self.domain.joins() if s.join_id == join_id)

    # -- arrivals ---------------------------------------------------------------------------------

    def complete(self, plan: MessagePlan) -> list[RunRequest]:
        """Store the message's arrivals; the runs of the joins they complete."""
        now = self.clock()
        self.observe(plan.envelope, now)
        requests: list[RunRequest] = []
        for arrival in plan.arrivals:
            subscription = self._subscription(arrival.subscription)
            assert subscription.join is not None
            item_id = join_item_id(subscription.join_id, arrival.key)
            result = self.store.record_arrival(
                item_id,
                subscription.join_id,
                arrival.key,
                arrival.envelope.type,
                arrival.envelope.to_json(),
                now,
                now + subscription.join.within,
            )
            record = result.record
            if result.outcome == "late":
                self._count("late")
                logger.warning(
                    "join %s key %r: %s %s arrived after the join was %s; recorded, acked",
                    subscription.join_id,
                    arrival.key,
                    arrival.envelope.type,
                    arrival.envelope.id,
                    record.status,
                )
                continue
            if result.outcome == "duplicate":
                self._count("duplicate")
            if record.status != "open":
                continue  # a redelivery after the run started: nothing more to do
            if not is_complete(subscription, record):
                self._count("waiting")
                logger.info(
                    "join %s key %r: %s arrived; waiting for %s (until %s)",
                    subscription.join_id,
                    arrival.key,
                    arrival.envelope.type,
                    ", ".join(missing_types(subscription, record)),
                    record.expires_at.isoformat(timespec="seconds"),
                )
                continue
            self._count("completed")
            requests.append(self._request(subscription, record, arrival.envelope))
        return requests

    def _request(
        self, subscription: Subscription, record: JoinRecord, envelope: EventEnvelope
    ) -> RunRequest:
        return RunRequest(
            deployment=subscription.deployment,
            parameters=join_parameters(subscription, record),
            idempotency_key=join_idempotency_key(
                self.domain.domain, subscription, record.key, record.first_at
            ),
            name=f"{subscription.join_id} {record.key}",
            tags=run_tags(envelope),
            labels={**run_labels(envelope), "federation.join.key": record.key},
            envelope=envelope,
            join_item_id=record.item_id,
        )

    def started(self, request: RunRequest, run: StartedRun) -> None:
        """The join's run exists (new or found by its key): close the join."""
        if request.join_item_id is not None:
            self.store.mark_started(request.join_item_id, str(run.flow_run_id))
            logger.info("join %s: run %s", request.join_item_id, run.flow_run_id)

    def _count(self, name: str) -> None:
        with self._lock:
            self.counts[name] += 1

    # -- expectations -----------------------------------------------------------------------------

    def observe(self, envelope: EventEnvelope, now: datetime | None = None) -> None:
        """An event arrived: it fulfils today's expectation of it (and recovers a missed one)."""
        now = now or self.clock()
        for expectation in self.domain.expects:
            instance = instance_for_arrival(expectation, envelope, now)
            if instance is None:
                continue
            self.store.record_sla_arrival(instance, now, str(envelope.id))
            self._claim_and_alert(instance, "recovered", now, {"event_id": str(envelope.id)})

    def _claim_and_alert(
        self, instance: ExpectationInstance, what: SlaClaim, now: datetime, extra: dict[str, Any]
    ) -> bool:
        # one claim at a time from this process: DynamoDB decides between processes, but moto
        # (the embedded default) does not serialize concurrent conditional writes, and a
        # listener's pool handles a redelivered event and its duplicate at the same moment
        with self._claiming:
            if not self.store.claim_sla(instance, what, now):
                return False
        data = {
            "domain": self.domain.domain,
            "event": instance.event,
            "day": instance.day.isoformat(),
            "value": instance.value,
            "deadline": instance.deadline.isoformat(),
            **extra,
        }
        try:
            self._alert(SLA_MISSED if what == "missed" else SLA_RECOVERED, instance.item_id, data)
        except Exception:
            self.store.release_sla(instance.item_id, what)
            raise
        return True

    # -- the clock --------------------------------------------------------------------------------

    def tick(self) -> list[EventEnvelope]:
        """Publish what is due: expired joins, missed deadlines. Returns what it published."""
        now = self.clock()
        before = len(self.published)
        for record in self.store.expiry_candidates(now):
            subscription = next(
                (s for s in self.domain.joins() if s.join_id == record.subscription), None
            )
            if subscription is None:
                continue  # a join no longer declared
            if not self.store.claim_expiry(record.item_id, now, subscription.event_types):
                continue
            data = {
                "domain": self.domain.domain,
                "subscription": subscription.join_id,
                "key": record.key,
                "arrived": sorted(record.arrivals),
                "missing": missing_types(subscription, record),
                "first_at": record.first_at.isoformat(),
                "expired_at": record.expires_at.isoformat(),
            }
            try:
                self._alert(JOIN_EXPIRED, record.item_id, data)
            except Exception:
                self.store.release_expiry(record.item_id)
                raise
        for expectation in self.domain.expects:
            for instance in due_instances(expectation, now):
                if instance.item_id in self._settled:
                    continue
                self._claim_and_alert(instance, "missed", now, {"missed_at": now.isoformat()})
                self._settled.add(instance.item_id)  # decided: missed, arrived or claimed
        return self.published[before:]

    def _alert(self, what: str, item_id: str, data: dict[str, Any]) -> None:
        envelope = EventEnvelope(
            id=uuid5(NAMESPACE_URL, f"prefect-federation:{self.domain.domain}:{item_id}:{what}"),
            source=self.domain.domain,
            type=alert_type(self.domain.domain, what),
            subject=item_id,
            data=data,
        )
        if self.publisher is not None:
            self.publisher.publish(envelope)
        if self.emit is not None:
            resource = f"prefect-federation.{what.split('.')[0]}.{self.domain.domain}.{item_id}"
            self.emit(self.domain.domain, what, resource, data)
        logger.warning("%s: %s", envelope.type, data)
        with self._lock:
            self.published.append(envelope)

    def start_ticking(self, stopping: threading.Event) -> None:
        """Call `tick()` every `tick_seconds` on a daemon thread until `stopping` is set."""

        def loop() -> None:
            while not stopping.wait(self.tick_seconds):
                try:
                    self.tick()
                except Exception as exc:  # the next tick tries again
                    logger.warning("join/expectation sweep failed: %s", exc)

        self._ticker = threading.Thread(target=loop, name="listener-joins-clock", daemon=True)
        self._ticker.start()
