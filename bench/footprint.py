"""footprint: memory (PSS) and CPU of a domain's processes, idle.

The whole stack as in e2e_latency (moto server, `prefect server start` on SQLite, the downstream
domain's listener and runner). A few events go through first, so every process has done its work
once (imports, caches, a flow run); then, idle, PSS (from /proc/<pid>/smaps_rollup, summed over
each process group) and CPU time (/proc/<pid>/stat) are sampled every 5 s for 30 s; then, with
the fork runner, once more when the idle fork server has retired its spare child (the bench sets
`PREFECT_FEDERATION_EXECUTOR_SPARE_IDLE` to just past the first window, so the first measures
the runner between runs with its spare waiting; 20 s by default, so an idle runner is the second).

Then the demo's five domains (`demo`, not `--once`), idle once its chain has completed: each
listener and its runner were forked from one warm parent (the zygote), so what they share is
counted once; per domain: its group's PSS plus a fifth of the parent's (not with `--quick`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from prefect_federation.forkserver import SPARE_IDLE, SPARE_IDLE_ENV
from prefect_federation.local import ManagedProcess, Stack
from prefect_federation.local.reaper import group_members, live_processes

from .common import (
    POOL,
    ROOT,
    BenchFederation,
    Figure,
    Options,
    Peer,
    Result,
    Target,
    bench_home,
    groups_cpu_seconds,
    groups_pss_mib,
    pss_kib,
)
from .demo_startup import demo_command
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


def _descendants(pid: int, processes: list[tuple[int, int, int]]) -> list[int]:
    """Every process below `pid`, in `processes` (`live_processes()`, read once)."""
    children: dict[int, list[int]] = {}
    for child, parent, _ in processes:
        children.setdefault(parent, []).append(child)
    found, todo = [], [pid]
    while todo:
        below = children.get(todo.pop(), [])
        found += below
        todo += below
    return found


def demo_domains(home: Path, settle: float = 8.0) -> dict[str, Any]:
    """The demo's listener groups (listener, fork server, spare child) and their warm parent,
    idle after the chain: PSS in MiB."""
    cli, env = demo_command(home)
    with Stack(home / "bench") as stack:
        process = stack.start("demo", [cli, "demo", "--home", str(home / "demo")], env, cwd=ROOT)
        try:
            deadline = time.monotonic() + 300
            while "the stack stays up" not in process.output():
                if not process.alive() or time.monotonic() > deadline:
                    raise RuntimeError(f"the demo did not come up:\n{process.tail(15)}")
                time.sleep(0.5)
            time.sleep(settle)
            processes = list(live_processes())  # one reading of /proc for all that follows
            zygotes = [
                pid
                for pid in _descendants(process.pid, processes)
                if b"prefect_federation.local.zygote" in Path(f"/proc/{pid}/cmdline").read_bytes()
            ]
            if not zygotes:
                raise RuntimeError("the demo's listeners were not forked from a warm parent")
            parent = zygotes[0]
            leaders = [  # a listener leads its own group: it, its fork server, its spare child
                pid for pid, ppid, group in processes if ppid == parent and group == pid
            ]
            groups = {
                leader: [pss_kib(pid) / 1024 for pid, _, group in processes if group == leader]
                for leader in leaders
            }
            parent_mib = pss_kib(parent) / 1024
        finally:
            process.stop(grace=60)  # the demo stops its own processes on SIGTERM
            Stack(home / "demo").stop()
    per_domain = [sum(g) + parent_mib / max(1, len(groups)) for g in groups.values()]
    return {"groups_mib": list(groups.values()), "parent_mib": parent_mib, "per_domain": per_domain}


def run(options: Options) -> Result:
    window = 10.0 if options.quick else 30.0
    runner = RUNNERS[options.runner]
    result = Result(NAME)
    spare_idle = window + 15  # the spare is retired after the first window, before the second
    with bench_home(NAME, options) as home, Stack(home) as stack:
        fed = BenchFederation(stack, home, pool_type=runner.pool_type).start()
        listener = fed.start_listener(
            extra=runner.listener_args, env={SPARE_IDLE_ENV: f"{spare_idle:.0f}"}
        )
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
        retired: dict[str, dict[str, list[float]]] = {}
        if runner.name == "fork":  # idle for longer: the spare retired, two processes left
            pair = groups["listener + runner"]
            deadline = time.monotonic() + spare_idle + 30
            while len(group_members(listener.pid)) > 2 and time.monotonic() < deadline:
                time.sleep(1)
            if len(group_members(listener.pid)) == 2:
                retired = sample_window({"listener + runner, spare retired": pair}, window)
        result.raw = {
            "runner": runner.name,
            "runner_description": runner.description,
            "window_s": window,
            "interval_s": INTERVAL,
            "samples": found,
            "samples_spare_retired": retired,
            "spare_idle_s": spare_idle,
            "processes": {
                g: [{"name": p.name, "pid": p.pid} for p in processes]
                for g, processes in groups.items()
            },
            "stack_timings_s": fed.timings,
        }
    idle_target = (Target("max", "<=", 120),)
    targets_pss = {  # the fork runner's idle state is the second window's (the spare retired)
        "listener + runner": () if runner.name == "fork" else idle_target,
        "domain: server + listener + runner": (Target("max", "<", 450),),
    }
    targets_cpu = {"listener + runner": (Target("mean", "<", 1.0),)}
    between_runs = ", between runs: the spare waiting" if retired else ""
    for group, values in found.items():
        label = f"PSS, {group}{between_runs if group == 'listener + runner' else ''}"
        result.figures.append(Figure(label, "MiB", values["pss"], targets_pss.get(group, ())))
    for group, values in retired.items():
        result.figures.append(
            Figure(
                f"PSS, {group} (idle)",
                "MiB",
                values["pss"],
                idle_target,
                f"idle {spare_idle:.0f}s here; by default {SPARE_IDLE:.0f}s ({SPARE_IDLE_ENV})",
            )
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
    if not options.quick:
        with bench_home(f"{NAME}-demo", options) as home:
            demo = demo_domains(home)
        result.raw["demo"] = demo
        result.figures.append(
            Figure(
                "PSS per domain of the demo: listener + runner + its share of their warm parent",
                "MiB",
                demo["per_domain"],
                (Target("max", "<=", 120),),
                f"{len(demo['per_domain'])} domains; groups "
                + ", ".join(f"{sum(g):.0f}" for g in demo["groups_mib"])
                + f" MiB, parent {demo['parent_mib']:.0f} MiB",
            )
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
