"""Run a domain's flow runs fast: pushed by its listener, forked from a warm parent.

A Prefect process worker polls for scheduled runs (every 10 s by default) and starts each in a cold
Python process (`import prefect` alone takes ~2 s here). `ForkExecutor` removes both waits while
keeping Prefect's semantics (states, logs, retries, cancellation, the UI):

- **push**: the listener hands every run it created straight to the executor (`submit`);
- **warm fork**: a single-threaded fork server (`prefect_federation.forkserver`, itself forked
  from the listener where it can be: `forkserver_start`) has Prefect and the domain's flows
  imported and keeps a child forked ahead, warm, which runs the next run with Prefect's own engine;
- **claim first**: like a worker, the executor moves the run to PENDING before starting it, so it
  can share a work pool with ordinary workers without a run ever starting twice; it only claims a
  run that is still SCHEDULED (a redelivered event finds its run COMPLETED, and Prefect would let
  a run without a persisted result leave COMPLETED and run again);
- **recovery** (`fork_recovery`): on start and on every poll, runs of its deployments that a dead
  fork runner had claimed (PENDING, never started) are scheduled again and run; runs a dead
  runner's child was running are marked CRASHED, so Prefect's retry rules and automations apply;
- **a worker in the UI**: it heartbeats to each of its work pools as a worker, so the pools show
  Ready and the runner is listed in the pool's Workers tab;
- **fallback poll**: runs created elsewhere (the UI, schedules, `prefect deployment run`) in the
  domain's work pools are picked up every `poll_seconds`;
- **cancellation and crashes**: a run set to CANCELLING gets its child terminated and is marked
  CANCELLED; a child that dies before its run is final marks it CRASHED.

Where fork is unsafe (no `os.fork`), use the ordinary process worker for the same pool instead.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from uuid import UUID

from prefect_federation.errors import ConfigError
from prefect_federation.fork_recovery import claim_message, recover_orphans
from prefect_federation.forkserver_start import start_fork_server
from prefect_federation.listener.launcher import RunLauncher, StartedRun
from prefect_federation.listener.pipeline import RunRequest

if TYPE_CHECKING:
    from prefect.client.orchestration import SyncPrefectClient

__all__ = ["ExecutingLauncher", "ForkExecutor", "fork_available"]

logger = logging.getLogger("prefect_federation.executor")


def fork_available() -> bool:
    """True where the warm fork executor can run (POSIX `fork`)."""
    return hasattr(os, "fork") and sys.platform != "win32"


@dataclass(frozen=True)
class _Target:
    entrypoint: str
    workdir: str
    work_pool: str | None


def _workdir_of(deployment: Any) -> str:
    for step in deployment.pull_steps or []:
        for name, options in step.items():
            if name.endswith("set_working_directory") and isinstance(options, dict):
                return str(options.get("directory") or os.getcwd())
    return str(deployment.path or os.getcwd())


class ForkExecutor:
    """Executes a domain's flow runs in children forked from a warm fork server."""

    def __init__(
        self,
        client: SyncPrefectClient,
        deployments: Iterable[str],
        *,
        poll_seconds: float = 10.0,
        log_path: str | None = None,
        stale_claim_seconds: float = 120.0,
        heartbeat_seconds: float = 30.0,
    ) -> None:
        if not fork_available():
            raise ConfigError("the fork executor needs os.fork; use a Prefect process worker")
        self.client = client
        self.deployment_names = list(deployments)
        self.poll_seconds = poll_seconds
        self.log_path = log_path
        self.stale_claim_seconds = stale_claim_seconds
        self.heartbeat_seconds = heartbeat_seconds
        self.host = socket.gethostname()
        self.worker_name = f"prefect-federation-fork-{self.host}-{os.getpid()}"
        self.recovered: list[UUID] = []
        self.targets: dict[UUID, _Target] = {}  # deployment id -> what to run
        self.pools: set[str] = set()
        self.running: dict[UUID, int] = {}  # flow run id -> child pid
        # the last runs whose end this executor recorded: a poll that read one of them as
        # RUNNING just before must not take its dead child for an orphan's
        self.ended: deque[UUID] = deque(maxlen=1024)
        self.started_count = 0
        self._cancelled: set[UUID] = set()
        self._server: Any = None  # a subprocess.Popen or a ForkedServer
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._ready = threading.Event()

    # -- life cycle -------------------------------------------------------------------------

    def start(self, timeout: float = 120) -> None:
        """Read the deployments, start the fork server (preloading their flows), start polling."""
        for name in self.deployment_names:
            deployment = self.client.read_deployment_by_name(name)
            if not deployment.entrypoint:
                continue
            self.targets[deployment.id] = _Target(
                deployment.entrypoint, _workdir_of(deployment), deployment.work_pool_name
            )
            if deployment.work_pool_name:
                self.pools.add(deployment.work_pool_name)
        specs = sorted({f"{t.entrypoint}@{t.workdir}" for t in self.targets.values()})
        # the fork server dies with us; only asked from a thread that lives as long as we do
        # (the kernel sends the parent-death signal when the forking *thread* exits)
        parent_death = threading.current_thread() is threading.main_thread()
        self._server = start_fork_server(
            specs, str(self.client.api_url).rstrip("/"), self.log_path, parent_death
        )
        self._send_heartbeats()
        try:
            self.recover_orphans()
        except Exception as exc:
            logger.warning("could not look for runs a dead runner left: %s", exc)
        for target in (self._read_server, self._poll_loop, self._heartbeat_loop):
            thread = threading.Thread(target=target, daemon=True, name=target.__name__)
            thread.start()
            self._threads.append(thread)
        if not self._ready.wait(timeout):
            raise ConfigError(f"the fork server did not start within {timeout:.0f}s")
        logger.info(
            "fork executor ready: %d flow(s) preloaded, polling pools %s every %.0fs",
            len(specs),
            sorted(self.pools),
            self.poll_seconds,
        )

    def stop(self, grace: float = 30.0, kill_after: float = 2.0) -> None:
        """Take no new runs; wait up to `grace` seconds for running ones; then the fork server
        terminates what still runs (SIGTERM, SIGKILL `kill_after` seconds later; those runs end
        Crashed) and exits. Returns within about `grace + kill_after + 1` seconds."""
        self._stopping.set()
        deadline = time.monotonic() + grace
        while self.running and time.monotonic() < deadline:
            time.sleep(0.1)
        if self.running:
            logger.warning(
                "terminating %d flow run(s) still running: %s",
                len(self.running),
                ", ".join(str(run) for run in self.running),
            )
        if self._server is not None and self._server.poll() is None:
            try:
                self._command({"op": "stop", "kill_after": kill_after})
                self._server.stdin.close()
                self._server.wait(kill_after + 1)
            except (OSError, subprocess.TimeoutExpired, ValueError):
                self._server.kill()  # its children have the parent-death signal

    # -- running ------------------------------------------------------------------------------

    def _command(self, message: dict[str, Any]) -> None:
        assert self._server is not None
        assert self._server.stdin is not None
        with self._lock:
            self._server.stdin.write(json.dumps(message) + "\n")
            self._server.stdin.flush()

    def prepare(self) -> None:
        """A run may be coming (a receive returned messages): the fork server forks a spare now
        if it retired its own, so its warm-up overlaps the run's creation. Never raises."""
        if self._stopping.is_set() or self._server is None or self._server.poll() is not None:
            return
        try:
            self._command({"op": "prepare"})
        except (OSError, ValueError) as exc:  # the server is gone: `submit` will say so
            logger.debug("could not ask the fork server for a spare: %s", exc)

    def claim(self, flow_run_id: UUID) -> Any:
        """Move the run to PENDING (returns that state); None when someone else has it or it is
        not scheduled.

        Prefect refuses PENDING from PENDING, RUNNING, CANCELLING and CANCELLED (two claimers
        never both win); callers make sure the run is still SCHEDULED before claiming it.
        """
        from prefect.exceptions import Abort
        from prefect.states import Pending
        from prefect.utilities.engine import propose_state_sync

        pending: Any = Pending(message=claim_message(os.getpid(), self.host))
        try:
            state = propose_state_sync(self.client, pending, flow_run_id=flow_run_id)
        except Abort as exc:
            logger.debug("run %s not claimed: %s", flow_run_id, exc)
            return None
        return state if state.is_pending() else None

    def submit(
        self,
        flow_run_id: UUID,
        deployment_id: UUID | None = None,
        state_type: str | None = None,
        flow_run: dict[str, Any] | None = None,
    ) -> bool:
        """Claim and start a run now; False if it was not ours to start.

        Only a run still waiting to start (SCHEDULED) is started: `state_type` is the state the
        caller just saw (the create call's answer, the scheduled-runs query); unknown -> read.
        `flow_run`: the run as the caller just read it (JSON); with the claim's state, the
        child starts from it instead of reading it again.
        """
        if self._stopping.is_set() or flow_run_id in self.running:
            return False
        if deployment_id is None or state_type is None:
            run = self.client.read_flow_run(flow_run_id)
            deployment_id = run.deployment_id
            state_type = run.state_type.value if run.state_type else None
        target = self.targets.get(deployment_id) if deployment_id else None
        if target is None:
            return False  # not one of this domain's deployments
        if state_type != "SCHEDULED":
            logger.info(
                "run %s is %s, not waiting to start: not executed again", flow_run_id, state_type
            )
            return False
        claimed = self.claim(flow_run_id)
        if claimed is None:
            return False
        with self._lock:
            self.running[flow_run_id] = -1
        command: dict[str, Any] = {
            "op": "run",
            "flow_run_id": str(flow_run_id),
            "entrypoint": target.entrypoint,
            "workdir": target.workdir,
        }
        if flow_run is not None and str(flow_run.get("id")) == str(flow_run_id):
            state = claimed.model_dump(mode="json")
            command["flow_run"] = {
                **flow_run,
                "state": state,
                "state_id": state.get("id"),
                "state_type": state.get("type"),
                "state_name": state.get("name"),
            }
        self._command(command)
        return True

    # -- runs a dead runner left behind (fork_recovery) ---------------------------------------

    def has_or_had(self, flow_run_id: UUID) -> bool:
        """The run is running here, or ended here lately (read under the lock: the server's
        reader thread appends to `ended` while a poll looks through it)."""
        with self._lock:
            return flow_run_id in self.running or flow_run_id in self.ended

    def recover_orphans(self) -> list[UUID]:
        """Schedule again the runs a dead runner claimed but never started; mark CRASHED the
        runs whose forked process died with its runner. Returns the runs recovered."""
        return recover_orphans(self)

    # -- the runner as the pools' worker ------------------------------------------------------

    def _send_heartbeats(self) -> None:
        for pool in sorted(self.pools):
            try:
                self.client.send_worker_heartbeat(
                    pool, self.worker_name, heartbeat_interval_seconds=self.heartbeat_seconds
                )
            except Exception as exc:
                logger.debug("worker heartbeat to pool %s failed: %s", pool, exc)

    def _heartbeat_loop(self) -> None:
        while not self._stopping.wait(self.heartbeat_seconds):
            self._send_heartbeats()

    def _read_server(self) -> None:
        assert self._server is not None
        assert self._server.stdout is not None
        for line in self._server.stdout:
            try:
                message = json.loads(line)
            except ValueError:
                continue
            event = message.get("event")
            if event == "ready":
                if message.get("failed"):
                    logger.warning("flows not preloaded (loaded per run): %s", message["failed"])
                self._ready.set()
            elif event == "started":
                with self._lock:
                    self.running[UUID(message["flow_run_id"])] = int(message["pid"])
                    self.started_count += 1
                self._record_pid(UUID(message["flow_run_id"]), int(message["pid"]))
            elif event == "exited":
                flow_run_id = UUID(message["flow_run_id"])
                try:  # still ours until its end is recorded: the poll's orphan recovery skips it
                    self._after_exit(flow_run_id, int(message["code"]))
                finally:
                    with self._lock:
                        self.ended.append(flow_run_id)
                        self.running.pop(flow_run_id, None)
        self._ready.set()

    def _record_pid(self, flow_run_id: UUID, pid: int) -> None:
        try:
            self.client.update_flow_run(flow_run_id, infrastructure_pid=f"fork:{self.host}:{pid}")
        except Exception as exc:
            logger.debug("could not record the pid of %s: %s", flow_run_id, exc)

    def _after_exit(self, flow_run_id: UUID, code: int) -> None:
        """A child ended: if its run is not final, it crashed (or was cancelled)."""
        from prefect.states import Cancelled, Crashed

        try:
            run = self.client.read_flow_run(flow_run_id)
            if flow_run_id in self._cancelled:  # we terminated it because it was cancelled
                self._cancelled.discard(flow_run_id)
                if run.state is None or not run.state.is_cancelled():
                    self.client.set_flow_run_state(
                        flow_run_id,
                        Cancelled(message="cancelled: its process was terminated"),
                        force=True,
                    )
                return
            if run.state is None or run.state.is_final():
                return
            if run.state.is_cancelling():
                self.client.set_flow_run_state(flow_run_id, Cancelled(), force=True)
            else:
                self.client.set_flow_run_state(
                    flow_run_id,
                    Crashed(message=f"the forked process exited with code {code}"),
                    force=True,
                )
        except Exception as exc:
            logger.warning("could not finalise run %s after exit %s: %s", flow_run_id, code, exc)

    # -- the fallback poll and cancellation ---------------------------------------------------

    def _poll_loop(self) -> None:
        self._ready.wait()
        while not self._stopping.wait(self.poll_seconds):
            try:
                self.poll_once()
            except Exception as exc:
                logger.warning("poll failed: %s: %s", type(exc).__name__, exc)

    def poll_once(self) -> None:
        """Start scheduled runs of our pools that nobody pushed; cancel CANCELLING ones."""
        from datetime import UTC, datetime

        from prefect.client.schemas.filters import (
            FlowRunFilter,
            FlowRunFilterId,
            FlowRunFilterState,
            FlowRunFilterStateType,
        )
        from prefect.client.schemas.objects import StateType

        for pool in sorted(self.pools):
            for response in self.client.get_scheduled_flow_runs_for_work_pool(
                pool, scheduled_before=datetime.now(UTC)
            ):
                run = response.flow_run
                self.submit(run.id, run.deployment_id, "SCHEDULED")
        self.recover_orphans()
        if not self.running:
            return
        cancelling = self.client.read_flow_runs(
            flow_run_filter=FlowRunFilter(
                id=FlowRunFilterId(any_=list(self.running)),
                state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.CANCELLING])),
            )
        )
        for run in cancelling:
            pid = self.running.get(run.id)
            if pid and pid > 0 and run.id not in self._cancelled:
                self._cancelled.add(run.id)
                logger.info("cancelling run %s: terminating pid %s", run.id, pid)
                self._command({"op": "cancel", "pid": pid})


class ExecutingLauncher:
    """A `RunLauncher` that creates the run (inner launcher) and hands it to the executor."""

    def __init__(self, inner: RunLauncher, executor: ForkExecutor) -> None:
        self.inner = inner
        self.executor = executor

    def prepare(self) -> None:
        """Messages arrived: the executor warms a child up while their runs are created."""
        self.executor.prepare()

    def start(self, request: RunRequest) -> StartedRun:
        started = self.inner.start(request)
        try:
            self.executor.submit(
                started.flow_run_id, started.deployment_id, started.state_type, started.flow_run
            )
        except Exception as exc:  # the run exists: the fallback poll or a worker starts it
            logger.warning("could not hand run %s to the executor: %s", started.flow_run_id, exc)
        return started
