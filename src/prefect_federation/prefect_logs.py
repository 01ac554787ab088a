"""Prefect's own log lines that have no place in a CLI command's output.

A command that loads a block (`--aws-credentials-block`) makes Prefect emit an event
(`prefect.block.aws-credentials.loaded`). Prefect sends events from a background worker, which
opens its socket to the server first; when a short command (`dlq show`) ends before that, Prefect
sends the event at exit and, while it does, logs `EventsWorker - Still processing items: 1 items
remaining...` into the command's output. The event is still sent; only that progress line is
dropped. Anything else the worker logs (a failure to send, a full queue) still shows.
"""

from __future__ import annotations

import logging

__all__ = ["EVENTS_WORKER_LOGGER", "DrainProgressFilter", "hide_drain_progress"]

EVENTS_WORKER_LOGGER = "EventsWorker"
"""The logger of Prefect's events worker (`QueueService` names its logger after the class)."""


class DrainProgressFilter(logging.Filter):
    """Drops the worker's "Still processing items" lines, logged while it drains at exit."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Still processing items")


def hide_drain_progress() -> None:
    """Install `DrainProgressFilter` on the events worker's logger, once (no Prefect import)."""
    logger = logging.getLogger(EVENTS_WORKER_LOGGER)
    if not any(isinstance(f, DrainProgressFilter) for f in logger.filters):
        logger.addFilter(DrainProgressFilter())
