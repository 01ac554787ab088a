"""Retries of the Prefect API on the listener's and the executor's hot paths.

Two kinds of failure, two answers:

- The API is up but its database was busy: a 503. Prefect's server answers 503 for what a client
  may retry, above all SQLite's `database is locked`, which comes at once (not after the busy
  timeout) when a deferred transaction must upgrade to a write while another writer holds the
  lock; with five listeners, their runs and the server's own services on one SQLite file, that
  is a few calls a minute. Prefect's client sleeps `2 ** attempt` seconds after each retryable
  answer (2 s, then 4 s; after the last attempt too, before it gives the answer back), so one
  such answer cost a run ~2 s between its event and its creation (seen in the demo: one run in
  five per chain). `BusyRetryTransport`, under the client's own retries, retries a 503 at once
  with short jittered pauses (0.05 s to 0.8 s, ~1.5 s in all) and only then hands it up.
- The API is unreachable or keeps failing: the client's own retries, bounded by `ClientRetries`
  so that one message cannot hold its batch for a minute.

Retrying is safe: a 503 from Prefect's server means the request's transaction failed, and a
run's idempotency key makes a create that did happen answer with the run it made.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import httpx

__all__ = ["BUSY_DELAYS", "BusyRetryTransport", "ClientRetries", "retry_when_busy"]

BUSY_DELAYS: tuple[float, ...] = (0.05, 0.1, 0.2, 0.4, 0.8)
"""Pauses before the quick retries of a 503."""


class BusyRetryTransport(httpx.BaseTransport):
    """An httpx transport that retries a 503 after each of `delays` (jittered +-50 %) before it
    returns it to the client; every other answer and error goes up as it is."""

    def __init__(
        self,
        inner: httpx.BaseTransport,
        delays: Sequence[float] = BUSY_DELAYS,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.inner = inner
        self.delays = tuple(delays)
        self.sleep = sleep
        self.retried = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        if not isinstance(request.stream, httpx.ByteStream):
            return response  # a streamed body cannot be sent again
        for delay in self.delays:
            if response.status_code != 503:
                break
            response.close()
            self.sleep(delay * random.uniform(0.5, 1.5))
            self.retried += 1
            response = self.inner.handle_request(request)
        return response

    def close(self) -> None:
        self.inner.close()


def retry_when_busy(client: Any, delays: Sequence[float] = BUSY_DELAYS) -> BusyRetryTransport:
    """Put a `BusyRetryTransport` under a `SyncPrefectClient`'s own transport (its httpx
    client's; requests through a proxy mount are left as they are).

    After the client is made, as Prefect itself sets its transport's retries (through httpx's
    `_transport_for_url` and the pool's `_retries`): a transport passed in `httpx_settings`
    instead would lose what httpx builds for the client (proxies from the environment, HTTP/2,
    limits, the TLS context). `tests/unit/test_api_retries.py` fails if httpx moves it."""
    http = client._client
    transport = http._transport
    if not isinstance(transport, BusyRetryTransport):
        transport = BusyRetryTransport(transport, delays)
        http._transport = transport
    return transport


class ClientRetries:
    """Bound the Prefect client's own retries within a block (`with bound: ...`).

    The client retries a 503 or a dropped connection up to `PREFECT_CLIENT_MAX_RETRIES` times
    (5: ~62 s of sleeping) inside one call, so one message could hold its batch for a minute
    while the listener's own back-off (which leaves the message queued) never got a say. The
    override is built once (~0.05 s: Prefect's settings are copied) and entered per call
    (~1 ms); `None`: no bound (Prefect's own settings).
    """

    def __init__(self, retries: int | None) -> None:
        self.retries = retries
        if retries is None:
            return
        import prefect.context
        from prefect.settings import PREFECT_CLIENT_MAX_RETRIES

        current = prefect.context.get_settings_context()
        self._profile = current.profile
        self._settings = current.settings.copy_with_update(
            updates={PREFECT_CLIENT_MAX_RETRIES: retries}
        )
        self._local = threading.local()

    def __enter__(self) -> None:
        if self.retries is None:
            return
        import prefect.context

        context = prefect.context.SettingsContext(profile=self._profile, settings=self._settings)
        stack = getattr(self._local, "stack", None)
        if stack is None:
            stack = self._local.stack = []
        stack.append(context)
        context.__enter__()

    def __exit__(self, *exc_info: object) -> None:
        if self.retries is None:
            return
        self._local.stack.pop().__exit__(*exc_info)
