"""Bench-only: count the Prefect API requests a process makes, by method and path.

`bench/throughput.py` puts this directory first on the listener's PYTHONPATH with
`BENCH_REQUEST_COUNTS=<file>`; Python imports `sitecustomize` at start-up, and this one wraps
httpx's clients (every REST call the Prefect client makes) and Prefect's events client (the
websocket that carries emitted events), and rewrites `<file>` with the counts every second.
Ids in paths are replaced by `{id}`, so counts add up per endpoint.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from collections import Counter
from typing import Any

_PATH = os.environ.get("BENCH_REQUEST_COUNTS")
_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_counts: Counter[str] = Counter()
_lock = threading.Lock()


def _count(key: str) -> None:
    with _lock:
        _counts[key] += 1


def _writer(path: str) -> None:
    while True:
        time.sleep(1)
        with _lock:
            document = dict(_counts)
        partial = f"{path}.partial"
        with open(partial, "w") as handle:
            json.dump(document, handle)
        os.replace(partial, path)


def _install(path: str) -> None:
    import httpx

    sync_send = httpx.Client.send
    async_send = httpx.AsyncClient.send

    def send(self: Any, request: Any, **kwargs: Any) -> Any:
        _count(f"{request.method} {_ID.sub('{id}', request.url.path)}")
        return sync_send(self, request, **kwargs)

    async def asend(self: Any, request: Any, **kwargs: Any) -> Any:
        _count(f"{request.method} {_ID.sub('{id}', request.url.path)}")
        return await async_send(self, request, **kwargs)

    httpx.Client.send = send  # type: ignore[method-assign]
    httpx.AsyncClient.send = asend  # type: ignore[method-assign]
    threading.Thread(target=_writer, args=(path,), daemon=True).start()
    threading.Thread(target=_patch_events_client, daemon=True).start()


def _patch_events_client() -> None:
    """Once the process has imported Prefect's events client (importing it here would import
    Prefect before the process has set its environment): count what it emits."""
    import sys

    while "prefect.events.clients" not in sys.modules:
        time.sleep(0.05)
    time.sleep(0.05)  # the module finished executing
    clients = sys.modules["prefect.events.clients"]
    emit = clients.PrefectEventsClient._emit

    async def counted_emit(self: Any, event: Any) -> None:
        _count(f"WS /events/in {event.event}")
        await emit(self, event)

    clients.PrefectEventsClient._emit = counted_emit


if _PATH:
    os.environ.pop("BENCH_REQUEST_COUNTS")  # not the processes this one starts
    _install(_PATH)
