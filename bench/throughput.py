"""throughput: runs created per second by the listener(s) of one queue, no worker.

N events (default 150 on SQLite, 300 on PostgreSQL) are published through SNS into the downstream
queue first; then the listener(s) start and the bench counts, through the Prefect API, the flow
runs tagged `federation` until there are N. The rate is (N - 1) / (last run's `created` - first
run's `created`): the drain rate once the listeners run; the wall time from starting the listener
processes (their start-up included) is reported beside it. Afterwards: runs == events (none lost,
none duplicated), the queue and the DLQ empty, and what the listeners counted (retried,
dead-lettered).

Beside it, on the same server in the same run: **Prefect alone**, N runs of the same deployment
created with `create_flow_run_from_deployment` from as many threads as the listeners handle
messages at once (`concurrency` x listeners), rated the same way; ours is printed as a ratio to
it. Then once more with those clients retrying a busy database's 503 as the listener's client
does (`api_retries`): Prefect's client sleeps 2 s after each 503, so on SQLite the first baseline
is mostly the client's sleeping, the second the server's capacity. What each listener asked
the Prefect API is counted per endpoint (bench/request_counter: REST calls and emitted events)
and reported per run, with the server's `database is locked` log lines during each phase.

Configurations: the Prefect server on SQLite with one listener, and on PostgreSQL with 1 and 2
listeners on the one queue (a fresh stack and database each, dropped after). `--quick`: SQLite.
"""

from __future__ import annotations

import ast
import contextlib
import json
import os
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from prefect_federation.labels import EVENT_ID_TAG, tag_value
from prefect_federation.local import ManagedProcess, Stack
from prefect_federation.settings import ListenerSettings

from .common import (
    DEPLOYMENT,
    NO_RUNNER_ENV,
    BenchFederation,
    Figure,
    Options,
    Peer,
    Result,
    Target,
    Unavailable,
    all_runs,
    bench_home,
    federation_filter,
    groups_cpu_seconds,
    postgres_database,
)

NAME = "throughput"
FULL = (("sqlite", 1), ("postgres", 1), ("postgres", 2))
QUICK = (("sqlite", 1),)
STALL_SECONDS = 60.0
LISTENER_ENV = "PREFECT_FEDERATION_LISTENER_"
STATS = re.compile(r"stats: (\{.*\})")
COUNTER = Path(__file__).resolve().parent / "request_counter"
LOCKED = "database is locked"


def prefect_alone(
    fed: BenchFederation, n: int, threads: int, quick_503: bool = False
) -> dict[str, Any]:
    """n runs of the bench's deployment, created directly from `threads` threads (a client
    each); the rate as for the listener: (n - 1) / (last created - first created).
    `quick_503`: the clients get the listener's retries of a busy database's 503
    (`api_retries.retry_when_busy`), to tell what is the listener's from what is the client's."""
    from prefect.client.orchestration import SyncPrefectClient

    from prefect_federation.api_retries import retry_when_busy

    with fed.prefect_client() as client:
        deployment_id = client.read_deployment_by_name(DEPLOYMENT).id
    local = threading.local()
    clients: list[Any] = []

    def create(index: int) -> float | None:
        client = getattr(local, "client", None)
        if client is None:
            client = local.client = SyncPrefectClient(fed.api_url)
            client.__enter__()
            if quick_503:
                retry_when_busy(client)
            clients.append(client)
        try:
            run = client.create_flow_run_from_deployment(
                deployment_id, parameters={"marker": f"alone-{index}"}, tags=["prefect-alone"]
            )
        except Exception:  # e.g. a 503 ('database is locked') past the client's own retries
            return None
        return float(run.created.timestamp())

    started = time.time()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        results = list(pool.map(create, range(n)))
    done = time.time()
    created = sorted(r for r in results if r is not None)
    for client in clients:
        client.__exit__(None, None, None)
    span = created[-1] - created[0] if len(created) > 1 else 0.0
    return {
        "events": n,
        "threads": threads,
        "failed": n - len(created),
        "rate": (len(created) - 1) / span if span > 0 else 0.0,
        "wall_s": done - started,
    }


def request_counts(paths: list[Path]) -> dict[str, int]:
    total: dict[str, int] = {}
    for path in paths:
        with contextlib.suppress(OSError, ValueError):
            for key, count in json.loads(path.read_text()).items():
                total[key] = total.get(key, 0) + int(count)
    return total


def preload(fed: BenchFederation, n: int) -> float:
    """Publish n events through SNS; wait until the queue holds them; returns the seconds taken."""
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda i: fed.publish({"marker": f"throughput-{i}"}), range(n)))
    deadline = time.monotonic() + 60
    while fed.depth(fed.queue_url)[0] < n:
        if time.monotonic() > deadline:
            raise TimeoutError(f"the queue holds {fed.depth(fed.queue_url)} of {n} events")
        time.sleep(0.2)
    return time.monotonic() - started


def listener_stats(process: ManagedProcess) -> dict[str, Any]:
    """The counters a listener logs when it stops."""
    found = STATS.findall(process.output())
    return dict(ast.literal_eval(found[-1])) if found else {}


def one_configuration(
    options: Options, database: str, listeners: int, n: int, database_url: str | None
) -> dict[str, Any]:
    label = f"{database}-{listeners}"
    with bench_home(f"{NAME}-{label}", options) as home, Stack(home) as stack:
        fed = BenchFederation(stack, home, database_url=database_url).start()
        preload_s = preload(fed, n)
        with fed.prefect_client() as client:
            assert fed.server is not None
            assert fed.moto is not None
            servers = {"prefect server": [fed.server], "moto server": [fed.moto]}
            cpu_before = {name: groups_cpu_seconds(group) for name, group in servers.items()}
            locked_before = fed.server.output().count(LOCKED)
            counts = [home / f"requests-listener-{i}.json" for i in range(listeners)]
            pythonpath = os.pathsep.join(
                p for p in (str(COUNTER), os.environ.get("PYTHONPATH")) if p
            )
            started = time.time()
            processes = [
                fed.start_listener(
                    f"listener-{i}",
                    wait=False,
                    env={
                        "PYTHONPATH": pythonpath,
                        "BENCH_REQUEST_COUNTS": str(counts[i]),
                        **NO_RUNNER_ENV,
                    },
                )
                for i in range(listeners)
            ]
            progress: list[tuple[float, int]] = []
            last_change = time.monotonic()
            count = 0
            while True:
                now = client.count_flow_runs(flow_run_filter=federation_filter())
                progress.append((round(time.time() - started, 2), now))
                if now != count:
                    count, last_change = now, time.monotonic()
                if count >= n or time.monotonic() - last_change > STALL_SECONDS:
                    break
                for process in processes:
                    if not process.alive():
                        raise RuntimeError(f"{process.name} exited:\n{process.tail()}")
                time.sleep(0.5)
            done = time.time()
            servers["listeners (incl. start-up)"] = processes
            cpu = {
                name: groups_cpu_seconds(group) - cpu_before.get(name, 0.0)
                for name, group in servers.items()
            }
            time.sleep(2)  # anything late (a duplicate) shows up in the final count
            requests = request_counts(counts)
            for process in processes:
                process.stop()
            runs = all_runs(client)
            locked_ours = fed.server.output().count(LOCKED) - locked_before
            concurrency = ListenerSettings().concurrency * listeners
            alone = prefect_alone(fed, n, concurrency)
            alone["database_locked"] = (
                fed.server.output().count(LOCKED) - locked_before - locked_ours
            )
            locked_before = fed.server.output().count(LOCKED)
            alone_quick = prefect_alone(fed, n, concurrency, quick_503=True)
            alone_quick["database_locked"] = fed.server.output().count(LOCKED) - locked_before
        stats = [listener_stats(p) for p in processes]
        queue_left = sum(fed.depth(fed.queue_url))
        dlq = sum(fed.depth(fed.dlq_url))
    created = sorted(r.created.timestamp() for r in runs)
    events = {e for r in runs if (e := tag_value(r.tags, EVENT_ID_TAG)) is not None}
    span = created[-1] - created[0] if len(created) > 1 else 0.0
    return {
        "database": database,
        "listeners": listeners,
        "events": n,
        "preload_s": preload_s,
        "runs": len(runs),
        "distinct_events": len(events),
        "lost": n - len(events),
        "duplicated": len(runs) - len(events),
        "queue_left": queue_left,
        "dlq": dlq,
        "retried": sum(int(s.get("retried", 0)) for s in stats),
        "dead_lettered": sum(int(s.get("dead_lettered", 0)) for s in stats),
        "listener_stats": stats,
        "wall_s": done - started,
        "first_run_after_s": created[0] - started if created else None,
        "drain_span_s": span,
        "rate": (len(created) - 1) / span if span > 0 else 0.0,
        "wall_rate": len(events) / (done - started),
        "progress": progress,
        "created": created,
        "cpu_s_while_draining": cpu,
        "listener_env": {k: v for k, v in os.environ.items() if k.startswith(LISTENER_ENV)},
        "requests": requests,
        "requests_per_run": {k: round(v / max(1, len(runs)), 2) for k, v in requests.items()},
        "database_locked": locked_ours,
        "prefect_alone": alone,
        "prefect_alone_quick_503": alone_quick,
        "stack_timings_s": fed.timings,
    }


def run(options: Options) -> Result:
    result = Result(NAME)
    configs = QUICK if options.quick else FULL
    measured: list[dict[str, Any]] = []
    for database, listeners in configs:
        n = options.n(150 if database == "sqlite" else 300, 20)
        try:
            if database == "sqlite":
                measured.append(one_configuration(options, database, listeners, n, None))
            else:
                with postgres_database(options.postgres) as url:
                    measured.append(one_configuration(options, database, listeners, n, url))
        except Unavailable as exc:
            result.notes.append(f"{database} with {listeners} listener(s) skipped: {exc}")
    result.raw = {"configurations": measured}
    for m in measured:
        where = f"{'SQLite' if m['database'] == 'sqlite' else 'PostgreSQL'}, {m['listeners']} "
        where += "listener" if m["listeners"] == 1 else "listeners"
        alone = m["prefect_alone"]
        result.figures.append(
            Figure(
                f"runs created/s, {where}",
                "/s",
                [m["rate"]],
                (),
                f"wall {m['wall_s']:.1f}s incl. listener start-up "
                f"{m['first_run_after_s'] or 0:.1f}s = {m['wall_rate']:.1f}/s; "
                f"'database is locked' {m['database_locked']}",
                n=m["events"],
            )
        )
        result.figures.append(
            Figure(
                f"  Prefect alone, same server, {alone['threads']} threads",
                "/s",
                [alone["rate"]],
                (),
                f"create_flow_run_from_deployment; 'database is locked' {alone['database_locked']}",
                n=alone["events"],
            )
        )
        ratio = m["rate"] / alone["rate"] if alone["rate"] else 0.0
        result.figures.append(
            Figure(
                "  ratio: ours / Prefect alone",
                "x",
                [ratio],
                (Target("median", ">=", 0.9),),
                f"{m['rate']:.2f} / {alone['rate']:.2f} runs/s",
            )
        )
        quick = m.get("prefect_alone_quick_503")
        if quick:
            result.figures.append(
                Figure(
                    "  Prefect alone, its clients retrying 503s as the listener's do",
                    "/s",
                    [quick["rate"]],
                    (),
                    f"'database is locked' {quick['database_locked']}; ratio ours / this "
                    f"{m['rate'] / quick['rate'] if quick['rate'] else 0:.2f} x",
                    n=quick["events"],
                )
            )
        per_run_requests = ", ".join(
            f"{key} {count}" for key, count in sorted(m["requests_per_run"].items())
        )
        result.notes.append(f"{where}: Prefect API requests per run: {per_run_requests}")
        per_run = ", ".join(
            f"{name} {seconds / max(1, m['runs']) * 1000:.0f}"
            for name, seconds in m["cpu_s_while_draining"].items()
        )
        result.notes.append(f"{where}: CPU ms per run while draining: {per_run}")
        problems = m["lost"] + m["duplicated"] + m["dlq"] + m["queue_left"] + m["retried"]
        result.figures.append(
            Figure(
                f"  lost+duplicated+DLQ+left+retried, {where}",
                "",
                [float(problems)],
                (Target("total", "==", 0),),
                f"runs {m['runs']}/{m['events']}, lost {m['lost']}, dup {m['duplicated']}, "
                f"DLQ {m['dlq']}, left {m['queue_left']}, retried {m['retried']}",
                n=m["events"],
            )
        )
    return result


def peers(document: dict[str, Any]) -> list[Peer]:
    return [
        Peer(p["what"], "/s", p.get("value"), None, None)
        for p in document.get("throughput_runs_per_s", [])
    ]
