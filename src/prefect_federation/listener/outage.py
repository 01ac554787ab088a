"""While the Prefect API is down: receive nothing, ask again after 2, 4, 8 ... up to 30 s.

Each receive would count towards the queue's maxReceiveCount and push waiting messages to the
DLQ, so the listener waits here instead, until Prefect answers its health check.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

__all__ = ["PrefectOutage"]

logger = logging.getLogger("prefect_federation.listener")


class PrefectOutage:
    """The listener's view of a Prefect outage: how long it has lasted, and the wait."""

    def __init__(
        self,
        stopping: threading.Event,
        pause: Callable[[float], bool],
        health_check: Callable[[], bool] | None,
    ) -> None:
        self.stopping = stopping
        self.pause = pause  # waits out a back-off; True when the listener is stopping
        self.health_check = health_check
        self.streak = 0  # consecutive unavailable answers
        self.down = threading.Event()

    def pause_seconds(self) -> float:
        """Seconds to wait before asking Prefect again: 2, 4, 8 ... up to 30."""
        return min(30.0, 2.0 ** min(self.streak, 5))

    def wait(self) -> None:
        """Wait until Prefect answers again (or the listener stops)."""
        while not self.stopping.is_set():
            delay = self.pause_seconds()
            logger.warning(
                "Prefect API unavailable; messages stay queued, not received; pausing %.0fs", delay
            )
            self.pause(delay)
            if self.health_check is None:
                return  # no way to ask: try a receive
            try:
                healthy = self.health_check()
            except Exception:
                healthy = False
            if healthy:
                logger.info("Prefect API is back; receiving again")
                self.streak = 0
                self.down.clear()
                return
            self.streak += 1
