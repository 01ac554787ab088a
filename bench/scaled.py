"""scaled: runs created per second on the scaled profile (docs/scaling.md), with 1 vs 2 API
processes and 1 vs 2 listeners.

Each configuration gets a fresh topology (`prefect_federation.local.scaled.ScaledPrefect`: API
processes with `--no-services`, one services process, a fresh PostgreSQL database, a Redis
database of its own). N events (default 300) are published into the downstream queue first; then
the listeners start, listener i on API process i mod k, as competing consumers of the one queue,
and the bench counts the runs tagged `federation` until there are N. The rate is (N - 1) / (last
run's `created` - first run's `created`), as in `throughput`; afterwards runs == events (none
lost, none duplicated).
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from prefect_federation.labels import EVENT_ID_TAG, tag_value
from prefect_federation.local import ManagedProcess, Stack
from prefect_federation.local.scaled import BackingUnavailable, ScaledPrefect

from .common import (
    DOWNSTREAM,
    NAME_PREFIX,
    NO_RUNNER_ENV,
    BenchFederation,
    Figure,
    Options,
    Peer,
    Result,
    Target,
    all_runs,
    bench_home,
    federation_filter,
)

NAME = "scaled"
CONFIGURATIONS = ((1, 1), (1, 2), (2, 2))  # (API processes, listeners)
STALL_SECONDS = 60.0


class ScaledBenchFederation(BenchFederation):
    """The bench's two domains on the scaled topology with `api_processes` API processes."""

    def __init__(self, stack: Stack, home: Any, api_processes: int, options: Options) -> None:
        super().__init__(stack, home)
        self.scaled = ScaledPrefect(
            self.local, api_processes=api_processes, postgres=options.postgres
        )

    def start(self) -> ScaledBenchFederation:
        self.aws_url = self.local.start_aws()
        started = time.monotonic()
        urls = self.scaled.start()
        self.timings["topology_s"] = time.monotonic() - started
        self.api_url = urls[0]
        self.server = self.scaled.processes[0]
        self.provision()
        self.deploy()
        return self

    def start_listener_on(self, index: int) -> ManagedProcess:
        env = self.local.domain_env(
            self.scaled.api_for(index),
            self.declarations,
            name_prefix=NAME_PREFIX,
            prefect_home=self.home / "client",
            extra=NO_RUNNER_ENV,
        )
        return self.local.start_listener(
            DOWNSTREAM, env, name=f"listener-{index + 1}", cwd=self.home, wait=False
        )


def one_configuration(options: Options, apis: int, listeners: int, n: int) -> dict[str, Any]:
    label = f"{apis}api-{listeners}listeners"
    with bench_home(f"{NAME}-{label}", options) as home, Stack(home) as stack:
        fed = ScaledBenchFederation(stack, home, apis, options)
        try:
            fed.start()
            with ThreadPoolExecutor(max_workers=8) as pool:
                list(pool.map(lambda i: fed.publish({"marker": f"scaled-{i}"}), range(n)))
            deadline = time.monotonic() + 60
            while fed.depth(fed.queue_url)[0] < n:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"the queue holds {fed.depth(fed.queue_url)} of {n}")
                time.sleep(0.2)
            with fed.prefect_client() as client:
                started = time.time()
                processes = [fed.start_listener_on(i) for i in range(listeners)]
                count, last_change = 0, time.monotonic()
                while count < n and time.monotonic() - last_change < STALL_SECONDS:
                    now = client.count_flow_runs(flow_run_filter=federation_filter())
                    if now != count:
                        count, last_change = now, time.monotonic()
                    for process in processes:
                        if not process.alive():
                            raise RuntimeError(f"{process.name} exited:\n{process.tail()}")
                    time.sleep(0.5)
                done = time.time()
                time.sleep(2)  # a late duplicate shows up in the final count
                for process in processes:
                    process.stop()
                runs = all_runs(client)
        finally:
            fed.local.stop()  # the processes, then the database and the Redis database
    created = sorted(r.created.timestamp() for r in runs)
    events = {e for r in runs if (e := tag_value(r.tags, EVENT_ID_TAG)) is not None}
    span = created[-1] - created[0] if len(created) > 1 else 0.0
    return {
        "api_processes": apis,
        "listeners": listeners,
        "events": n,
        "runs": len(runs),
        "lost": n - len(events),
        "duplicated": len(runs) - len(events),
        "rate": (len(created) - 1) / span if span > 0 else 0.0,
        "wall_s": done - started,
        "first_run_after_s": created[0] - started if created else None,
        "timings_s": fed.timings | fed.scaled.timings,
    }


def run(options: Options) -> Result:
    n = options.n(300, 30)
    result = Result(NAME)
    measured: list[dict[str, Any]] = []
    for apis, listeners in CONFIGURATIONS:
        try:
            measured.append(one_configuration(options, apis, listeners, n))
        except BackingUnavailable as exc:
            result.notes.append(f"{apis} API / {listeners} listeners skipped: {exc}")
    result.raw = {"configurations": measured}
    for m in measured:
        result.figures.append(
            Figure(
                f"runs created/s, scaled: {m['api_processes']} API, {m['listeners']} listener(s)",
                "/s",
                [m["rate"]],
                (),
                f"wall {m['wall_s']:.1f}s incl. listener start-up "
                f"{m['first_run_after_s'] or 0:.1f}s; "
                f"lost {m['lost']}, dup {m['duplicated']}",
                n=m["events"],
            )
        )
    by = {(m["api_processes"], m["listeners"]): m["rate"] for m in measured}
    if (1, 1) in by and (2, 2) in by and by[(1, 1)] > 0:
        result.figures.append(
            Figure(
                "  2 API + 2 listeners / 1 API + 1 listener",
                "x",
                [by[(2, 2)] / by[(1, 1)]],
                (Target("median", ">=", 1.0),),
                "more than one API process's worth",
            )
        )
    return result


def peers(document: dict[str, Any]) -> list[Peer]:
    return []
