"""Small pure readers and writers of values shown to people or read from outside; never raise."""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["one_line", "parse_time"]


def one_line(text: str, limit: int) -> str:
    """`text` on one line, white space folded, cut to `limit` characters with `...`."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def parse_time(value: str | None) -> datetime | None:
    """An ISO 8601 time (one without a zone read as UTC); None when absent or not a time."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
