"""e2e_latency: `sns.publish` -> the downstream flow's first statement, the whole stack.

moto server, `prefect server start` (SQLite), the upstream domain's topic, the downstream domain's
queue and listener (`prefect-federation listen`), and a runner (`--runner`, default the fork
runner of `listen --execute`). Each event is published at a random point of the listener's 20 s
long poll (and so of any runner's shorter poll cycle), after the previous run has finished; the
flow writes `time.time()` to a file as its first statement, so both ends are read on the same host
clock and nothing polls the Prefect API while an event is measured (the bench waits on the file;
the API is read only once the run has ended). Per event the split: publish -> run created (the
run's `created`) -> pending (claimed) -> running (the flow's process reported it) -> the flow's
first line. One warm-up event is sent first and not counted. Reported: min / median / p90 / max.
"""

from __future__ import annotations

import math
import random
import statistics
import time
from pathlib import Path
from typing import Any

from prefect_federation.forkserver import SPARE_IDLE_ENV
from prefect_federation.local import Stack
from prefect_federation.local.reaper import group_members

from .common import (
    POOL,
    BenchFederation,
    Figure,
    Options,
    Peer,
    Result,
    Target,
    bench_home,
    event_filter,
)
from .runners import RUNNERS, RunnerContext

NAME = "e2e_latency"
LONG_POLL_SECONDS = 20.0  # the listener's receive wait: each publish lands at a random point of it
TERMINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}

STEPS = (
    ("publish_to_created", "publish -> run created", "SNS -> SQS -> listener -> API"),
    ("created_to_pending", "run created -> pending", "claimed: a runner's poll, or pushed"),
    ("pending_to_running", "pending -> running", "flow process started, engine to RUNNING"),
    ("running_to_first_line", "running -> flow's first line", "engine until the body"),
)


def _wait_for(predicate: Any, timeout: float, what: str, interval: float = 0.01) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"{what} within {timeout:.0f}s")


def one_event(fed: BenchFederation, client: Any, markers: Path, timeout: float) -> dict[str, Any]:
    """Publish one ping; wait for the flow's first line (a file: no API call while measuring),
    then for its run's end; return the timings."""
    marker = markers / f"{time.time_ns()}.t"
    event_id, published = fed.publish({"marker": str(marker)})
    _wait_for(marker.exists, timeout, f"no first line for event {event_id}", 0.002)
    first_line = float(marker.read_text())

    def finished_run() -> Any:
        runs = client.read_flow_runs(flow_run_filter=event_filter(event_id), limit=5)
        done = [r for r in runs if r.state is not None and r.state.type.value in TERMINAL]
        return done[0] if done else None

    run = _wait_for(finished_run, timeout, f"run of event {event_id} did not end", 0.25)
    states = {s.type.value: s.timestamp.timestamp() for s in client.read_flow_run_states(run.id)}
    created = run.created.timestamp()
    pending = states.get("PENDING", created)
    running = states.get("RUNNING", pending)
    return {
        "event_id": event_id,
        "flow_run_id": str(run.id),
        "final_state": run.state.type.value,
        "published": published,
        "created": created,
        "pending": pending,
        "running": running,
        "first_line": first_line,
        "e2e": first_line - published,
        "publish_to_created": created - published,
        "created_to_pending": pending - created,
        "pending_to_running": running - pending,
        "running_to_first_line": first_line - running,
    }


def summary(values: list[float]) -> str:
    """min / median / p90 / max, in seconds."""
    ordered = sorted(values)
    p90 = ordered[min(len(ordered) - 1, math.ceil(0.9 * len(ordered)) - 1)]
    return (
        f"min {ordered[0]:.3f} / median {statistics.median(ordered):.3f} / p90 {p90:.3f} / "
        f"max {ordered[-1]:.3f}"
    )


def run(options: Options) -> Result:
    n = options.n(20, 3)
    window = options.poll_window if options.poll_window is not None else LONG_POLL_SECONDS
    runner = RUNNERS[options.runner]
    result = Result(NAME)
    with bench_home(NAME, options) as home, Stack(home) as stack:
        fed = BenchFederation(stack, home, pool_type=runner.pool_type).start()
        listener = fed.start_listener(extra=runner.listener_args)
        runner.start(stack, RunnerContext(pool=POOL, env=fed.child_env()))
        markers = home / "markers"
        markers.mkdir()
        samples: list[dict[str, Any]] = []
        warmup: dict[str, Any] | None = None
        with fed.prefect_client() as client:
            for index in range(n + 1):
                time.sleep(random.uniform(0, window))  # a random point of the long poll
                sample = one_event(fed, client, markers, timeout=120)
                if index == 0:
                    warmup = sample
                else:
                    samples.append(sample)
        retired: list[dict[str, Any]] = []
        if runner.name == "fork":  # the first run after an idle spell: its child forked then
            listener.stop()
            # the stopped listener's last long poll goes on at the queue until its 20 s are up:
            # a message published before then can go to it, and waits out its visibility timeout
            time.sleep(LONG_POLL_SECONDS + 2)
            listener = fed.start_listener(
                "listener-spare-idle", extra=runner.listener_args, env={SPARE_IDLE_ENV: "2"}
            )
            leader = listener.pid
            with fed.prefect_client() as client:
                one_event(fed, client, markers, timeout=120)  # warm-up, not counted
                for _ in range(options.n(6, 2)):
                    _wait_for(lambda: len(group_members(leader)) == 2, 60, "spare not retired")
                    time.sleep(random.uniform(0, 2))
                    retired.append(one_event(fed, client, markers, timeout=120))
        result.raw = {
            "runner": runner.name,
            "runner_description": runner.description,
            "publish_window_s": window,
            "stack_timings_s": fed.timings,
            "warmup": warmup,
            "samples": samples,
            "samples_spare_retired": retired,
        }
    e2e = [s["e2e"] for s in samples]
    mean_e2e = statistics.fmean(e2e)
    result.figures.append(
        Figure(
            "publish -> flow's first line",
            "s",
            e2e,
            (Target("median", "<=", 0.20), Target("max", "<=", 0.5)),
            f"runner: {runner.description}; {summary(e2e)}",
        )
    )
    for key, label, where in STEPS:
        values = [s[key] for s in samples]
        share = statistics.fmean(values) / mean_e2e * 100
        targets = (Target("median", "<=", 0.15),) if key == "publish_to_created" else ()
        note = f"{share:.0f}% ({where}); {summary(values)}"
        result.figures.append(Figure(f"  {label}", "s", values, targets, note))
    if retired:
        values = [s["e2e"] for s in retired]
        result.figures.append(
            Figure(
                "publish -> flow's first line, the spare retired (idle)",
                "s",
                values,
                (),
                f"{SPARE_IDLE_ENV}=2: no child forked ahead when the event came; "
                f"{summary(values)}; PENDING -> RUNNING "
                + summary([s["pending_to_running"] for s in retired]),
            )
        )
    failed = [s for s in samples + retired if s["final_state"] != "COMPLETED"]
    if failed:
        result.notes.append(f"{len(failed)} run(s) did not complete: {failed[0]['final_state']}")
    result.notes.append(
        f"e2e: published at a random point of a {window:.0f}s window; "
        "one warm-up event not counted; shares are of the mean e2e "
        f"({mean_e2e:.2f}s); stack: Prefect server up in "
        f"{fed.timings['prefect_server_start_s']:.1f}s"
    )
    return result


def peers(document: dict[str, Any]) -> list[Peer]:
    rows = [
        Peer(p["peer"], "s", p.get("median"), p.get("max"), p.get("n"))
        for p in document.get("e2e_latency_s", [])
    ]
    rows += [
        Peer(p["what"], "s", p.get("median"), p.get("max"), p.get("n"))
        for p in document.get("prefect_native_s", [])
        if "import prefect" not in p["what"]
    ]
    return rows
