"""Keeping in-flight messages hidden while their handling outlives half the visibility timeout."""

from __future__ import annotations

import logging
import threading
import time

from prefect_federation.queue import QueueClient, ReceivedMessage

__all__ = ["VisibilityKeeper"]

logger = logging.getLogger("prefect_federation.listener")


class VisibilityKeeper:
    """Extends the visibility of in-flight messages while their handling outlives half of it."""

    def __init__(self, queue: QueueClient, messages: list[ReceivedMessage], timeout: int) -> None:
        self.queue = queue
        self.messages = list(messages)
        self._lock = threading.Lock()
        self.timeout = max(2, timeout)
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="visibility-keeper")

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._done.set()
        if self._thread is not threading.current_thread():
            self._thread.join()

    def discard(self, message: ReceivedMessage) -> None:
        """This message is done (acked, dead-lettered or left): extend it no more."""
        with self._lock:
            self.messages = [m for m in self.messages if m.message_id != message.message_id]

    def _run(self) -> None:
        started = time.monotonic()
        while not self._done.wait(self.timeout / 2):
            elapsed = time.monotonic() - started
            with self._lock:
                messages = list(self.messages)
            if not messages:
                continue
            logger.info(
                "handling takes %.0fs; extending visibility of %d message(s)",
                elapsed,
                len(messages),
            )
            for message in messages:
                try:
                    self.queue.extend_visibility(message, self.timeout)
                except Exception as exc:  # the message may be gone already
                    logger.debug("could not extend visibility of %s: %s", message.message_id, exc)
