"""One local child process (`ManagedProcess`: its own process group, its own log) and the small
helpers every local harness needs: a free port, a quiet environment, waiting for an HTTP answer.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Protocol

__all__ = [
    "READY_FILE_ENV",
    "Child",
    "ManagedProcess",
    "free_port",
    "port_free",
    "quiet_env",
    "wait_for_http",
]


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_free(port: int) -> bool:
    """True if `port` on 127.0.0.1 can be bound now (a socket in TIME_WAIT does not count)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def quiet_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The current environment, with analytics off (there is no internet here) and `extra`."""
    env = dict(os.environ)
    env.update(
        {
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "DO_NOT_TRACK": "1",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra or {})
    return env


def wait_for_http(url: str, timeout: float, process: Child | None = None) -> None:
    """Wait until `url` answers 2xx; fail early if `process` exits."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before {url} answered")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if 200 <= response.status < 300:
                    return
        except (urllib.error.URLError, OSError) as exc:
            last = exc
        time.sleep(0.25)
    raise TimeoutError(f"{url} did not answer within {timeout:.0f}s (last error: {last})")


class Child(Protocol):
    """What the stack uses of a child process: a `subprocess.Popen`, or a listener forked from
    the demo's warm parent (`local.zygote.ForkedChild`)."""

    pid: int
    returncode: int | None

    def poll(self) -> int | None: ...

    def wait(self, timeout: float | None = None) -> int: ...

    def send_signal(self, signum: int) -> None: ...

    def kill(self) -> None: ...


READY_FILE_ENV = "PREFECT_FEDERATION_LISTENER_READY_FILE"
"""Where a listener writes its pid once it has received from its queue (see `Stack.start`)."""


@dataclass
class ManagedProcess:
    """A child process in its own process group, with its output in a log file.

    The log file is appended to across runs; `output()` is what this process wrote, never a
    previous run's lines.
    """

    name: str
    popen: Child
    log_path: Path
    log_file: IO[bytes] = field(repr=False)
    log_offset: int = 0
    ready_file: Path | None = None
    infrastructure: bool = False
    term_group: bool = True
    on_stopped: Callable[[ManagedProcess], None] | None = field(default=None, repr=False)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def ready(self) -> bool:
        """True once the process wrote its own pid to its ready file (a listener: after its
        first receive from its queue). A process without a ready file is never ready."""
        if self.ready_file is None:
            return False
        try:
            return self.ready_file.read_text().split()[:1] == [str(self.pid)]
        except OSError:
            return False

    def terminate(self) -> None:
        """SIGTERM the process group, or only the process when it stops its own children
        (`term_group=False`: a listener lets its flow runs finish within its stop bound)."""
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                if self.term_group:
                    os.killpg(self.popen.pid, signal.SIGTERM)
                else:
                    os.kill(self.popen.pid, signal.SIGTERM)

    def wait_or_kill(self, deadline: float) -> None:
        """Wait for the process until `deadline` (monotonic), then SIGKILL its whole group,
        which also takes what it left behind (e.g. a flow run it started)."""
        try:
            self.popen.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(5)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        self.log_file.close()
        if self.ready_file is not None:
            self.ready_file.unlink(missing_ok=True)
        if self.on_stopped is not None:
            self.on_stopped(self)
            self.on_stopped = None

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM (see `terminate`); SIGKILL the group if it is not gone after `grace` seconds."""
        self.terminate()
        self.wait_or_kill(time.monotonic() + grace)

    def output(self) -> str:
        """What this process wrote to its log (not what earlier runs left in the file)."""
        try:
            with self.log_path.open("rb") as handle:
                handle.seek(self.log_offset)
                return handle.read().decode(errors="replace")
        except OSError:
            return ""

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.output().splitlines()[-lines:])
