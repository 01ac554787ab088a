"""Runs a dead fork runner left behind: claimed but never started, or started and orphaned.

A fork runner claims a run by moving it to PENDING with the message `claimed by fork runner pid
<pid> on <host>`, and records its forked child as the run's infrastructure pid
(`fork:<host>:<pid>`).
When that runner is gone (its pid is dead on this host, or the claim is older than
`stale_claim_seconds` on another host), `recover_orphans` schedules the PENDING runs again (and
hands them to the live executor) and marks the RUNNING ones CRASHED, so Prefect's retry rules and
automations apply. A PENDING run claimed by an ordinary worker is that worker's business.
"""

from __future__ import annotations

import logging
import os
import re
import time
from typing import TYPE_CHECKING, Any
from uuid import UUID

if TYPE_CHECKING:
    from prefect_federation.executor import ForkExecutor

__all__ = ["claim_message", "orphaned", "process_alive", "recover_orphans"]

logger = logging.getLogger("prefect_federation.executor")

_CLAIM = re.compile(r"claimed by fork runner pid (?P<pid>\d+) on (?P<host>\S+)$")
_FORK_PID = re.compile(r"^fork:(?P<host>[^:]+):(?P<pid>\d+)$")


def claim_message(pid: int, host: str) -> str:
    """The PENDING state's message of a fork runner's claim (what `orphaned` reads back)."""
    return f"claimed by fork runner pid {pid} on {host}"


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def orphaned(run: Any, now: float, executor: ForkExecutor) -> bool:
    """A run of ours that a fork runner claimed or started, and whose runner is gone."""
    if executor.has_or_had(run.id):
        return False  # alive, or ended here after the poll read it
    state = run.state
    if state is None:
        return False
    if state.is_pending():
        claim = _CLAIM.search(state.message or "")
        if claim is None:
            return False  # claimed by an ordinary worker: its business
        if claim["host"] == executor.host:
            return int(claim["pid"]) != os.getpid() and not process_alive(int(claim["pid"]))
        return bool(now - state.timestamp.timestamp() > executor.stale_claim_seconds)
    if state.is_running():
        pid = _FORK_PID.match(run.infrastructure_pid or "")
        return bool(pid and pid["host"] == executor.host and not process_alive(int(pid["pid"])))
    return False


def recover_orphans(executor: ForkExecutor) -> list[UUID]:
    """Schedule again the runs a dead runner claimed but never started (and submit them); mark
    CRASHED the runs whose forked process died with its runner. Returns the runs recovered."""
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterId,
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType
    from prefect.states import Crashed, Scheduled

    if not executor.targets:
        return []
    client = executor.client
    runs = client.read_flow_runs(
        flow_run_filter=FlowRunFilter(
            state=FlowRunFilterState(
                type=FlowRunFilterStateType(any_=[StateType.PENDING, StateType.RUNNING])
            )
        ),
        deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=list(executor.targets))),
    )
    now = time.time()
    recovered: list[UUID] = []
    for run in runs:
        if not orphaned(run, now, executor):
            continue
        assert run.state is not None
        if run.state.is_pending():
            message = f"scheduled again: {run.state.message}, and that runner is gone"
            client.set_flow_run_state(run.id, Scheduled(message=message), force=True)
            logger.warning(
                "run %s (%s) was claimed by a runner that is gone; scheduling it again",
                run.name,
                run.id,
            )
            executor.submit(run.id, run.deployment_id, "SCHEDULED")
        else:
            message = f"its process ({run.infrastructure_pid}) died with its fork runner"
            client.set_flow_run_state(run.id, Crashed(message=message), force=True)
            logger.warning("run %s (%s) crashed: %s", run.name, run.id, message)
        recovered.append(run.id)
    executor.recovered.extend(recovered)
    return recovered
