"""Follow one chain of events across every Prefect server of the federation.

Every run the listener creates names its triggering event in its labels
(`prefect_federation.labels`): the event's id, type, source and time, the chain's correlation id
and, for every event but the first, the causation id (the event that started the run that
published it). From those labels alone the chain is a tree of events and runs.

One module per step, so each is tested on its own:

- `records`: `RunRecord`, one flow run as plain data (domain, `flow/deployment`, state, times,
  event labels, UI link), and `record_from_flow_run`;
- `tree` (pure): `build_trace`, records in, `ChainTrace` (events and runs) out;
- `render`: `render_trace` draws the tree as a rich Tree; `format_seconds`;
- `reader` (I/O): `RunReader` reads the runs tagged `correlation-id:<id>` on each server;
  `trace_chain` reads and builds; `federation_clients` opens a client per known server;
- `watch`: `wait_for_chain` (behind `publish --wait`) polls the same records until the chain
  settles, `ChainWatch` deciding purely when it has.
"""

from prefect_federation.trace.reader import (
    RunReader,
    federation_clients,
    known_servers,
    trace_chain,
)
from prefect_federation.trace.records import (
    FINAL_STATES,
    RunRecord,
    record_from_flow_run,
    ui_url_of,
)
from prefect_federation.trace.render import format_seconds, render_trace
from prefect_federation.trace.tree import (
    ChainTrace,
    EventNode,
    RunNode,
    build_trace,
    downstream_runs,
)
from prefect_federation.trace.watch import ChainOutcome, ChainWatch, RunChange, wait_for_chain

__all__ = [
    "FINAL_STATES",
    "ChainOutcome",
    "ChainTrace",
    "ChainWatch",
    "EventNode",
    "RunChange",
    "RunNode",
    "RunReader",
    "RunRecord",
    "build_trace",
    "downstream_runs",
    "federation_clients",
    "format_seconds",
    "known_servers",
    "record_from_flow_run",
    "render_trace",
    "trace_chain",
    "ui_url_of",
    "wait_for_chain",
]
