"""A warm fork server: Prefect and a domain's flows imported once, one forked child per flow run.

Started by `executor.ForkExecutor` as `python -m prefect_federation.forkserver`. It stays
single-threaded (forking a process with threads is unsafe), reads commands as JSON lines on stdin
and answers on stdout:

    -> {"op": "run", "flow_run_id": "...", "entrypoint": "flows/x.py:fn", "workdir": "/repo"}
    -> {"op": "prepare"}            (a run is coming: fork a spare now if there is none)
    -> {"op": "cancel", "pid": 123}
    -> {"op": "stop", "kill_after": 2.0}
    <- {"event": "ready", "preloaded": [...], "failed": {...}}
    <- {"event": "started", "flow_run_id": "...", "pid": 123}
    <- {"event": "exited", "flow_run_id": "...", "pid": 123, "code": 0}

A child runs the already created (and claimed) flow run with Prefect's own engine (`run_flow`),
exactly as `python -m prefect.engine` does, minus the cold start: no interpreter start, no
`import prefect`, no flow import, no engine import. One child is always forked ahead (the
*spare*): it has set up its signals and its API client and waits on a pipe for its run, so
neither the fork nor that set-up is on the run's critical path; the next spare is forked once the
run is handed over. After `SPARE_IDLE_ENV` seconds without a run the spare is retired, and forked
again by the next `prepare` or `run`. `run` may carry the flow run as the executor last read it
(`flow_run`), which saves the child reading it again. Its output goes to stderr so it never
mixes with the protocol.

Nothing outlives the listener: on `stop`, on end of input (the listener is gone) or on SIGTERM
(its parent-death signal, set when the listener asked for it) the server terminates the children
still running (SIGTERM: Prefect's engine marks the run Crashed; SIGKILL `kill_after` seconds
later) and exits; every child dies with the server (its own parent-death signal).
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import select
import signal
import sys
import time
import traceback
from typing import Any
from uuid import UUID

from prefect_federation.fork_warm import warm_child
from prefect_federation.memory import release_free_memory
from prefect_federation.parent_death import die_with_parent

__all__ = ["PARENT_PID_ENV", "SPARE_IDLE_ENV", "engine_imports", "main", "spare_idle_seconds"]

PARENT_PID_ENV = "PREFECT_FEDERATION_FORKSERVER_PARENT_PID"
"""Set by the executor when it may ask for a parent-death signal: the pid of the listener."""

SPARE_DELAY = 0.5
"""Seconds after a run was handed over before the next spare is forked: its fork and warm-up
then do not compete for the CPU with the run just starting (a run arriving sooner forks one)."""

KILL_AFTER = 2.0
"""Seconds between terminating the children (SIGTERM) and killing them, unless `stop` says."""

SPARE_IDLE_ENV = "PREFECT_FEDERATION_EXECUTOR_SPARE_IDLE"
"""Seconds without a run (or a `prepare`) after which the spare is retired (default 20; 0:
never). A retired spare is forked again by the next `prepare` (the listener sends one as soon
as a receive returns messages, so it warms up while the run is being created) or `run`."""

SPARE_IDLE = 20.0
"""One long poll (the listener's default receive wait, SQS's longest): a queue quiet for a whole
poll has gone idle, and an idle runner keeps no spare (~15 MiB PSS less; the next run starts
~0.08 s later). Runs closer together than that, a burst or a backlog, keep theirs."""


def spare_idle_seconds() -> float:
    """`SPARE_IDLE_ENV` as seconds (ValueError naming it when it is not a number >= 0)."""
    raw = os.environ.get(SPARE_IDLE_ENV, "").strip()
    if not raw:
        return SPARE_IDLE
    try:
        seconds = float(raw)
    except ValueError:
        seconds = -1.0
    if not seconds >= 0 or seconds == float("inf"):
        raise ValueError(
            f"{SPARE_IDLE_ENV} must be a number of seconds >= 0 (0: never retire), not {raw!r}"
        )
    return seconds


_terminated = False


def _send(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def _preload(specs: list[str]) -> tuple[dict[tuple[str, str], Any], dict[str, str]]:
    """Import each `entrypoint@workdir`; returns the flows and the ones that failed (with why)."""
    from prefect.flows import load_flow_from_entrypoint

    flows: dict[tuple[str, str], Any] = {}
    failed: dict[str, str] = {}
    start_dir = os.getcwd()
    for spec in specs:
        entrypoint, _, workdir = spec.partition("@")
        workdir = workdir or start_dir
        try:
            os.chdir(workdir)
            if workdir not in sys.path:
                sys.path.insert(0, workdir)
            flows[(entrypoint, workdir)] = load_flow_from_entrypoint(entrypoint)
        except Exception as exc:  # the child falls back to Prefect's own loading
            failed[spec] = f"{type(exc).__name__}: {exc}"
        finally:
            os.chdir(start_dir)
    return flows, failed


def engine_imports() -> None:
    """The Prefect modules every child needs, imported once instead of in each child (~0.1 s).

    No code of the domain's runs: `start_fork_server` calls it in the listener before it forks
    the server, so the two share these pages (imported in the server after the fork, their
    import also dirtied ~20 MiB of the pages the server shared with the listener).
    """
    import prefect.engine
    import prefect.flow_engine
    import prefect.logging.handlers
    import prefect.logging.loggers

    with contextlib.suppress(Exception):
        import prefect._internal.control_listener
    with contextlib.suppress(Exception):  # what a spare's warm-up imports (`fork_warm`): here
        import anyio._backends._asyncio  # noqa: F401  (once, shared: ~10 MiB less per spare)
        import prefect._internal.observers
        import prefect.events.clients
        import prefect.events.worker  # noqa: F401


def _warm_imports() -> None:
    """What every child needs, once the domain's flows are imported: the engine's modules, what
    publishing takes where the flows publish, the "version checked" cache."""
    engine_imports()  # done already where the listener forked this server
    if "prefect_federation.publishing" in sys.modules:  # the flows publish: what that takes
        with contextlib.suppress(Exception):  # (~0.5 s of imports, ~0.2 s of AWS models)
            import prefect_aws  # noqa: F401

            import prefect_federation.blocks  # noqa: F401
            from prefect_federation.aws import warm_service_models

            warm_service_models(["sns", "s3"])  # the topic, and the archive before it
    with contextlib.suppress(Exception):  # children inherit the "version checked" cache
        from prefect.client.orchestration import get_client

        with get_client(sync_client=True) as client:
            client.raise_for_api_version_mismatch_once()


def _spare(flows: dict[tuple[str, str], Any], server_pid: int) -> tuple[int, int]:
    """Fork a child that warms up (signals, API client) and waits for its run on a pipe, so
    neither fork nor that set-up is on a run's critical path. Returns (pid, the pipe's end)."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(write_end)
        _wait_and_run(flows, read_end, server_pid)
    os.close(read_end)
    return pid, write_end


def _wait_and_run(flows: dict[tuple[str, str], Any], read_end: int, server_pid: int) -> None:
    """In the spare child: warm up, wait for the command, run it; never returns."""
    code = 1
    try:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        die_with_parent(server_pid)  # a fork server that dies takes its runs with it
        os.dup2(2, 1)  # the child's prints go to the log, never into the protocol
        sys.stdin.close()
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.signal(signal.SIGUSR1, _cancel_intent)
        warm_child()  # the engine's client, workers and observer, made before the run
        release_free_memory()  # what warming freed (the observer thread's arena: ~7 MiB)
        with os.fdopen(read_end, "r") as commands:
            line = commands.readline()
        if not line:  # the server stopped before it needed us
            os._exit(0)
        code = _run_child(flows, json.loads(line))
    except BaseException:
        traceback.print_exc()
    finally:
        sys.stderr.flush()
        os._exit(code)


def _run_child(flows: dict[tuple[str, str], Any], command: dict[str, Any]) -> int:
    """Run the flow run with Prefect's own engine; returns the exit code."""
    flow_run_id = UUID(command["flow_run_id"])
    workdir = command.get("workdir") or os.getcwd()
    os.chdir(workdir)
    os.environ["PREFECT__FLOW_RUN_ID"] = str(flow_run_id)

    from prefect.client.schemas.objects import FlowRun
    from prefect.engine import _drive_run_flow_result, handle_engine_signals
    from prefect.flow_engine import load_flow, load_flow_run, run_flow
    from prefect.logging.loggers import flow_run_logger

    code = 0
    try:
        with handle_engine_signals(flow_run_id):
            flow_run = None
            if command.get("flow_run"):  # as the executor last saw it: no read needed
                with contextlib.suppress(ValueError):
                    flow_run = FlowRun.model_validate(command["flow_run"])
            if flow_run is None:
                flow_run = load_flow_run(flow_run_id=flow_run_id)
            flow = flows.get((command.get("entrypoint", ""), workdir))
            if flow is None:
                flow = load_flow(flow_run)
            run_logger: Any = flow_run_logger(flow_run=flow_run)
            result = run_flow(flow, flow_run=flow_run, error_logger=run_logger)
            _drive_run_flow_result(flow, result)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 0
    except BaseException:
        traceback.print_exc()
        code = 1
    _flush_prefect()
    return code


def _cancel_intent(signum: int, frame: Any) -> None:
    """SIGUSR1 before SIGTERM: the termination is a cancellation. Prefect's engine then finishes
    the run as Cancelled (running on_cancellation hooks) instead of reporting a crash; this is
    the intent a Prefect runner sends over its control channel."""
    try:
        from prefect._internal.control_listener import _set_intent

        _set_intent("cancel")
    except Exception:  # an older or newer Prefect: the executor marks the run Cancelled itself
        pass


def _flush_prefect() -> None:
    """Send the child's buffered logs and events before `os._exit` skips atexit."""
    try:
        from prefect.events.worker import EventsWorker
        from prefect.logging.handlers import APILogWorker

        APILogWorker.drain_all(timeout=10)
        EventsWorker.drain_all(timeout=10)
    except Exception:
        traceback.print_exc()


def _on_term(_signum: int, _frame: Any) -> None:
    global _terminated
    _terminated = True


def _signal_all(children: dict[int, str], signum: int) -> None:
    for pid in children:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signum)


def main(argv: list[str] | None = None) -> int:
    """Serve until stdin closes (the parent went away), a `stop` command or SIGTERM."""
    specs = list(argv if argv is not None else sys.argv[1:])
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when we stop
    signal.signal(signal.SIGTERM, _on_term)
    parent = os.environ.pop(PARENT_PID_ENV, None)
    if parent and parent.isdigit():
        die_with_parent(int(parent))
    from prefect_federation.tls_contexts import share_client_tls_contexts

    share_client_tls_contexts()  # a fresh interpreter's (one forked has the listener's)
    flows, failed = _preload(specs)
    _warm_imports()
    gc.freeze()  # what is imported now stays shared with the children (no copy on collection)
    release_free_memory()  # before the first fork: what the children inherit is what is used
    server_pid = os.getpid()
    spare_idle = spare_idle_seconds()
    spare: tuple[int, int] | None = _spare(flows, server_pid)
    active_at = time.monotonic()  # the last run or `prepare`: the spare is retired idle
    _send({"event": "ready", "preloaded": [e for e, _ in flows], "failed": failed})
    children: dict[int, str] = {}
    stdin = sys.stdin.fileno()
    open_input = True
    kill_after = KILL_AFTER
    kill_at: float | None = None  # set once stopping: the children were sent SIGTERM
    spare_due: float | None = None  # when to fork the next spare
    while open_input or children:
        due = spare_due is not None and time.monotonic() >= spare_due
        if open_input and spare is None and due:
            spare, spare_due = _spare(flows, server_pid), None
        idle = spare_idle and time.monotonic() - active_at >= spare_idle
        if spare is not None and idle:
            os.close(spare[1])  # retired: it reads end of input and exits; the next run or
            spare = None  # `prepare` forks another (idle PSS ~15 MiB less)
        if _terminated:
            open_input = False
        if not open_input and spare is not None:
            os.close(spare[1])  # the spare reads end of input and exits
            spare = None
        if not open_input and kill_at is None:
            kill_at = time.monotonic() + kill_after
            _signal_all(children, signal.SIGTERM)
        if kill_at is not None and time.monotonic() >= kill_at:
            _signal_all(children, signal.SIGKILL)
        readable, _, _ = select.select([stdin] if open_input else [], [], [], 0.05)
        if readable:
            line = sys.stdin.readline()
            if not line:
                open_input = False
            else:
                command = json.loads(line)
                if command.get("op") in ("run", "prepare"):
                    active_at = time.monotonic()
                if command.get("op") == "prepare":  # a run is coming: warm a spare up now
                    if spare is None:
                        spare, spare_due = _spare(flows, server_pid), None
                elif command.get("op") == "run":
                    if spare is None:
                        spare = _spare(flows, server_pid)
                    spare_due = None
                    pid, pipe = spare
                    spare = None
                    try:
                        os.write(pipe, line.encode())
                    except OSError:  # the spare died: a fresh one runs it
                        os.close(pipe)
                        pid, pipe = _spare(flows, server_pid)
                        os.write(pipe, line.encode())
                    os.close(pipe)
                    children[pid] = command["flow_run_id"]
                    _send({"event": "started", "flow_run_id": command["flow_run_id"], "pid": pid})
                    spare_due = time.monotonic() + SPARE_DELAY  # off this run's critical path
                elif command.get("op") == "cancel" and int(command["pid"]) in children:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(int(command["pid"]), signal.SIGUSR1)
                        time.sleep(0.05)
                        os.kill(int(command["pid"]), signal.SIGTERM)
                elif command.get("op") == "stop":
                    kill_after = float(command.get("kill_after", KILL_AFTER))
                    open_input = False
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            if spare is not None and pid == spare[0]:  # died before it had a run: the next
                os.close(spare[1])  # run forks a fresh one (no fork loop if it keeps dying)
                spare = None
                continue
            flow_run_id = children.pop(pid, None)
            if flow_run_id is not None:
                code = os.waitstatus_to_exitcode(status)
                with contextlib.suppress(OSError):  # the listener may be gone
                    _send({"event": "exited", "flow_run_id": flow_run_id, "pid": pid, "code": code})
    return 0


if __name__ == "__main__":  # pragma: no cover - run as a process
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # not the interpreter's shutdown: seconds of garbage collection, a bound's worth
