"""Before a run is created: is its subscription paused, or its deployment full? (the hook)

`Gate.admit(request)` is called by the listener for each run it is about to create:

- paused with `hold`, or no capacity (`listener/capacity.py`): raises `errors.Held`, and
  `outcome.decide` leaves the message in the queue for `delay_seconds`;
- paused with `skip`: records the event as skipped (`listener/skipped.py`) and returns False:
  no run, and the message is acked once its other runs (if any) exist;
- otherwise True. Resuming a pause never floods: held messages come back one delay later and go
  through the same capacity check.

`held()` is what the heartbeat carries and `status` shows: each held subscription, why, since
when, and how many messages it held (and the oldest one's first arrival, for the retention).
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

from prefect_federation.declarations import DomainDeclaration, Subscription
from prefect_federation.errors import Held
from prefect_federation.listener.capacity import CapacityGate
from prefect_federation.listener.pause import PauseReader, subscription_key
from prefect_federation.listener.pipeline import RunRequest, derive_idempotency_key
from prefect_federation.listener.skipped import SkipRecords

__all__ = ["Gate", "subscription_of"]


def subscription_of(domain: DomainDeclaration, request: RunRequest) -> Subscription | None:
    """The subscription a run request was planned for (by its idempotency key)."""
    return next(
        (
            s
            for s in domain.subscribes
            if derive_idempotency_key(request.envelope, s) == request.idempotency_key
        ),
        None,
    )


class Gate:
    """Pause and backpressure, consulted before each run is created."""

    def __init__(
        self,
        domain: DomainDeclaration,
        *,
        pause: PauseReader | None = None,
        capacity: CapacityGate | None = None,
        skips: SkipRecords | None = None,
        hold_delay_seconds: int = 10,
        pause_delay_seconds: int = 30,
    ) -> None:
        self.domain = domain
        self.pause = pause
        self.capacity = capacity
        self.skips = skips
        self.hold_delay_seconds = hold_delay_seconds
        self.pause_delay_seconds = pause_delay_seconds
        self._lock = threading.Lock()
        self._held: dict[str, dict[str, Any]] = {}

    def admit(self, request: RunRequest, first_sent: datetime | None = None) -> bool:
        """True: create the run; False: skipped (recorded). Raises `Held`."""
        subscription = subscription_of(self.domain, request)
        if subscription is None:
            return True
        key = subscription_key(subscription)
        entry = self.pause.state().entry_for(subscription) if self.pause else None
        if entry is not None and entry.mode == "skip":
            if self.skips is None:
                raise Held(
                    "paused",
                    key,
                    "skip needs the archive bucket; holding",
                    self.pause_delay_seconds,
                )
            self.skips.record(self.domain.domain, key, request.envelope)
            self._clear(key)
            return False
        if entry is not None:
            self._hold("paused", key, f"paused ({entry.describe()})", first_sent)
            raise Held("paused", key, entry.describe(), self.pause_delay_seconds)
        if self.capacity is not None:
            reason = self.capacity.check(subscription.deployment, subscription.max_waiting)
            if reason is not None:
                self._hold("backpressure", key, reason, first_sent)
                raise Held("backpressure", key, reason, self.hold_delay_seconds)
        self._clear(key)
        return True

    def release(self, request: RunRequest) -> None:
        """After the admitted run's creation returned (or failed)."""
        subscription = subscription_of(self.domain, request)
        if self.capacity is not None and subscription is not None:
            self.capacity.release(subscription.deployment)

    def _hold(self, kind: str, key: str, reason: str, first_sent: datetime | None) -> None:
        now = datetime.now(UTC)
        with self._lock:
            current = self._held.get(key)
            if current is None or current["kind"] != kind:
                current = {"kind": kind, "since": now.isoformat(), "releases": 0, "oldest": None}
            current["reason"] = reason
            current["releases"] += 1
            if first_sent is not None and (
                current["oldest"] is None or first_sent.isoformat() < current["oldest"]
            ):
                current["oldest"] = first_sent.isoformat()
            self._held[key] = current

    def _clear(self, key: str) -> None:
        with self._lock:
            self._held.pop(key, None)

    def held(self) -> dict[str, dict[str, Any]]:
        """Subscription key -> {kind, reason, since, releases (of held messages), oldest (the
        first arrival of the oldest held message)}."""
        with self._lock:
            return {k: dict(v) for k, v in self._held.items()}
