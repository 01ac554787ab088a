"""One TLS context per CA file for the Prefect API clients of a process, instead of one each.

Every `PrefectClient` and `SyncPrefectClient` builds its own `ssl.SSLContext` from certifi's CA
bundle (or `PREFECT_API_SSL_CERT_FILE`) when it is created, whether or not the API is https:
~1 MiB each. A warm fork child holds eight such clients (its engine's, the log and events
workers', the suspension observer's...), the listener a few more, each with its own copy of the
same certificates. `share_client_tls_contexts` hands Prefect's client module a stand-in for
`ssl` whose `create_default_context(cafile=...)` returns one context per (CA file, HTTP/2
setting); everything else is `ssl` itself. Prefect never changes that context after creating it
(its insecure path, which does, calls `create_default_context()` without a CA file and is left
alone); httpcore sets its ALPN protocols on each connection from the client's HTTP/2 setting,
which is part of the key. Fork children inherit the stand-in and the contexts.
"""

from __future__ import annotations

import ssl
import threading
from types import ModuleType
from typing import Any

__all__ = ["SharedTlsContexts", "share_client_tls_contexts"]


class SharedTlsContexts:
    """`ssl`, but `create_default_context(cafile=...)` gives one context per CA file."""

    def __init__(self, module: ModuleType = ssl) -> None:
        self._module = module
        self._contexts: dict[tuple[str, bool], ssl.SSLContext] = {}
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._module, name)

    def create_default_context(self, *args: Any, **kwargs: Any) -> ssl.SSLContext:
        cafile = kwargs.get("cafile")
        if args or set(kwargs) != {"cafile"} or not isinstance(cafile, str):
            return self._module.create_default_context(*args, **kwargs)  # type: ignore[no-any-return]
        from prefect.settings import PREFECT_API_ENABLE_HTTP2

        key = (cafile, bool(PREFECT_API_ENABLE_HTTP2.value()))
        with self._lock:
            context = self._contexts.get(key)
            if context is None:
                context = self._module.create_default_context(cafile=cafile)
                self._contexts[key] = context
        return context


_SHARED: SharedTlsContexts | None = None
MODULES = ("prefect.client.orchestration", "prefect._internal.version_checking")
"""Where Prefect builds a client's context from a CA file: its API clients, and the API version
check that its events clients make before they connect."""


def share_client_tls_contexts() -> SharedTlsContexts:
    """Install the stand-in in Prefect's client modules (once per process)."""
    import importlib

    global _SHARED
    if _SHARED is None:
        _SHARED = SharedTlsContexts(ssl)
    for name in MODULES:
        module = importlib.import_module(name)
        if getattr(module, "ssl", None) is ssl:
            setattr(module, "ssl", _SHARED)  # noqa: B010  (a module global of Prefect's)
    return _SHARED
