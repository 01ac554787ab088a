"""Starting the fork server: forked from the listener itself where it can be, so they share pages.

The fork server needs what the listener has already imported (Prefect, httpx, pydantic, the
package). Started as a fresh interpreter (`python -m prefect_federation.forkserver`) it imports
all of it again into pages of its own (~45 MiB PSS here). Forked from the listener while the
listener is still single-threaded (at `ForkExecutor.start`, before its loops start), it shares
every page the two do not write to (copy on write; both `gc.freeze()` what exists then, so the
collector's bookkeeping does not copy them). Where the caller already runs threads (forking a
process with threads is unsafe), or where `PREFECT_FEDERATION_EXECUTOR_FORK_SERVER=process`, it is
started as a fresh interpreter as before. Either way it speaks the same protocol on its stdin and
stdout, and `start_fork_server` returns what the executor needs of a `subprocess.Popen`.
"""

from __future__ import annotations

import contextlib
import gc
import os
import signal
import subprocess
import sys
import threading
import time
from typing import IO, Any

from prefect_federation.forkserver import PARENT_PID_ENV, spare_idle_seconds

__all__ = ["MODE_ENV", "ForkedServer", "start_fork_server"]

MODE_ENV = "PREFECT_FEDERATION_EXECUTOR_FORK_SERVER"
"""`fork` (default: forked from the listener when it is single-threaded) or `process`."""


class ForkedServer:
    """What the executor uses of `subprocess.Popen`, for a fork server forked from this process."""

    def __init__(self, pid: int, stdin: IO[str], stdout: IO[str]) -> None:
        self.pid = pid
        self.stdin = stdin
        self.stdout = stdout
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:
                self.returncode = -1
                return self.returncode
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while (code := self.poll()) is None:
            if deadline is not None and time.monotonic() >= deadline:
                raise subprocess.TimeoutExpired("prefect_federation.forkserver", timeout or 0)
            time.sleep(0.02)
        return code

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)


def start_fork_server(
    specs: list[str], api_url: str, log_path: str | None, parent_death: bool
) -> Any:
    """The fork server for `specs`, talking to `api_url`; its stderr goes to `log_path`."""
    from prefect_federation.errors import ConfigError
    from prefect_federation.fork_warm import WARM_ENV

    mode = os.environ.get(MODE_ENV, "fork")
    if mode not in ("fork", "process"):
        raise ConfigError(f"{MODE_ENV} must be `fork` or `process`, not {mode!r}")
    if os.environ.get(WARM_ENV, "full") not in ("full", "client"):
        raise ConfigError(f"{WARM_ENV} must be `full` or `client`, not {os.environ[WARM_ENV]!r}")
    try:
        spare_idle_seconds()  # the server reads it; a bad value is said here, before it starts
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    if mode == "fork" and hasattr(os, "fork") and threading.active_count() == 1:
        from prefect_federation.forkserver import engine_imports

        engine_imports()  # here, before the fork: shared with the server, not dirtied by it
        if threading.active_count() == 1:  # (an import that started a thread: not safe)
            return _forked(specs, api_url, log_path, parent_death)
    env = {**os.environ, "PREFECT_API_URL": api_url}
    if parent_death:
        env[PARENT_PID_ENV] = str(os.getpid())
    stderr = open(log_path, "ab") if log_path else None  # noqa: SIM115
    return subprocess.Popen(
        [sys.executable, "-m", "prefect_federation.forkserver", *specs],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
        bufsize=1,
    )


def _forked(specs: list[str], api_url: str, log_path: str | None, parent_death: bool) -> Any:
    commands_in, commands_out = os.pipe()
    events_in, events_out = os.pipe()
    log = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644) if log_path else None
    parent = os.getpid()
    sys.stdout.flush()
    sys.stderr.flush()
    gc.freeze()  # what the listener has now stays shared: the collector does not copy it
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the fork server's side
        code = 1
        try:
            os.dup2(commands_in, 0)
            os.dup2(events_out, 1)
            if log is not None:
                os.dup2(log, 2)
            os.closerange(3, 65536)  # the listener's sockets and files are not ours
            sys.stdin = os.fdopen(0, "r", closefd=False)
            sys.stdout = os.fdopen(1, "w", buffering=1, closefd=False)
            for signum in (signal.SIGHUP, signal.SIGTERM, signal.SIGINT):
                signal.signal(signum, signal.SIG_DFL)
            os.environ["PREFECT_API_URL"] = api_url
            if parent_death:
                os.environ[PARENT_PID_ENV] = str(parent)
            from prefect_federation import forkserver

            code = forkserver.main(specs)
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)
    os.close(commands_in)
    os.close(events_out)
    if log is not None:
        os.close(log)
    stdin = os.fdopen(commands_out, "w", buffering=1)
    stdout = os.fdopen(events_in, "r")
    return ForkedServer(pid, stdin, stdout)
