"""The listener loop: receive -> plan runs -> start them -> settle each message's outcome.

What happens to a message is decided in one place, `prefect_federation.listener.outcome.decide`;
this module only acts on it. See that module for the table.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from prefect_federation.declarations import DomainDeclaration, Federation
from prefect_federation.errors import (
    ConfigError,
    HeldBack,
    PrefectApiUnavailable,
    SettleError,
)
from prefect_federation.listener.gate import Gate
from prefect_federation.listener.launcher import RunLauncher, StartedRun
from prefect_federation.listener.outage import PrefectOutage
from prefect_federation.listener.outcome import Outcome, decide, describe_action
from prefect_federation.listener.pipeline import plan_message
from prefect_federation.listener.stats import ListenerStats, MessageResult, log_result
from prefect_federation.listener.visibility import VisibilityKeeper
from prefect_federation.memory import release_free_memory
from prefect_federation.queue import QueueClient, ReceivedMessage, first_sent, original_message_id
from prefect_federation.settings import ListenerSettings

if TYPE_CHECKING:
    from prefect_federation.joins.coordinator import JoinCoordinator

__all__ = ["Listener"]

logger = logging.getLogger("prefect_federation.listener")


class Listener:
    """One domain's listener: long-polls its queue and starts its deployments' runs."""

    def __init__(
        self,
        domain: DomainDeclaration,
        queue: QueueClient,
        launcher: RunLauncher,
        *,
        federation: Federation | None = None,
        settings: ListenerSettings | None = None,
        on_result: Callable[[MessageResult], None] | None = None,
        on_heartbeat: Callable[[Listener, str], None] | None = None,
        health_check: Callable[[], bool] | None = None,
        pause: Callable[[float], bool] | None = None,
        on_ready: Callable[[Listener], None] | None = None,
        gate: Gate | None = None,
        joins: JoinCoordinator | None = None,
    ) -> None:
        if domain.keeps_state and joins is None:
            raise ConfigError(
                f"domain {domain.domain!r} has joins or expectations: its listener needs their "
                "store (a JoinCoordinator)"
            )
        self.joins = joins
        self.domain = domain
        self.queue = queue
        self.launcher = launcher
        self.federation = federation
        self.settings = settings or ListenerSettings(domain=domain.domain)
        self.on_result = on_result
        self.on_heartbeat = on_heartbeat
        self.health_check = health_check or getattr(launcher, "healthy", None)
        self.on_ready = on_ready
        self.gate = gate  # pause and backpressure (listener/gate.py); None: neither
        self.ready = threading.Event()
        self.stats = ListenerStats()
        self.stopping = threading.Event()
        # Waits out a back-off; True when the listener is stopping. Injectable (tests: no sleep).
        self.pause = pause or self.stopping.wait
        self._busy = threading.Event()
        self._pool = ThreadPoolExecutor(
            max_workers=self.settings.concurrency, thread_name_prefix=f"listener-{domain.domain}"
        )
        self._limits: tuple[int | None, int | None] | None = None
        self.outage = PrefectOutage(self.stopping, self.pause, self.health_check)
        self._in_flight: dict[Future[MessageResult], float] = {}  # -> when handling started
        self._in_flight_changed = threading.Condition()
        self._heartbeat: threading.Thread | None = None

    # -- one message ------------------------------------------------------------------------

    def handle(self, message: ReceivedMessage) -> MessageResult:
        """Plan and start the runs for one message, then ack, dead-letter or leave it."""
        runs: list[StartedRun] = []
        error: BaseException | None = None
        filtered = False
        try:
            plan = plan_message(
                message.body,
                self.domain,
                self.federation,
                message.attributes,
                original_message_id(message),  # the same after a requeue (raw events' ids)
                first_sent(message),
            )
            # arrivals at joins are stored before any run starts and before the message is acked
            requests = plan.requests + (self.joins.complete(plan) if self.joins else [])
            filtered = not requests and not plan.arrivals
            for request in requests:
                if self.gate is not None and not self.gate.admit(request, first_sent(message)):
                    continue  # paused with skip: recorded as skipped, no run
                try:
                    runs.append(self.launcher.start(request))
                finally:
                    if self.gate is not None:
                        self.gate.release(request)
                if request.join_item_id is not None and self.joins is not None:
                    self.joins.started(request, runs[-1])
                if request is requests[0]:
                    with self.stats.lock:
                        self.stats.last_event_at = datetime.now(UTC)
                        self.stats.last_event_type = request.envelope.type
        except Exception as exc:  # decided below, in one place
            error = exc
        return self._settle(message, error, runs, filtered)

    def preflight(self) -> tuple[int | None, int | None]:
        """Read the queue's limits once: (maxReceiveCount, visibility timeout).

        Raises:
            ConfigError: the queue has no dead-letter queue (no redrive policy), so a bad
                message would have nowhere to go.
        """
        if self._limits is None:
            max_receive_count = self.queue.max_receive_count()
            if max_receive_count is None:
                raise ConfigError(
                    f"queue {self.queue.describe()} has no dead-letter queue (no RedrivePolicy); "
                    "run `prefect-federation provision` to create it"
                )
            self._limits = (max_receive_count, self.queue.visibility_timeout())
        return self._limits

    def _settle(
        self,
        message: ReceivedMessage,
        error: BaseException | None,
        runs: list[StartedRun],
        filtered: bool = False,
    ) -> MessageResult:
        """Decide the message's outcome and act on it; a failure to act is an outcome too."""
        if isinstance(error, PrefectApiUnavailable):
            self.outage.down.set()  # before the message is made visible again
        max_receive_count, _ = self.preflight()
        outcome = decide(error, message.receive_count, max_receive_count)
        try:
            self._apply(message, outcome)
        except Exception as exc:  # delete, DLQ send or visibility change failed
            outcome = decide(
                SettleError(describe_action(outcome), exc), message.receive_count, None
            )
            self.stats.add(left=1)
        created = sum(1 for run in runs if run.created)
        self.stats.add(
            received=1,
            runs_created=created,
            runs_existing=len(runs) - created,
            filtered=int(filtered and error is None),
        )
        result = MessageResult(message, outcome, runs, error)
        log_result(result)
        if self.on_result is not None:
            self.on_result(result)
        return result

    def _apply(self, message: ReceivedMessage, outcome: Outcome) -> None:
        if outcome.action == "ack":
            self.queue.delete(message)
            self.stats.add(acked=1)
        elif outcome.action == "dead-letter":
            self.queue.dead_letter(message, outcome.reason or "unknown")
            self.queue.delete(message)
            self.stats.add(dead_lettered=1)
        elif outcome.action == "retry":
            self.queue.retry_later(message, outcome.delay_seconds)
            self.stats.add(retried=1)
        elif outcome.action == "requeue":  # held, one receive short of the redrive limit
            self.queue.requeue(message, outcome.delay_seconds)
            self.stats.add(retried=1)

    # -- the loop ---------------------------------------------------------------------------

    def handle_batch(self, messages: list[ReceivedMessage]) -> list[MessageResult]:
        """Handle a batch: concurrently, or one by one in order on a FIFO queue."""
        if not messages:
            return []
        keeper = VisibilityKeeper(self.queue, messages, self.visibility_timeout())
        keeper.start()
        try:
            if self.queue.fifo:
                results = self._handle_in_order(messages)
            elif len(messages) == 1:
                results = [self.handle(messages[0])]
            else:
                results = list(self._pool.map(self.handle, messages))
        finally:
            keeper.stop()
        return results

    def visibility_timeout(self) -> int:
        """The shorter of the setting and the queue's own timeout: a message must be extended
        before the queue would hand it to another consumer."""
        _, queue_timeout = self.preflight()
        if queue_timeout:
            return min(self.settings.visibility_timeout, int(queue_timeout))
        return self.settings.visibility_timeout

    def _handle_in_order(self, messages: list[ReceivedMessage]) -> list[MessageResult]:
        """FIFO: in order; once a message of a group is left for retry, the rest of that group is
        held back too (made visible again after the same delay), so the group keeps its order."""
        results: list[MessageResult] = []
        held: dict[str | None, Outcome] = {}
        for message in messages:
            blocked = held.get(message.group_id)
            if blocked is not None:
                held_back = HeldBack(message.group_id, blocked.delay_seconds)
                results.append(self._settle(message, held_back, []))
                continue
            result = self.handle(message)
            if result.outcome.action == "retry":
                held[message.group_id] = result.outcome
            results.append(result)
        return results

    def poll_once(self, wait_seconds: int | None = None) -> list[MessageResult]:
        """One receive (long poll) and the handling of what it returned."""
        wait = self.settings.wait_time_seconds if wait_seconds is None else wait_seconds
        messages = self.queue.receive(self.settings.max_messages, wait)
        self._prepare(messages)
        self._busy.set()
        try:
            results = self.handle_batch(messages)
        finally:
            self._busy.clear()
        unavailable = any(isinstance(r.error, PrefectApiUnavailable) for r in results)
        self.outage.streak = self.outage.streak + 1 if unavailable else 0
        if not unavailable:
            self.outage.down.clear()
        return results

    def run(self) -> None:
        """Poll until `stop()`; back off while the Prefect API or AWS are unavailable.

        Outside a FIFO queue, batches overlap: the next receive waits for the last batch at
        most `batch_wait_seconds`, then goes on while a slow message (e.g. one the Prefect API
        keeps answering 503 for) finishes on its own, within `concurrency` messages in flight.
        """
        self.preflight()
        logger.info("listener for domain %r polling %s", self.domain.domain, self.queue.describe())
        self._heartbeat = threading.Thread(
            target=self._beat, name="listener-heartbeat", daemon=True
        )
        self._heartbeat.start()
        if self.joins is not None:  # windows that close, deadlines that pass
            self.joins.start_ticking(self.stopping)
        failures = 0
        while not self.stopping.is_set():
            if self.outage.down.is_set():
                self.outage.streak = max(1, self.outage.streak)
                self.outage.wait()
                continue
            free = self._wait_for_capacity()
            if free == 0 or self.stopping.is_set() or self.outage.down.is_set():
                continue
            try:
                # the first receive does not wait: it proves the queue answers, and only then
                # is the listener ready (and long-polling), not when it merely started
                wait = self.settings.wait_time_seconds if self.ready.is_set() else 0
                if self.queue.fifo:
                    self.poll_once(wait)
                else:
                    self._dispatch(self.queue.receive(min(self.settings.max_messages, free), wait))
                failures = 0
                if not self.ready.is_set():
                    self._announce_ready()
            except Exception as exc:  # receive failed: AWS unreachable or throttling
                failures += 1
                delay = min(30.0, 2.0 ** min(failures, 5))
                logger.warning(
                    "receive failed (%s: %s); retrying in %.0fs", type(exc).__name__, exc, delay
                )
                self.pause(delay)
                continue
            if self.outage.streak and self.queue.fifo:
                self.outage.wait()
        self._pool.shutdown(wait=True)
        self.wait_heartbeat(5)
        logger.info("listener for domain %r stopped: %s", self.domain.domain, self.stats.as_dict())

    def _wait_for_capacity(self) -> int:
        """Wait until half the slots are free (up to a receive's worth), or the last batch is
        done (or only slow messages remain, past `batch_wait_seconds`) and a slot is free;
        returns the free slots (0 when stopping).

        Receiving again once half the slots are free keeps runs being created while the
        slowest of a batch still waits for its answer: a backlog drains without a pause per
        batch (the last run of each batch, then a receive round trip)."""
        limit = self.settings.concurrency
        refill = max(1, min(self.settings.max_messages, limit) // 2)
        with self._in_flight_changed:
            while not self.stopping.is_set() and not self.outage.down.is_set():
                now = time.monotonic()
                young = [
                    started
                    for started in self._in_flight.values()
                    if now - started < self.settings.batch_wait_seconds
                ]
                free = limit - len(self._in_flight)
                if (not young and free > 0) or free >= refill:
                    return free
                wake = (
                    max(young) + self.settings.batch_wait_seconds - now if young and free else 0.5
                )
                self._in_flight_changed.wait(max(0.01, wake))
        return 0

    def _dispatch(self, messages: list[ReceivedMessage]) -> None:
        """Hand a batch to the pool; each message is acked or left on its own when done."""
        if not messages:
            return
        self._prepare(messages)
        keeper = VisibilityKeeper(self.queue, messages, self.visibility_timeout())
        keeper.start()
        remaining = [len(messages)]
        started = time.monotonic()

        def finished(future: Future[MessageResult], message: ReceivedMessage) -> None:
            keeper.discard(message)
            with self._in_flight_changed:
                self._in_flight.pop(future, None)
                remaining[0] -= 1
                last = remaining[0] == 0
                self._in_flight_changed.notify_all()
            if last:
                keeper.stop()

        with self._in_flight_changed:
            for message in messages:
                future = self._pool.submit(self.handle, message)
                self._in_flight[future] = started
                future.add_done_callback(lambda f, m=message: finished(f, m))  # type: ignore[misc]

    def _prepare(self, messages: list[ReceivedMessage]) -> None:
        """Tell a launcher that can get ready for runs (the fork executor's: a warm child) that
        some may come; what it does is an optimisation only, so nothing it raises counts."""
        prepare = getattr(self.launcher, "prepare", None)
        if messages and callable(prepare):
            try:
                prepare()
            except Exception as exc:
                logger.debug("launcher could not prepare: %s", exc)

    def _announce_ready(self) -> None:
        self.ready.set()
        logger.info("listener for domain %r ready: received from its queue", self.domain.domain)
        if self.on_ready is not None:
            try:
                self.on_ready(self)
            except Exception as exc:  # readiness reporting must never stop the listener
                logger.warning("could not report readiness: %s", exc)

    def wait_heartbeat(self, timeout: float) -> None:
        """After `stop()`: wait for the last (`stopped`) heartbeat to be sent."""
        if self._heartbeat is not None:
            self._heartbeat.join(timeout)

    def _beat(self) -> None:
        """Report liveness at start, every `heartbeat_seconds`, and at stop."""
        if self.on_heartbeat is None:
            return
        phase = "started"
        while True:
            try:
                self.on_heartbeat(self, phase)
            except Exception as exc:  # a heartbeat must never stop the listener
                logger.debug("heartbeat failed: %s", exc)
            if phase == "stopped":
                return
            release_free_memory()  # what the last interval freed goes back to the kernel
            phase = "stopped" if self.stopping.wait(self.settings.heartbeat_seconds) else "alive"

    def stop(self) -> None:
        """Take nothing new; what is in flight finishes."""
        self.stopping.set()
        with self._in_flight_changed:
            self._in_flight_changed.notify_all()

    @property
    def busy(self) -> bool:
        """True while messages are being handled (not while only waiting in a long poll)."""
        return self._busy.is_set() or bool(self._in_flight)
