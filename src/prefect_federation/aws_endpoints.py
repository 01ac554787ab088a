"""One small botocore endpoint resolver per process, for the services this package uses.

Every botocore session builds its `EndpointResolver` from botocore's `endpoints.json` (1.2 MB:
every service in every partition), and keeps it, with the loader's cached copy, for as long as
the session lives: ~7 MiB of Python objects in each process that makes a client, though a client
reads only its own service's entries, once, when it is made. Parsed after a fork, they are the
listener's own pages; freed again later, they stay as holes in its heap.

`shared_resolver()` gives every session of the process one `LeanEndpointResolver`: the
partitions' own data (regions, DNS suffixes, defaults) and the entries of `SERVICES`, nothing
else. It is made once: the file parsed, the part kept copied out as JSON text, everything else
dropped, the text parsed again, so the memory of the whole parse is returned before anything
else is allocated into it (~0.05 s, once per process). Asked about another service, it widens
to the whole file, once: answers are those of botocore's own resolver either way (checked in
`tests/unit/test_aws_endpoints.py` for every service, partition and variant).
"""

from __future__ import annotations

import gc
import json
import threading
from typing import Any

from botocore.loaders import create_loader
from botocore.regions import EndpointResolver

__all__ = ["SERVICES", "LeanEndpointResolver", "shared_resolver"]

SERVICES = frozenset({"sqs", "sns", "s3", "dynamodb", "sts", "monitoring"})
"""The services whose clients this package makes (`aws_client`), by their endpoint prefix, which
is what botocore looks up (CloudWatch's is `monitoring`)."""

_lock = threading.Lock()
_resolver: LeanEndpointResolver | None = None


def _endpoints() -> tuple[dict[str, Any], bool]:
    """botocore's endpoint data, from a loader of its own (so no cache keeps it), and whether it
    is botocore's built-in file."""
    loader = create_loader()
    data, path = loader.load_data_with_path("endpoints")
    return data, loader.is_builtin_path(path)


def _lean(services: frozenset[str]) -> tuple[dict[str, Any], bool]:
    full, builtin = _endpoints()
    kept = dict(full)
    kept["partitions"] = [
        {**p, "services": {k: v for k, v in p.get("services", {}).items() if k in services}}
        for p in full["partitions"]
    ]
    text = json.dumps(kept)
    del full, kept
    gc.collect()
    return json.loads(text), builtin


class LeanEndpointResolver(EndpointResolver):
    """botocore's `EndpointResolver` over the entries of `services` only, widened to every
    service the first time it is asked about another."""

    def __init__(self, services: frozenset[str] = SERVICES) -> None:
        data, builtin = _lean(services)
        super().__init__(data, uses_builtin_data=builtin)
        self.services = services
        self.widened = False
        self._widen_lock = threading.Lock()

    def _cover(self, service_name: str) -> None:
        if self.widened or service_name in self.services:
            return
        with self._widen_lock:
            if not self.widened:
                self._endpoint_data, self.uses_builtin_data = _endpoints()
                self.widened = True

    def get_service_endpoints_data(self, service_name: str, partition_name: str = "aws") -> Any:
        self._cover(service_name)
        return super().get_service_endpoints_data(service_name, partition_name)

    def get_available_endpoints(self, service_name: str, *args: Any, **kwargs: Any) -> Any:
        self._cover(service_name)
        return super().get_available_endpoints(service_name, *args, **kwargs)

    def construct_endpoint(self, service_name: str, *args: Any, **kwargs: Any) -> Any:
        self._cover(service_name)
        return super().construct_endpoint(service_name, *args, **kwargs)


def shared_resolver() -> LeanEndpointResolver:
    """This process's resolver, made on first use."""
    global _resolver
    if _resolver is None:
        with _lock:
            if _resolver is None:
                _resolver = LeanEndpointResolver()
    return _resolver
