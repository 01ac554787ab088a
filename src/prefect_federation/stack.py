"""Local processes for the demo and the end-to-end tests: moto server, Prefect server, workers,
listeners. Every process gets a free port and its own process group, is recorded in a pid file,
and is stopped (TERM, then KILL) on exit, so a leftover from a crashed run never breaks the next.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

__all__ = ["ManagedProcess", "Stack", "free_port", "quiet_env", "wait_for_http"]


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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


def wait_for_http(url: str, timeout: float, process: subprocess.Popen[bytes] | None = None) -> None:
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


@dataclass
class ManagedProcess:
    """A child process in its own process group, with its output in a log file."""

    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path
    log_file: IO[bytes] = field(repr=False)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM the whole group; SIGKILL what is left after `grace` seconds."""
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(grace)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(5)
        # children that outlived their parent (e.g. a flow run) in the same group
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        self.log_file.close()

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


class Stack:
    """The processes of one demo or test run, stopped together."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.logs = home / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.pid_file = home / "pids"
        self.processes: list[ManagedProcess] = []
        self.kill_leftovers()

    def kill_leftovers(self) -> list[int]:
        """Kill the process groups a previous run of this home recorded and did not stop."""
        killed: list[int] = []
        if not self.pid_file.exists():
            return killed
        for line in self.pid_file.read_text().split():
            with contextlib.suppress(ValueError, ProcessLookupError, PermissionError):
                pgid = int(line)
                if _belongs_to_us(pgid):
                    os.killpg(pgid, signal.SIGKILL)
                    killed.append(pgid)
        self.pid_file.unlink(missing_ok=True)
        return killed

    def start(
        self,
        name: str,
        args: list[str],
        env: Mapping[str, str],
        cwd: Path | None = None,
    ) -> ManagedProcess:
        log_path = self.logs / f"{name}.log"
        log_file = log_path.open("ab")
        popen = subprocess.Popen(
            args,
            env=dict(env),
            cwd=cwd,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        process = ManagedProcess(name, popen, log_path, log_file)
        self.processes.append(process)
        with self.pid_file.open("a") as handle:
            handle.write(f"{popen.pid}\n")
        return process

    def start_moto(self, port: int | None = None) -> tuple[ManagedProcess, str]:
        port = port or free_port()
        process = self.start(
            "moto",
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            quiet_env(),
        )
        url = f"http://127.0.0.1:{port}"
        wait_for_http(f"{url}/moto-api/", 30, process.popen)
        return process, url

    def start_prefect_server(
        self,
        prefect_home: Path,
        port: int | None = None,
        name: str = "prefect-server",
        timeout: float = 120,
        extra_env: Mapping[str, str] | None = None,
    ) -> tuple[ManagedProcess, str]:
        port = port or free_port()
        env = quiet_env(
            {
                "PREFECT_HOME": str(prefect_home),
                "PREFECT_SERVER_API_HOST": "127.0.0.1",
                "PREFECT_SERVER_API_PORT": str(port),
                "PREFECT_UI_API_URL": f"http://127.0.0.1:{port}/api",
                **(extra_env or {}),
            }
        )
        env.pop("PREFECT_API_URL", None)
        prefect = str(Path(sys.executable).with_name("prefect"))
        process = self.start(
            name, [prefect, "server", "start", "--host", "127.0.0.1", "--port", str(port)], env
        )
        api = f"http://127.0.0.1:{port}/api"
        wait_for_http(f"{api}/health", timeout, process.popen)
        return process, api

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.stop()
        self.processes.clear()
        self.pid_file.unlink(missing_ok=True)

    def __enter__(self) -> Stack:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _belongs_to_us(pid: int) -> bool:
    """True if `pid` is still one of our (python) processes, not a recycled pid."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
    except OSError:
        return False
    return b"python" in cmdline or b"prefect" in cmdline or b"moto" in cmdline
