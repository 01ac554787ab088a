"""Prefect's event feed: the events the federation puts there, and links that filter it.

The UI's event feed is `<ui>/events`; it reads its filter from the query string, as its own
filter controls write it: `events` (repeated) are the event names shown, a name ending in `*` is
a prefix (`prefect-federation.*`). (Prefect 3.8 UI, the `Events` page:
`useRouteQueryParam("events", [])`.)
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlencode

__all__ = ["RECEIVED_EVENT", "event_feed_url"]

RECEIVED_EVENT = "prefect-federation.event.received"
"""What a listener records for each event that started a run, related to that run."""


def event_feed_url(ui_url: str, events: Iterable[str] = (RECEIVED_EVENT,)) -> str:
    """The event feed of the Prefect UI at `ui_url`, showing only `events` (by default the
    received events, without the heartbeats and Prefect's own events)."""
    query = urlencode([("events", name) for name in events], safe="*")
    return f"{ui_url.rstrip('/')}/events" + (f"?{query}" if query else "")
