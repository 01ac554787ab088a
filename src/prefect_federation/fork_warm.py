"""What a spare fork child sets up before it has a run, so a run's start does not wait for it.

Prefect's engine, starting a deployment's flow run, first builds a few things that do not depend
on the run: its API client, the API log and events workers (a thread, an event loop, an async
client each), and the flow run suspension observer (a thread, an event loop, an async client, a
websocket subscription to `prefect.flow-run.Suspended` events): ~0.1-0.2 s on 2 loaded cores, all
of it between PENDING and RUNNING. A spare child (`forkserver`) builds them while it waits; the
engine then finds them:

- the client through `SyncClientContext` (the engine's `get_or_create` takes the one entered);
- the workers through their `instance()` caches;
- the observer through `prefect.flow_engine.observe_flow_run_suspension`, replaced in the child
  by `WarmObserver.observe`, which adds the run to the observer already subscribed (Prefect's
  own `watch_flow_run_id`: it reads the run's current state, as the original does) and stops it
  when the engine leaves, as the original does. Used once: a second call (a nested flow with a
  deployment) gets Prefect's own.

Anything that fails here leaves Prefect's own path in place: warming is an optimisation only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
from collections.abc import Callable, Iterator
from typing import Any
from uuid import UUID

__all__ = ["WARM_ENV", "WarmObserver", "warm_child", "warm_level"]

logger = logging.getLogger("prefect_federation.forkserver")


class WarmObserver:
    """A `FlowRunSuspendingObserver` started before its flow run is known."""

    def __init__(self, polling_interval: float = 10) -> None:
        self.polling_interval = polling_interval
        self._observer: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopped: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._requests: dict[UUID, Any] = {}
        self._used = False
        self._original: Callable[..., Any] | None = None

    def start(self, timeout: float = 10.0) -> bool:
        """Subscribe in a thread of its own; True once it is ready."""
        ready = threading.Event()
        self._thread = threading.Thread(
            target=lambda: asyncio.run(self._main(ready)), daemon=True, name="warm-observer"
        )
        self._thread.start()
        ready.wait(timeout)
        return self._observer is not None

    async def _main(self, ready: threading.Event) -> None:
        from prefect._internal.observers import FlowRunSuspendingObserver

        self._loop = asyncio.get_running_loop()
        self._stopped = asyncio.Event()
        try:
            async with FlowRunSuspendingObserver(
                on_suspended=self._mark, polling_interval=self.polling_interval
            ) as observer:
                self._observer = observer
                ready.set()
                await self._stopped.wait()
        except Exception as exc:
            logger.debug("warm suspension observer stopped: %s", exc)
        finally:
            ready.set()

    def _mark(self, flow_run_id: UUID, state: Any) -> None:
        """What Prefect's observer does on a Suspended event for the run."""
        from prefect._flow_run_suspension import mark_flow_run_suspension_requested

        if not mark_flow_run_suspension_requested(flow_run_id, state):
            request = self._requests.get(flow_run_id)
            if request is not None:
                request.mark_requested(state)

    def install(self) -> None:
        """Hand this observer to the engine (in the child only)."""
        import prefect.flow_engine

        self._original = getattr(prefect.flow_engine, "observe_flow_run_suspension")  # noqa: B009
        setattr(prefect.flow_engine, "observe_flow_run_suspension", self.observe)  # noqa: B010

    @contextlib.contextmanager
    def observe(
        self, flow_run_id: UUID, suspension_request: Any, polling_interval: float = 10
    ) -> Iterator[None]:
        """`observe_flow_run_suspension`, with the subscription already made."""
        if self._used or self._observer is None or self._loop is None:
            assert self._original is not None
            with self._original(flow_run_id, suspension_request, polling_interval):
                yield
            return
        self._used = True
        self._requests[flow_run_id] = suspension_request
        try:
            asyncio.run_coroutine_threadsafe(
                self._observer.watch_flow_run_id(flow_run_id), self._loop
            ).result()
        except Exception:
            logger.debug("suspension observer could not watch %s", flow_run_id, exc_info=True)
        try:
            yield
        finally:
            self.stop()

    def stop(self) -> None:
        if self._loop is not None and self._stopped is not None:
            with contextlib.suppress(RuntimeError):  # the loop already closed
                self._loop.call_soon_threadsafe(self._stopped.set)
        if self._thread is not None:
            self._thread.join(timeout=2)


WARM_ENV = "PREFECT_FEDERATION_EXECUTOR_WARM"
"""`full` (default): the client, the log and events workers and the suspension observer; `client`:
the API client only (~11 MiB PSS less per runner, measured 2026-12-03; ~0.1 s more from PENDING
to RUNNING)."""


def warm_level() -> str:
    level = os.environ.get(WARM_ENV, "full")
    return level if level in ("full", "client") else "full"


def warm_child() -> None:
    """In a spare child: the engine's client, the log and events workers, the observer."""
    from prefect.context import SyncClientContext

    from prefect_federation.api_retries import retry_when_busy

    client_context = SyncClientContext()  # the engine's `get_or_create` takes this one
    client_context.__enter__()
    with contextlib.suppress(Exception):  # the engine's calls: a busy database's 503 at once
        retry_when_busy(client_context.client)
    if warm_level() == "client":
        return
    with contextlib.suppress(Exception):
        from prefect.events.worker import EventsWorker
        from prefect.logging.handlers import APILogWorker

        APILogWorker.instance()
        EventsWorker.instance()
    with contextlib.suppress(Exception):
        observer = WarmObserver()
        if observer.start():
            observer.install()
