"""A manual clock and names shared by the DLQ and status unit tests (fixtures: conftest.py)."""

from __future__ import annotations

from datetime import UTC, datetime

PREFIX = "federation-"
START = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


class Clock:
    """Time that moves only when a test sets `now`."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now
