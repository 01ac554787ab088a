"""Backpressure: can a subscription's deployment take another run now?

A deployment cannot when its work pool has no live worker or runner (the pool is `NOT_READY`),
when the pool is paused, when its concurrency limit is reached (running + waiting runs >= the
limit), or when `max_waiting` of its runs (tagged `federation`) are already scheduled and not
started (SCHEDULED or PENDING, which includes Prefect's `AwaitingConcurrencySlot`).

Why a concurrency limit holds at once instead of letting up to `max_waiting` runs queue behind
it: a run that finds no slot goes to `AwaitingConcurrencySlot` and is rescheduled
`PREFECT_DEPLOYMENT_CONCURRENCY_SLOT_WAIT_SECONDS` (30 s) later, so a queued run starts up to
30 s after a slot frees; a message held in SQS comes back `hold_delay_seconds` (10 s) later and
its run starts at once. Then the
listener creates no run and leaves the message in SQS (`errors.Held`), instead of piling up
scheduled runs that all start at once later.

What Prefect says is read at most every `ttl` seconds per deployment (`CapacityGate`); between two
reads, the runs this listener admitted are counted on top, so a burst of messages
handled at once cannot overshoot `max_waiting` by more than what other listeners of the same
domain created in the same few seconds: a run admitted counts as waiting until its creation has
returned (`release`), and the next check then reads Prefect afresh.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:
    from prefect.client.orchestration import SyncPrefectClient

__all__ = [
    "Capacity",
    "CapacityGate",
    "CapacityProbe",
    "PrefectCapacityProbe",
    "capacity_reason",
]


class Capacity(BaseModel):
    """What Prefect says of one deployment's room for runs."""

    model_config = ConfigDict(frozen=True)

    waiting: int = 0
    running: int = 0
    concurrency_limit: int | None = None
    work_pool: str | None = None
    pool_status: str | None = None


def capacity_reason(capacity: Capacity, max_waiting: int) -> str | None:
    """Why the deployment can take no run now; None when it can. Pure."""
    pool = capacity.work_pool or "?"
    if capacity.pool_status == "PAUSED":
        return f"work pool {pool} is paused"
    if capacity.pool_status == "NOT_READY":
        return f"work pool {pool} has no live worker or runner"
    limit = capacity.concurrency_limit
    if limit is not None and capacity.running + capacity.waiting >= limit:
        return (
            f"concurrency limit {limit} reached ({capacity.running} running, "
            f"{capacity.waiting} waiting)"
        )
    if capacity.waiting >= max_waiting:
        return f"{capacity.waiting} run(s) waiting to start (max_waiting {max_waiting})"
    return None


class CapacityProbe(Protocol):
    def read(self, deployment: str) -> Capacity: ...


class PrefectCapacityProbe:
    """Reads a deployment's capacity from its Prefect server (three small calls)."""

    def __init__(self, client: SyncPrefectClient) -> None:
        self.client = client

    def read(self, deployment: str) -> Capacity:
        from prefect.client.schemas.filters import (
            FlowRunFilter,
            FlowRunFilterDeploymentId,
            FlowRunFilterState,
            FlowRunFilterStateType,
            FlowRunFilterTags,
        )
        from prefect.client.schemas.objects import StateType

        from prefect_federation.labels import FEDERATION_TAG

        found = self.client.read_deployment_by_name(deployment)

        def count(*states: StateType) -> int:
            return self.client.count_flow_runs(
                flow_run_filter=FlowRunFilter(
                    deployment_id=FlowRunFilterDeploymentId(any_=[found.id]),
                    state=FlowRunFilterState(type=FlowRunFilterStateType(any_=list(states))),
                    tags=FlowRunFilterTags(all_=[FEDERATION_TAG]),
                )
            )

        status = None
        if found.work_pool_name:
            pool = self.client.read_work_pool(found.work_pool_name)
            status = pool.status.value if pool.status is not None else None
        limit = found.global_concurrency_limit.limit if found.global_concurrency_limit else None
        return Capacity(
            waiting=count(StateType.SCHEDULED, StateType.PENDING),
            running=count(StateType.RUNNING),
            concurrency_limit=limit,
            work_pool=found.work_pool_name,
            pool_status=status,
        )


class CapacityGate:
    """`check` a deployment before creating its run, `created` after: cached per deployment."""

    def __init__(
        self,
        probe: CapacityProbe,
        ttl: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.probe = probe
        self.ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[float, Capacity]] = {}
        self._pending: dict[str, int] = {}

    def _capacity(self, deployment: str) -> Capacity:
        now = self._clock()
        cached = self._cache.get(deployment)
        if cached is not None and now - cached[0] < self.ttl:
            return cached[1]
        capacity = self.probe.read(deployment)
        self._cache[deployment] = (now, capacity)
        return capacity

    def check(self, deployment: str, max_waiting: int) -> str | None:
        """Why no run of `deployment` can be created now; None when one can. An admitted run
        counts as waiting from here until `release` (its creation may outlast the cache)."""
        with self._lock:
            capacity = self._capacity(deployment)
            pending = self._pending.get(deployment, 0)
            seen = capacity.model_copy(update={"waiting": capacity.waiting + pending})
            reason = capacity_reason(seen, max_waiting)
            if reason is None:
                self._pending[deployment] = pending + 1
            return reason

    def release(self, deployment: str) -> None:
        """The admitted run was created (or its creation failed): Prefect's count is the truth
        again, read afresh next time."""
        with self._lock:
            self._pending[deployment] = max(0, self._pending.get(deployment, 0) - 1)
            self._cache.pop(deployment, None)
