"""Chaos for the reliability tests (tests/integration/test_reliability.py) and the soak
(bench/soak.py): the same scenarios at two sizes.

Each scenario provisions its own two domains on a `prefect_federation.local.LocalFederation`'s
AWS endpoint (its own name prefix), registers its own two deployments on one of its Prefect
servers, runs real listener processes (`prefect-federation listen`), does something unkind to
them (SIGKILL, a Prefect server stopped, the AWS endpoint cut off), and then counts the flow runs
by event and deployment: a `Tally`.

- `domains`: the scenario's two domains (`ChaosDomains`) and the `Tally`;
- `faults`: what is done to them (`sigkill`, `TcpProxy`, the restartable Prefect server,
  `PacedPublisher`'s duplicate deliveries) and reading the listeners' logs;
- `scenarios`: crash, Prefect outage, AWS outage, scale-out.
"""

from __future__ import annotations

from bench.chaos.domains import EVENT_TYPE, ChaosDomains, Tally, setup_domains
from bench.chaos.faults import PREFECT_SERVER_ENV, TcpProxy, start_prefect_server
from bench.chaos.scenarios import (
    aws_outage_scenario,
    crash_scenario,
    prefect_outage_scenario,
    scale_out_scenario,
)

__all__ = [
    "EVENT_TYPE",
    "PREFECT_SERVER_ENV",
    "ChaosDomains",
    "Tally",
    "TcpProxy",
    "aws_outage_scenario",
    "crash_scenario",
    "prefect_outage_scenario",
    "scale_out_scenario",
    "setup_domains",
    "start_prefect_server",
]
