"""How a listener process stops: SIGTERM, SIGINT and SIGHUP alike, within a bound.

With T = `stop_timeout_seconds` (default 8 s) and a reserve R = min(3 s, T/3), after the first
signal the listener

1. receives nothing new, at once: a long poll in progress is abandoned (a message that arrives
   before that poll's wait is up may still be handed to the abandoned request by SQS: it is
   delivered again after its visibility timeout, like any message a dead listener received);
2. lets the batch in flight and the flow runs it executes finish, until T - R;
3. in the reserve: terminates the flow runs still running (they end Crashed), sends its last
   heartbeat and Prefect's buffered events, as far as time allows;
4. exits at T at the latest, whatever is still going on (a Prefect call inside its client's
   retries, a drain that does not end): a watchdog thread calls `os._exit`.

A second signal exits at once. Messages not acknowledged are redelivered after their visibility
timeout; their idempotency keys make that safe.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:
    from prefect_federation.listener.consumer import Listener

__all__ = ["STOP_SIGNALS", "StopBound", "announce_stop", "serve", "write_ready_file"]

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)

logger = logging.getLogger("prefect_federation.listener")


class StopBound:
    """The deadline a stop request sets, and the watchdog that enforces it."""

    def __init__(self, timeout: float, reserve: float | None = None) -> None:
        self.timeout = timeout
        self.reserve = min(3.0, timeout / 3) if reserve is None else reserve
        self.requested = threading.Event()
        self.reason: str | None = None
        self._deadline: float | None = None
        self._on_request: Callable[[str], None] | None = None
        self._cleanups: list[Callable[[], None]] = []

    def install(self, on_request: Callable[[str], None]) -> None:
        """Handle SIGTERM, SIGINT and SIGHUP (main thread only); `on_request(signal name)`."""
        self._on_request = on_request
        for signum in STOP_SIGNALS:
            signal.signal(signum, self._handle)

    def on_exit(self, cleanup: Callable[[], None]) -> None:
        """Run `cleanup` (quick, must not raise) just before the process exits, forced or not."""
        self._cleanups.append(cleanup)

    def _handle(self, signum: int, _frame: Any) -> None:
        name = signal.Signals(signum).name
        if self.requested.is_set():
            logger.warning("%s again: exiting now", name)
            self.exit_now(0)
        self.request(name)

    def request(self, reason: str) -> None:
        """Start the clock (once); the watchdog exits the process when it runs out."""
        if self.requested.is_set():
            return
        self.reason = reason
        self._deadline = time.monotonic() + self.timeout
        self.requested.set()
        threading.Thread(target=self._watchdog, name="stop-watchdog", daemon=True).start()
        if self._on_request is not None:
            self._on_request(reason)

    def remaining(self) -> float:
        """Seconds left until the forced exit (the whole bound while no stop was asked)."""
        if self._deadline is None:
            return self.timeout
        return max(0.0, self._deadline - time.monotonic())

    def work_left(self) -> float:
        """Seconds in-flight work may still take (what is left minus the reserve)."""
        return max(0.0, self.remaining() - self.reserve)

    def _watchdog(self) -> None:
        time.sleep(self.remaining())
        logger.warning(
            "stop bound of %.0fs reached: exiting now (messages not acknowledged are "
            "redelivered; runs still running are terminated)",
            self.timeout,
        )
        self.exit_now(0)

    def finish(self, code: int = 0) -> NoReturn:
        """The orderly end: send Prefect's buffered events and logs in the time left, exit."""
        _drain_prefect(max(0.1, self.remaining() - 0.2))
        self.exit_now(code)

    def exit_now(self, code: int) -> NoReturn:
        """Exit without the interpreter's shutdown (seconds of garbage collection and atexit
        drains that wait without a bound), after flushing what was logged."""
        for cleanup in self._cleanups:
            with contextlib.suppress(Exception):
                cleanup()
        with contextlib.suppress(Exception):
            logging.shutdown()
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os._exit(code)


def announce_stop(name: str) -> None:
    logger.info("%s: finishing what is in flight, taking nothing new", name)


def serve(listener: Listener, bound: StopBound, executor: Any, launcher: Any) -> NoReturn:
    """Run the listener until a stop request; then stop within the bound and exit."""
    thread = threading.Thread(
        target=listener.run, name=f"listener-{listener.domain.domain}", daemon=True
    )
    if not bound.requested.is_set():  # not already asked to stop while starting up
        thread.start()
    while thread.is_alive():
        thread.join(0.1)
        if not bound.requested.is_set():
            continue
        listener.stop()
        if not listener.busy:
            break  # waiting in a long poll: nothing in flight; unreceived messages stay queued
        if bound.work_left() <= 0:
            logger.warning("the batch in flight did not finish in time: it will be redelivered")
            break
    bound.request("the listener stopped")  # starts the clock if no signal did
    listener.wait_heartbeat(min(3.0, bound.work_left()))
    if executor is not None:
        executor.stop(grace=bound.work_left(), kill_after=bound.reserve / 2)
    launcher.close()
    logger.info("stats: %s", listener.stats.as_dict())
    bound.finish()


def _drain_prefect(timeout: float) -> None:
    """Send what Prefect's event and log workers still hold (the `stopped` heartbeat)."""
    if "prefect" not in sys.modules:
        return
    try:
        from prefect.events.worker import EventsWorker
        from prefect.logging.handlers import APILogWorker

        EventsWorker.drain_all(timeout=timeout / 2)
        APILogWorker.drain_all(timeout=timeout / 2)
    except Exception as exc:
        logger.debug("could not drain Prefect's workers: %s", exc)


def write_ready_file(path: Path) -> None:
    """Write this process's pid to `path` atomically (readers never see a partial file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    partial.write_text(f"{os.getpid()}\n")
    partial.replace(path)
