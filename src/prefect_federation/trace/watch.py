"""Following a chain until it settles: what `publish --wait` does.

`ChainWatch` decides, purely, from the run records it is fed; `wait_for_chain` is the loop that
reads them off the servers (`RunReader`) and feeds it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from prefect_federation.trace.reader import RunReader
from prefect_federation.trace.records import RunRecord, sort_time
from prefect_federation.trace.tree import ChainTrace, build_trace, downstream_runs
from prefect_federation.values import one_line

if TYPE_CHECKING:
    from prefect.client.orchestration import SyncPrefectClient

__all__ = ["ChainOutcome", "ChainWatch", "RunChange", "wait_for_chain"]


class RunChange(BaseModel):
    """A run that appeared (`previous` None) or changed state, seen `elapsed` s into the wait."""

    model_config = ConfigDict(frozen=True)

    run: RunRecord
    previous: str | None
    elapsed: float


class ChainOutcome(BaseModel):
    """How a wait for a chain ended."""

    ok: bool
    reason: str
    timed_out: bool = False
    elapsed_seconds: float = 0.0
    runs: list[RunRecord] = Field(default_factory=list)
    failed: list[RunRecord] = Field(default_factory=list, description="Final, not COMPLETED.")
    unfinished: list[RunRecord] = Field(default_factory=list, description="Not final yet.")
    trace: ChainTrace | None = None


def _failures(runs: Sequence[RunRecord]) -> str:
    """`scoring score/scoring (run ...) ended Failed: <message>  <UI link>; ...`."""
    lines = []
    for run in runs:
        message = f": {one_line(run.message, 300)}" if run.message else ""
        ended = f"{run.describe()} ended {run.state_name or run.state}{message}"
        lines.append(f"{ended}  {run.url or ''}".rstrip())
    return "; ".join(lines)


class ChainWatch:
    """The decision of `wait_for_chain`, without I/O: feed it observations, ask for a verdict.

    Done when at least one run exists, every run is final, and nothing changed (no new run, no
    state change) for `quiet_seconds`: a run that just completed may have published an event
    whose runs appear a moment later, once the subscribing domains' listeners create them.
    """

    def __init__(self, timeout: float, quiet_seconds: float = 5.0) -> None:
        self.timeout = timeout
        self.quiet_seconds = quiet_seconds
        self.runs: dict[UUID, RunRecord] = {}
        self.last_change = 0.0
        self.servers: list[str] = []

    def observe(self, runs: Sequence[RunRecord], elapsed: float) -> list[RunChange]:
        """Record what the servers show `elapsed` seconds into the wait; returns the changes."""
        changes = []
        for run in sorted(runs, key=sort_time):
            known = self.runs.get(run.id)
            if known is None or known.state != run.state:
                changes.append(
                    RunChange(run=run, previous=known.state if known else None, elapsed=elapsed)
                )
            self.runs[run.id] = run
        if changes:
            self.last_change = elapsed
        return changes

    def verdict(self, elapsed: float) -> ChainOutcome | None:
        """The outcome if the wait is over at `elapsed` seconds, else None."""
        runs = sorted(self.runs.values(), key=sort_time)
        unfinished = [r for r in runs if not r.final]
        settled = bool(runs) and not unfinished
        quiet = elapsed - self.last_change >= self.quiet_seconds
        timed_out = elapsed >= self.timeout
        if settled and (quiet or timed_out):
            return self._settled(runs, elapsed)
        if not timed_out:
            return None
        if not runs:
            reason = (
                f"no run appeared within {self.timeout:.0f}s on "
                f"{len(self.servers) or 'the'} Prefect server(s) "
                f"({', '.join(self.servers) or 'current'}): every subscription filtered "
                "the event out, nothing subscribes to it, or no listener is running "
                "(see `prefect-federation status` and the DLQs)"
            )
            return ChainOutcome(ok=False, timed_out=True, elapsed_seconds=elapsed, reason=reason)
        waiting = "; ".join(f"{r.describe()} {r.state_name or r.state}" for r in unfinished)
        failed = [r for r in runs if r.final and r.state != "COMPLETED"]
        reason = f"timed out after {self.timeout:.0f}s; still running: {waiting}"
        if failed:
            reason += "; and failed: " + _failures(failed)
        return ChainOutcome(
            ok=False,
            timed_out=True,
            elapsed_seconds=elapsed,
            reason=reason,
            runs=runs,
            failed=failed,
            unfinished=unfinished,
        )

    def _settled(self, runs: list[RunRecord], elapsed: float) -> ChainOutcome:
        failed = [r for r in runs if r.state != "COMPLETED"]
        if failed:
            return ChainOutcome(
                ok=False,
                elapsed_seconds=elapsed,
                reason=f"{len(failed)} of {len(runs)} run(s) did not complete: "
                + _failures(failed),
                runs=runs,
                failed=failed,
            )
        return ChainOutcome(
            ok=True,
            elapsed_seconds=elapsed,
            reason=f"the chain completed: {len(runs)} run(s), all COMPLETED",
            runs=runs,
        )


def wait_for_chain(
    clients: Mapping[str, SyncPrefectClient],
    correlation_id: UUID | str,
    timeout: float,
    quiet_seconds: float = 5,
    on_update: Callable[[RunChange], None] | None = None,
    *,
    event_id: UUID | str | None = None,
    poll_seconds: float = 1.0,
    ui_urls: Mapping[str, str] | None = None,
) -> ChainOutcome:
    """Wait until the chain an event started settles, following it across servers.

    Runs keep appearing as domains publish; the wait is over when at least one run exists,
    every run is final and no new run appeared (nor any state changed) for `quiet_seconds`.
    `ok` when every run COMPLETED; otherwise `reason` names the failed runs (domain, deployment,
    state, message, UI link), or says what was still running at `timeout`.

    `event_id` (default: the correlation id) narrows the wait to the runs that event and the
    events after it started, when an event continues an existing chain.
    """
    reader = RunReader(clients, ui_urls)
    watch = ChainWatch(timeout, quiet_seconds)
    watch.servers = list(clients)
    root = UUID(str(event_id)) if event_id is not None else UUID(str(correlation_id))
    started = time.monotonic()
    problems: list[str] = []
    while True:
        elapsed = time.monotonic() - started
        records, problems = reader.read(correlation_id)
        if root != UUID(str(correlation_id)):
            records = downstream_runs(correlation_id, records, root)
        for change in watch.observe(records, elapsed):
            if on_update is not None:
                on_update(change)
        outcome = watch.verdict(elapsed)
        if outcome is not None:
            trace = build_trace(
                correlation_id, list(watch.runs.values()), servers=list(clients), problems=problems
            )
            outcome.trace = trace
            if problems and not outcome.ok:
                outcome.reason += " (not read: " + "; ".join(problems) + ")"
            return outcome
        time.sleep(max(0.05, min(poll_seconds, timeout - elapsed)))
