"""What executes the downstream domain's flow runs, selected by name (`--runner NAME`).

A runner is a function that starts its processes in the bench's `Stack` and returns once they are
ready to pick up runs of `first-line/bench-down` from the work pool. To add one, write the function
and register it in `RUNNERS`; the benchmarks measure it the same way (e2e_latency publishes at a
random point of the listener's 20 s long poll).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from prefect_federation.local import ManagedProcess, Stack

from .common import ROOT, wait_for_log


@dataclass(frozen=True)
class RunnerContext:
    """What a runner needs: the work pool to serve and the environment of the domain's processes
    (PREFECT_API_URL, PREFECT_HOME, AWS...)."""

    pool: str
    env: dict[str, str]
    cwd: Path = ROOT


@dataclass(frozen=True)
class Runner:
    name: str
    description: str
    pool_type: str  # the work pool type the deployment is deployed to
    poll_seconds: float  # its pick-up cycle (shorter than the long poll the publishes spread over)
    start: Callable[[Stack, RunnerContext], list[ManagedProcess]]
    listener_args: tuple[str, ...] = ()  # extra arguments of `prefect-federation listen`


PROCESS_WORKER_QUERY_SECONDS = 1


def start_process_worker(stack: Stack, context: RunnerContext) -> list[ManagedProcess]:
    """A standard `prefect worker start --type process`, polling every second."""
    prefect = str(Path(sys.executable).with_name("prefect"))
    env = {
        **context.env,
        "PREFECT_WORKER_QUERY_SECONDS": str(PROCESS_WORKER_QUERY_SECONDS),
    }
    process = stack.start(
        "worker",
        [prefect, "worker", "start", "--pool", context.pool, "--type", "process"],
        env,
        cwd=context.cwd,
    )
    wait_for_log(process, "started!", 90)
    return [process]


def start_nothing(stack: Stack, context: RunnerContext) -> list[ManagedProcess]:
    """The listener runs the flows itself (`listen --execute`): nothing else to start."""
    return []


RUNNERS: dict[str, Runner] = {
    "fork": Runner(
        name="fork",
        description="listen --execute: runs pushed by the listener, forked from a warm parent",
        pool_type="process",
        poll_seconds=0.0,  # no poll: runs are pushed
        start=start_nothing,
        listener_args=("--execute",),
    ),
    "process": Runner(
        name="process",
        description=(
            f"prefect worker --type process, PREFECT_WORKER_QUERY_SECONDS="
            f"{PROCESS_WORKER_QUERY_SECONDS}"
        ),
        pool_type="process",
        poll_seconds=PROCESS_WORKER_QUERY_SECONDS,
        start=start_process_worker,
    ),
}
