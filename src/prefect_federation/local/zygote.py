"""A warm parent for the demo's listeners: what a listener imports, imported once; each listener
forked from it.

Started as five interpreters, the demo's five listeners each import Prefect, prefect-aws, boto3
and this package (~2 s of CPU each: ~9 s on two cores before the last one polls its queue). The
zygote (`python -m prefect_federation.local.zygote`) imports all of it once, while the Prefect
server boots, and then forks each listener, which runs `prefect-federation listen ...` exactly as
the console script would, minus the imports: in a session of its own (its own process group), its
output in its log, its environment (Prefect's settings and logging are read again from it), its
working directory. The stack records, watches and stops each listener by its pid like any other
child (`Stack.start(..., zygote=...)`); the zygote reports its exit code, which only a parent
can read. The zygote stays single-threaded (forking a process with threads is unsafe) and
refuses to fork if it is not; the demo then starts the listener as a process of its own.

Protocol, JSON lines on the zygote's stdin and stdout:

    <- {"event": "ready", "seconds": 1.9}
    -> {"op": "spawn", "args": ["listen", "--domain", "x"], "env": {...}, "cwd": "/p", "log": "/l"}
    <- {"event": "spawned", "pid": 123}          or {"event": "refused", "error": "..."}
    <- {"event": "exited", "pid": 123, "code": 0}

It exits on end of input (the demo is gone) or SIGTERM; its children do not die with it (the
stack stops each of them, and its reaper does if the demo dies first).
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prefect_federation.local.process import ManagedProcess

__all__ = ["PREIMPORTS", "ForkedChild", "Zygote", "main"]

PREIMPORTS = [
    "prefect",
    "prefect.flows",
    "prefect.tasks",
    "prefect.engine",
    "prefect_aws",
    "prefect_federation.cli",
    "prefect_federation.blocks",
    "prefect_federation.connect",
    "prefect_federation.heartbeat",
    "prefect_federation.listener.consumer",
    "prefect_federation.listener.launcher",
    "prefect_federation.listener.service",
    "prefect_federation.listener.shutdown",
    "prefect_federation.listener.gate",
    "prefect_federation.listener.capacity",
    "prefect_federation.listener.pause",
    "prefect_federation.listener.skipped",
    "prefect_federation.executor",
    "prefect_federation.forkserver",
    "prefect_federation.forkserver_start",
    "prefect_federation.joins.coordinator",
    "prefect_federation.joins.dynamodb",
]
"""What a listener (`listen --execute`) imports on its way to its first receive."""

SERVICES = ["sqs", "sns", "s3", "dynamodb"]
"""The AWS services a listener makes clients of: their models parsed once, in the zygote."""


def _send(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def _preimport() -> None:
    import importlib

    for name in PREIMPORTS:
        importlib.import_module(name)
    from prefect_federation.forkserver import engine_imports

    engine_imports()  # what each listener imports before it forks its fork server: once, here
    from prefect_federation.aws import warm_service_models

    warm_service_models(SERVICES)
    with contextlib.suppress(Exception):  # one TLS context for every listener's clients
        import certifi

        from prefect_federation.tls_contexts import share_client_tls_contexts

        share_client_tls_contexts().create_default_context(cafile=certifi.where())


def _child(command: dict[str, Any]) -> int:  # pragma: no cover - runs in the forked listener
    """In the forked child: become `prefect-federation <args>` in its own session."""
    os.setsid()
    log = os.open(command["log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.closerange(3, 65536)  # the zygote's pipes are not the listener's
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGCHLD):
        signal.signal(signum, signal.SIG_DFL)
    os.chdir(command["cwd"])
    os.environ.clear()
    os.environ.update(command["env"])
    # the console script's path: its own directory first, not the zygote's working directory
    # (`python -m` put that there); the fork server adds each flow's directory itself
    sys.path[0] = str(Path(sys.executable).parent)
    from prefect.context import refresh_global_settings_context
    from prefect.logging.configuration import setup_logging

    refresh_global_settings_context()  # PREFECT_API_URL and the rest, from this environment
    setup_logging(incremental=False)
    from prefect_federation.cli import app

    sys.argv = ["prefect-federation", *command["args"]]
    try:
        app(args=command["args"], prog_name="prefect-federation")
    except SystemExit as exc:
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    return 0


def _spawn(command: dict[str, Any]) -> None:
    if threading.active_count() != 1:
        _send({"event": "refused", "error": f"{threading.active_count()} threads: not forking"})
        return
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the listener's side
        code = 1
        try:
            code = _child(command)
        except BaseException:
            import traceback

            traceback.print_exc()
        finally:
            with contextlib.suppress(Exception):
                sys.stdout.flush()
                sys.stderr.flush()
            os._exit(code)
    _send({"event": "spawned", "pid": pid})


def _reap() -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        _send({"event": "exited", "pid": pid, "code": os.waitstatus_to_exitcode(status)})


def main() -> int:
    started = time.monotonic()
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    _preimport()
    gc.collect()
    gc.freeze()  # what is imported now stays shared with the listeners: the collector leaves it
    from prefect_federation.memory import release_free_memory

    release_free_memory()
    _send({"event": "ready", "seconds": round(time.monotonic() - started, 2)})
    buffered = b""
    while True:
        readable, _, _ = select.select([0], [], [], 0.2)
        _reap()
        if not readable:
            continue
        chunk = os.read(0, 65536)
        if not chunk:
            return 0  # the demo is gone
        buffered += chunk
        while b"\n" in buffered:
            line, buffered = buffered.split(b"\n", 1)
            if line.strip():
                _spawn(json.loads(line))


class ForkedChild:
    """What the stack uses of `subprocess.Popen`, for a listener the zygote forked: its exit
    code comes from the zygote (its parent)."""

    def __init__(self, pid: int, zygote: Zygote) -> None:
        self.pid = pid
        self.returncode: int | None = None
        self._zygote = zygote

    def poll(self) -> int | None:
        if self.returncode is None:
            self.returncode = self._zygote.exit_code(self.pid)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while (code := self.poll()) is None:
            if deadline is not None and time.monotonic() >= deadline:
                raise subprocess.TimeoutExpired(f"forked listener {self.pid}", timeout or 0)
            time.sleep(0.05)
        return code

    def send_signal(self, signum: int) -> None:
        if self.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signum)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


class Zygote:
    """The demo's side: the zygote process (started by the stack with pipes: `Stack.start_zygote`),
    asked for listeners; keeps their exit codes."""

    def __init__(self, process: ManagedProcess) -> None:
        self.process = process
        popen: Any = process.popen
        self._stdin: IO[bytes] = popen.stdin
        self._stdout: IO[bytes] = popen.stdout
        self._codes: dict[int, int] = {}
        self._replies: list[dict[str, Any]] = []
        self._changed = threading.Condition()
        self._gone = False
        self._lock = threading.Lock()
        self.ready_seconds: float | None = None
        self._reader = threading.Thread(target=self._read, name="zygote-events", daemon=True)
        self._reader.start()

    @property
    def pid(self) -> int:
        return self.process.pid

    def _read(self) -> None:
        for line in self._stdout:
            try:
                message = json.loads(line)
            except ValueError:
                continue
            with self._changed:
                if message.get("event") == "exited":
                    self._codes[int(message["pid"])] = int(message["code"])
                elif message.get("event") == "ready":
                    self.ready_seconds = float(message.get("seconds", 0))
                else:
                    self._replies.append(message)
                self._changed.notify_all()
        with self._changed:
            self._gone = True
            self._changed.notify_all()

    def wait_ready(self, timeout: float) -> bool:
        """True once the zygote has imported everything; False if it died or took too long."""
        with self._changed:
            return self._changed.wait_for(
                lambda: self.ready_seconds is not None or self._gone, timeout
            ) and (self.ready_seconds is not None)

    def spawn(self, args: list[str], env: Mapping[str, str], cwd: Path, log: Path) -> int:
        """Fork `prefect-federation <args>`; returns its pid. RuntimeError if the zygote cannot."""
        where = f"see {self.process.log_path}"
        if not self.wait_ready(120):
            raise RuntimeError(f"the listener zygote did not get ready ({where})")
        command = {"op": "spawn", "args": args, "env": dict(env), "cwd": str(cwd), "log": str(log)}
        with self._lock, self._changed:
            self._replies.clear()
            try:
                self._stdin.write((json.dumps(command) + "\n").encode())
                self._stdin.flush()
            except (BrokenPipeError, ValueError) as exc:
                raise RuntimeError(f"the listener zygote is gone ({where})") from exc
            if not self._changed.wait_for(lambda: bool(self._replies) or self._gone, 30):
                raise RuntimeError(f"the listener zygote did not answer within 30 s ({where})")
            if not self._replies:
                raise RuntimeError(f"the listener zygote is gone ({where})")
            reply = self._replies.pop(0)
        if reply.get("event") != "spawned":
            raise RuntimeError(f"the listener zygote refused: {reply.get('error')}")
        return int(reply["pid"])

    def child(self, pid: int) -> ForkedChild:
        return ForkedChild(pid, self)

    def exit_code(self, pid: int) -> int | None:
        """The exit code of a child that exited, None while it runs. With the zygote gone the
        child is no longer its child: -1 once the pid is gone."""
        with self._changed:
            if pid in self._codes:
                return self._codes[pid]
            if not self._gone:
                return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return -1
        except PermissionError:
            return None
        return None


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
