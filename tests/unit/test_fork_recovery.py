"""`orphaned`: which runs a dead fork runner left behind (no server: runs as Prefect reads them)."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections import deque
from types import SimpleNamespace
from uuid import uuid4

from prefect.states import Pending, Running

from prefect_federation.executor import ForkExecutor
from prefect_federation.fork_recovery import claim_message, orphaned


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def executor(**fields: object) -> SimpleNamespace:
    """What `orphaned` reads of a ForkExecutor, with its own `has_or_had`."""
    defaults = {"running": {}, "ended": deque(maxlen=4), "host": "here", "stale_claim_seconds": 60}
    fake = SimpleNamespace(**{**defaults, **fields}, _lock=threading.Lock())
    fake.has_or_had = lambda run_id: ForkExecutor.has_or_had(fake, run_id)  # type: ignore[arg-type]
    return fake


def running_run(pid: int) -> SimpleNamespace:
    return SimpleNamespace(id=uuid4(), state=Running(), infrastructure_pid=f"fork:here:{pid}")


def test_a_running_run_whose_child_is_dead_and_not_ours_is_orphaned() -> None:
    assert orphaned(running_run(dead_pid()), time.time(), executor()) is True


def test_a_run_this_executor_saw_end_is_not_orphaned_though_it_was_read_as_running() -> None:
    """The poll read the run RUNNING; its child exited and its end was recorded meanwhile."""
    run = running_run(dead_pid())
    ours = executor()
    ours.ended.append(run.id)

    assert orphaned(run, time.time(), ours) is False


def test_a_run_in_flight_or_claimed_by_a_live_runner_is_not_orphaned() -> None:
    run = running_run(dead_pid())
    assert orphaned(run, time.time(), executor(running={run.id: -1})) is False
    claimed = SimpleNamespace(
        id=uuid4(), state=Pending(message=claim_message(1, "here")), infrastructure_pid=None
    )
    assert orphaned(claimed, time.time(), executor()) is False  # pid 1 lives
