"""What the chaos scenarios do to a federation: SIGKILL a listener, stop the Prefect server, cut
the AWS endpoint off (a TCP proxy), deliver an event twice; and reading what a listener logged.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import threading
import time
from pathlib import Path

from bench.chaos.domains import DOWNSTREAM, ChaosDomains
from prefect_federation.events import EventEnvelope
from prefect_federation.local import LocalFederation, ManagedProcess, free_port

# -- processes ----------------------------------------------------------------------------------


def start_listener(
    federation: LocalFederation, name: str, env: dict[str, str], wait: bool = True
) -> ManagedProcess:
    """`prefect-federation listen --domain chaos-down --wait-time 1` in its own process group;
    with `wait`, returned once it has received from its queue (it fails with its log if it
    exits or hangs)."""
    return federation.start_listener(
        DOWNSTREAM, env, name=name, args=("--wait-time", "1"), wait=wait
    )


def log_text(process: ManagedProcess) -> str:
    """What this process logged (never an earlier run's lines in the same log file)."""
    return process.output()


def sigkill(process: ManagedProcess) -> None:
    """SIGKILL the listener's whole process group: no handler runs, nothing is cleaned up."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.popen.wait(10)


def stop_gracefully(process: ManagedProcess, grace: float = 20) -> int | None:
    """SIGTERM (what is in flight finishes), then the exit code (None if it had to be killed)."""
    if not process.alive():
        return process.popen.returncode
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        return process.popen.wait(grace)
    except Exception:
        process.stop(0)
        return None


def count_lines(process: ManagedProcess, needle: str | re.Pattern[str]) -> int:
    lines = log_text(process).splitlines()
    if isinstance(needle, str):
        return sum(1 for line in lines if needle in line)
    return sum(1 for line in lines if needle.search(line))


def exit_stats(process: ManagedProcess) -> dict[str, int]:
    """The counters the listener logged when it stopped (`stats: {...}`), {} if it did not."""
    lines = [line for line in log_text(process).splitlines() if "stats: {" in line]
    if not lines:
        return {}
    return {k: int(v) for k, v in re.findall(r"'(\w+)': (\d+)", lines[-1])}


PREFECT_SERVER_ENV = {
    # no UI: the server starts in ~8 s instead of ~19 s
    "PREFECT_UI_ENABLED": "false",
    # No worker runs the chaos deployments, so every run would turn Late after 15 s, and the
    # late-runs service rewriting thousands of them competes for SQLite's one write lock: run
    # creation drops from ~4.7 to ~2.9 runs/s (400 events, two listeners).
    "PREFECT_SERVER_SERVICES_LATE_RUNS_ENABLED": "false",
}


def start_prefect_server(
    federation: LocalFederation, home: Path, name: str = "main", timeout: float = 180
) -> str:
    """A `prefect server start` for the scenarios, its SQLite database in `home` (it survives a
    stop: `federation.stop_prefect(name)`, then this again, on the same port)."""
    return federation.start_prefect(name, home=home, extra_env=PREFECT_SERVER_ENV, timeout=timeout)


class TcpProxy:
    """A TCP proxy on 127.0.0.1 to `target` (host, port). `close()` cuts every open connection
    and refuses new ones (nothing listens) until `open()` listens on the same port again."""

    def __init__(self, target: tuple[str, int], port: int | None = None) -> None:
        self.target = target
        self.port = port or free_port()
        self._server: socket.socket | None = None
        self._connections: set[socket.socket] = set()
        self._lock = threading.Lock()
        self.accepted = 0

    @classmethod
    def to_url(cls, url: str) -> TcpProxy:
        host, port = url.split("://", 1)[1].rstrip("/").split(":")
        return cls((host, int(port)))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def is_open(self) -> bool:
        return self._server is not None

    def open(self) -> TcpProxy:
        if self._server is not None:
            return self
        server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", self.port))
        server.listen(128)
        server.settimeout(0.2)
        self._server = server
        threading.Thread(target=self._accept, args=(server,), daemon=True, name="proxy").start()
        return self

    def close(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
        with self._lock:
            connections, self._connections = self._connections, set()
        for sock in connections:
            _hard_close(sock)

    def __enter__(self) -> TcpProxy:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _accept(self, server: socket.socket) -> None:
        while self._server is server:
            try:
                client, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                _hard_close(client)
                continue
            client.settimeout(None)
            upstream.settimeout(None)
            with self._lock:
                if self._server is not server:  # closed meanwhile
                    _hard_close(client)
                    _hard_close(upstream)
                    return
                self._connections |= {client, upstream}
                self.accepted += 1
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            with self._lock:
                self._connections.discard(src)
                self._connections.discard(dst)
            _hard_close(src)
            _hard_close(dst)


def _hard_close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()


# -- publishing at a steady pace ----------------------------------------------------------------


class PacedPublisher(threading.Thread):
    """Publishes `events` at `rate` per second in a thread; every `duplicate_every`-th event is
    published twice in a row (SNS's at-least-once delivery, simulated)."""

    def __init__(
        self,
        domains: ChaosDomains,
        events: list[EventEnvelope],
        rate: float,
        duplicate_every: int = 0,
    ) -> None:
        super().__init__(daemon=True, name="paced-publisher")
        self.publisher = domains.publisher()
        self.events = events
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self.duplicate_every = duplicate_every
        self.published = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        start = time.monotonic()
        try:
            for index, event in enumerate(self.events):
                pause = start + index * self.interval - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
                copies = 2 if self.duplicate_every and index % self.duplicate_every == 0 else 1
                for _ in range(copies):
                    self.publisher.publish(event)
                    self.published += 1
        except BaseException as exc:
            self.error = exc

    def finish(self, timeout: float) -> int:
        self.join(timeout)
        if self.is_alive():
            raise TimeoutError(f"publishing did not finish within {timeout:.0f}s")
        if self.error is not None:
            raise RuntimeError(f"publishing failed: {self.error!r}") from self.error
        return self.published
