"""footprint: memory (PSS) and CPU of a domain's processes, idle.

The whole stack as in e2e_latency (moto server, `prefect server start` on SQLite, the downstream
domain's listener and runner). A few events go through first, so every process has done its work
once (imports, caches, a flow run); then, idle, PSS (from /proc/<pid>/smaps_rollup, summed over
each process group) and CPU time (/proc/<pid>/stat) are sampled every 5 s for 30 s.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from prefect_federation.local import ManagedProcess, Stack

from .common import (
    POOL,
    BenchFederation,
    Figure,
    Options,
    Peer,
    Result,
    Target,
    bench_home,
    groups_cpu_seconds,
    groups_pss_mib,
)
from .e2e_latency import one_event
from .runners import RUNNERS, RunnerContext

NAME = "footprint"
INTERVAL = 5.0


def sample_window(
    groups: dict[str, Sequence[ManagedProcess]], seconds: float
) -> dict[str, dict[str, list[float]]]:
    """Every INTERVAL: each group's PSS (MiB) and CPU % of one core over the last interval."""
    found: dict[str, dict[str, list[float]]] = {g: {"pss": [], "cpu": []} for g in groups}
    cpu = {g: groups_cpu_seconds(p) for g, p in groups.items()}
    last = time.monotonic()
    deadline = last + seconds
    while time.monotonic() < deadline - 0.01:
        time.sleep(min(INTERVAL, deadline - time.monotonic()))
        now = time.monotonic()
        for group, processes in groups.items():
            for process in processes:
                if not process.alive():
                    raise RuntimeError(f"{process.name} exited:\n{process.tail()}")
            used = groups_cpu_seconds(processes)
            found[group]["cpu"].append((used - cpu[group]) / (now - last) * 100)
            found[group]["pss"].append(groups_pss_mib(processes))
            cpu[group] = used
        last = now
    return found


def run(options: Options) -> Result:
    window = 10.0 if options.quick else 30.0
    runner = RUNNERS[options.runner]
    result = Result(NAME)
    with bench_home(NAME, options) as home, Stack(home) as stack:
        fed = BenchFederation(stack, home, pool_type=runner.pool_type).start()
        listener = fed.start_listener(extra=runner.listener_args)
        workers = runner.start(stack, RunnerContext(pool=POOL, env=fed.child_env()))
        markers = home / "markers"
        markers.mkdir()
        with fed.prefect_client() as client:
            for _ in range(3):
                one_event(fed, client, markers, timeout=120)
        time.sleep(5)  # the last flow process gone, the worker back to polling
        assert fed.server is not None
        assert fed.moto is not None
        groups: dict[str, Sequence[ManagedProcess]] = {
            "listener": [listener],
            "runner": workers,
            "listener + runner": [listener, *workers],
            "prefect server": [fed.server],
            "domain: server + listener + runner": [fed.server, listener, *workers],
            "moto server": [fed.moto],
        }
        found = sample_window(groups, window)
        result.raw = {
            "runner": runner.name,
            "runner_description": runner.description,
            "window_s": window,
            "interval_s": INTERVAL,
            "samples": found,
            "processes": {
                g: [{"name": p.name, "pid": p.pid} for p in processes]
                for g, processes in groups.items()
            },
            "stack_timings_s": fed.timings,
        }
    targets_pss = {
        "listener + runner": (Target("max", "<=", 120),),
        "domain: server + listener + runner": (Target("max", "<", 450),),
    }
    targets_cpu = {"listener + runner": (Target("mean", "<", 1.0),)}
    for group, values in found.items():
        result.figures.append(
            Figure(f"PSS, {group}", "MiB", values["pss"], targets_pss.get(group, ()))
        )
    for group, values in found.items():
        if group.startswith("domain"):
            continue
        result.figures.append(
            Figure(
                f"CPU % of a core idle, {group}",
                "%",
                values["cpu"],
                targets_cpu.get(group, ()),
                f"{window:.0f}s window, per {INTERVAL:.0f}s",
            )
        )
    result.notes.append(
        f"footprint: runner = {runner.description}; after 3 events, idle {window:.0f}s"
    )
    return result


def peers(document: dict[str, Any]) -> list[Peer]:
    rows = []
    for p in document.get("footprint_mib", []):
        if "pss_after_runs" in p:
            rows.append(Peer(f"{p['what']}: after start", "MiB", p.get("pss")))
            rows.append(Peer(f"{p['what']}: after runs", "MiB", p["pss_after_runs"]))
        else:
            rows.append(Peer(p["what"], "MiB", p.get("pss")))
    return rows
