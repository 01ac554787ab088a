"""A federation on this machine: the process stack, the reaper, `LocalFederation` and the demo.

- `process`: one child process (`ManagedProcess`) and the helpers (free port, quiet environment);
- `stack`: the processes of one run, stopped together (`Stack`), watched by `reaper`;
- `reaper`: processes that die with their owner, however it dies;
- `federation`: `LocalFederation`, the one harness of the demo, the bench and the tests;
- `demo`: `prefect-federation demo` (`run_demo`), built on `LocalFederation`.
"""

from __future__ import annotations

from prefect_federation.local.federation import LocalFederation, register_deployments
from prefect_federation.local.process import (
    READY_FILE_ENV,
    ManagedProcess,
    free_port,
    port_free,
    quiet_env,
    wait_for_http,
)
from prefect_federation.local.stack import Stack

__all__ = [
    "READY_FILE_ENV",
    "LocalFederation",
    "ManagedProcess",
    "Stack",
    "free_port",
    "port_free",
    "quiet_env",
    "register_deployments",
    "wait_for_http",
]
