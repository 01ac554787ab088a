"""The local process stack of the demo, the bench and the tests: moto server, Prefect server,
workers, listeners. Every process gets a free port and its own process group, is recorded in a pid
file, and is stopped (TERM, then KILL) on exit, so a leftover from a crashed run never breaks the
next. If the process that owns the stack dies without stopping it, a reaper process stops them
(`prefect_federation.local.reaper`).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from prefect_federation.local.process import (
    READY_FILE_ENV,
    Child,
    ManagedProcess,
    free_port,
    quiet_env,
    wait_for_http,
)
from prefect_federation.local.reaper import Reaper

if TYPE_CHECKING:
    from prefect_federation.local.zygote import Zygote

__all__ = ["Stack"]


class Stack:
    """The processes of one demo or test run, stopped together.

    A reaper process (`prefect_federation.local.reaper`) watches them too: if this process dies
    without `stop()` (SIGKILL, a closed terminal, a test run stopped by a CI time-out), it stops
    them.
    """

    def __init__(self, home: Path, grace: float = 10.0) -> None:
        self.home = home
        self.grace = grace
        self.logs = home / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.pid_file = home / "pids"
        self.processes: list[ManagedProcess] = []
        self._reaper: Reaper | None = None
        self._lock = threading.Lock()
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

    def ready_file(self, name: str) -> Path:
        return self.home / "run" / f"{name}.ready"

    def start(
        self,
        name: str,
        args: list[str],
        env: Mapping[str, str],
        cwd: Path | None = None,
        *,
        ready_file: bool = False,
        infrastructure: bool = False,
        term_group: bool = True,
        zygote: Zygote | None = None,
    ) -> ManagedProcess:
        """Start `args` in its own session, output appended to `logs/<name>.log`.

        With `ready_file`, the process is told (`PREFECT_FEDERATION_LISTENER_READY_FILE`) where to
        write its pid when it is ready; a file left by an earlier run is removed first.
        `infrastructure` processes (servers) are stopped after the others; `term_group`: see
        `ManagedProcess.terminate`. With `zygote`, `args` are `prefect-federation`'s and the
        process is forked from that warm parent (`start_zygote`) instead of started afresh.
        Safe to call from several threads.
        """
        if zygote is not None and not zygote.wait_ready(120):  # outside the lock: it imports
            raise RuntimeError(f"the listener zygote did not get ready: {zygote.process.tail()}")
        with self._lock:
            return self._start(name, args, env, cwd, ready_file, infrastructure, term_group, zygote)

    def start_zygote(self, env: Mapping[str, str]) -> Zygote:
        """The warm parent the demo forks its listeners from (`prefect_federation.local.zygote`),
        stopped with the servers, after the listeners; it imports while the caller goes on."""
        from prefect_federation.local.zygote import Zygote

        args = [sys.executable, "-m", "prefect_federation.local.zygote"]
        with self._lock:
            process = self._start("zygote", args, env, None, False, True, True, None, pipes=True)
        return Zygote(process)

    def _start(
        self,
        name: str,
        args: list[str],
        env: Mapping[str, str],
        cwd: Path | None,
        ready_file: bool,
        infrastructure: bool,
        term_group: bool,
        zygote: Zygote | None,
        *,
        pipes: bool = False,
    ) -> ManagedProcess:
        if self._reaper is None:
            self._reaper = Reaper(self.pid_file, self.logs / "reaper.log", self.grace)
        env = dict(env)
        ready_path = None
        if ready_file:
            ready_path = self.ready_file(name)
            ready_path.parent.mkdir(parents=True, exist_ok=True)
            ready_path.unlink(missing_ok=True)
            env[READY_FILE_ENV] = str(ready_path)
        log_path = self.logs / f"{name}.log"
        log_file = log_path.open("ab")
        log_file.write(f"---- {time.strftime('%Y-%m-%d %H:%M:%S')} start {name}\n".encode())
        log_file.flush()
        offset = log_file.tell()
        popen: Child
        if zygote is not None:
            popen = zygote.child(zygote.spawn(args, env, cwd or Path.cwd(), log_path))
        else:
            popen = subprocess.Popen(
                args,
                env=env,
                cwd=cwd,
                stdout=subprocess.PIPE if pipes else log_file,
                stderr=log_file if pipes else subprocess.STDOUT,
                stdin=subprocess.PIPE if pipes else subprocess.DEVNULL,
                start_new_session=True,
            )
        self._reaper.watch(popen.pid)
        process = ManagedProcess(
            name,
            popen,
            log_path,
            log_file,
            log_offset=offset,
            ready_file=ready_path,
            infrastructure=infrastructure,
            term_group=term_group,
            on_stopped=self._forget,
        )
        self.processes.append(process)
        with self.pid_file.open("a") as handle:
            handle.write(f"{popen.pid}\n")
        return process

    def remove_when_reaped(self, path: Path) -> None:
        """`path` goes too if this process dies and the reaper stops the stack."""
        if self._reaper is not None:
            self._reaper.remove_when_reaping(path)

    def _forget(self, process: ManagedProcess) -> None:
        if self._reaper is not None:
            self._reaper.forget(process.pid)

    def wait_ready(
        self,
        processes: list[ManagedProcess],
        timeout: float,
        check: Callable[[], None] | None = None,
    ) -> None:
        """Wait until every process is `ready()`; `check` may raise to give up early.

        Raises TimeoutError naming the processes that are not ready.
        """
        deadline = time.monotonic() + timeout
        while True:
            if check is not None:
                check()
            waiting = [p for p in processes if not p.ready()]
            if not waiting:
                return
            if time.monotonic() >= deadline:
                names = ", ".join(p.name for p in waiting)
                raise TimeoutError(f"not ready within {timeout:.0f}s: {names}")
            time.sleep(0.1)

    def start_moto(self, port: int | None = None) -> tuple[ManagedProcess, str]:
        port = port or free_port()
        process = self.start(
            "moto",
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            quiet_env(),
            infrastructure=True,
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
        args: Sequence[str] = (),
        wait: bool = True,
    ) -> tuple[ManagedProcess, str]:
        """`prefect server start <args>` on `port` (default: a free one); with `wait`, returned
        once its /api/health answers."""
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
            name,
            [prefect, "server", "start", "--host", "127.0.0.1", "--port", str(port), *args],
            env,
            infrastructure=True,
        )
        api = f"http://127.0.0.1:{port}/api"
        if wait:
            wait_for_http(f"{api}/health", timeout, process.popen)
        return process, api

    def stop(self, grace: float | None = None) -> None:
        """Stop every process: first the listeners and workers, all at once, while the servers
        they report to are still up; then the servers. Each layer gets `grace` seconds after
        SIGTERM before SIGKILL (longer than a listener's own stop bound)."""
        grace = self.grace if grace is None else grace
        for layer in (False, True):
            processes = [p for p in reversed(self.processes) if p.infrastructure is layer]
            for process in processes:
                process.terminate()
            deadline = time.monotonic() + grace
            for process in processes:
                process.wait_or_kill(deadline)
        self.processes.clear()
        self.pid_file.unlink(missing_ok=True)
        if self._reaper is not None:
            self._reaper.release()
            self._reaper = None

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
