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

What Prefect says is read at most every `ttl` seconds per deployment (`CapacityGate`), in one
round trip of the API (`PrefectCapacityProbe`); between two reads, the runs this listener
admitted are counted on top, so a burst of messages handled at once cannot overshoot
`max_waiting` by more than what other listeners of the same domain created in the same few
seconds: a run admitted counts as waiting until its creation has returned (`release`), and the
next check then reads Prefect afresh.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol
from uuid import UUID

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
    running: int | None = None  # read only where there is a concurrency limit
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
    running = capacity.running or 0
    if limit is not None and running + capacity.waiting >= limit:
        return f"concurrency limit {limit} reached ({running} running, {capacity.waiting} waiting)"
    if capacity.waiting >= max_waiting:
        return f"{capacity.waiting} run(s) waiting to start (max_waiting {max_waiting})"
    return None


class CapacityProbe(Protocol):
    def read(self, deployment: str) -> Capacity: ...


class _Known(NamedTuple):
    """What a deployment's last read said that the other reads depend on."""

    id: UUID
    work_pool_name: str | None
    limited: bool


class PrefectCapacityProbe:
    """Reads a deployment's capacity from its Prefect server: the deployment, its work pool and
    its waiting runs (and its running runs where it has a concurrency limit, the one check that
    counts them).

    The reads that depend on the deployment (its id, its pool's name, whether it has a limit)
    go out together with the deployment's own read, as the last read found it, and are made
    again from the fresh one if it says otherwise: one round trip of the API per check instead
    of four in a row (~30 ms before each event's run on a 2-core machine, most of what the
    listener added to an event's way to its run)."""

    def __init__(self, client: SyncPrefectClient, threads: int = 3) -> None:
        self.client = client
        self._known: dict[str, _Known] = {}
        self._threads = threads
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()

    def _executor(self) -> ThreadPoolExecutor:
        with self._pool_lock:  # made at the first read: no thread before a fork server's fork
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self._threads, thread_name_prefix="capacity")
            return self._pool

    def read(self, deployment: str) -> Capacity:
        known = self._known.get(deployment)
        if known is None:
            return self._after(self.client.read_deployment_by_name(deployment), deployment)
        pool = self._executor()
        fresh = pool.submit(self.client.read_deployment_by_name, deployment)
        rest = self._dependent_reads(known, pool)
        found = fresh.result()
        if _known(found) != known:  # recreated, moved to another pool, a limit set or lifted
            for stale in rest.values():
                stale.cancel()  # those not started yet (results of the rest are dropped)
            return self._after(found, deployment)
        return self._capacity(found, rest)

    def _after(self, found: Any, deployment: str) -> Capacity:
        """The dependent reads, from a deployment just read."""
        known = _known(found)
        capacity = self._capacity(found, self._dependent_reads(known, self._executor()))
        self._known[deployment] = known
        return capacity

    def _dependent_reads(self, known: _Known, pool: ThreadPoolExecutor) -> dict[str, Future[Any]]:
        from prefect.client.schemas.filters import (
            FlowRunFilter,
            FlowRunFilterDeploymentId,
            FlowRunFilterState,
            FlowRunFilterStateType,
            FlowRunFilterTags,
        )
        from prefect.client.schemas.objects import StateType

        from prefect_federation.labels import FEDERATION_TAG

        def count(*states: StateType) -> int:
            return self.client.count_flow_runs(
                flow_run_filter=FlowRunFilter(
                    deployment_id=FlowRunFilterDeploymentId(any_=[known.id]),
                    state=FlowRunFilterState(type=FlowRunFilterStateType(any_=list(states))),
                    tags=FlowRunFilterTags(all_=[FEDERATION_TAG]),
                )
            )

        reads: dict[str, Future[Any]] = {
            "waiting": pool.submit(count, StateType.SCHEDULED, StateType.PENDING)
        }
        if known.work_pool_name:
            reads["pool"] = pool.submit(self.client.read_work_pool, known.work_pool_name)
        if known.limited:
            reads["running"] = pool.submit(count, StateType.RUNNING)
        return reads

    @staticmethod
    def _capacity(found: Any, reads: dict[str, Future[Any]]) -> Capacity:
        read = {name: future.result() for name, future in reads.items()}
        pool = read.get("pool")
        limit = found.global_concurrency_limit.limit if found.global_concurrency_limit else None
        return Capacity(
            waiting=read["waiting"],
            running=read.get("running"),
            concurrency_limit=limit,
            work_pool=found.work_pool_name,
            pool_status=pool.status.value if pool is not None and pool.status is not None else None,
        )


def _known(found: Any) -> _Known:
    return _Known(found.id, found.work_pool_name, found.global_concurrency_limit is not None)


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
