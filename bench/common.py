"""What the benchmarks share: options, figures and targets, the peers' figures, machine facts,
results files, /proc readers, and `BenchFederation` (the bench's two domains, provisioned and
deployed on a `prefect_federation.local.LocalFederation`: moto server + a Prefect server, every
process in a `Stack`).

The bench's domains: `bench-up` publishes `bench-up.ping`; `bench-down` subscribes to it and runs
`first-line/bench-down` (bench/flows/first_line.py) with `marker` taken from the event's data.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import platform
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from prefect_federation.labels import FEDERATION_TAG, domain_tag, event_id_tag
from prefect_federation.local import LocalFederation, ManagedProcess, Stack
from prefect_federation.local.reaper import group_members
from prefect_federation.queue_admin import SqsQueueAdmin

ROOT = Path(__file__).resolve().parents[1]
PEERS_PATH = Path(__file__).resolve().parents[2] / "shared" / "peers.json"
RESULTS_DIR = Path(__file__).resolve().parent / "results"

UPSTREAM = "bench-up"
DOWNSTREAM = "bench-down"
EVENT_TYPE = f"{UPSTREAM}.ping"
FLOW_NAME = "first-line"
DEPLOYMENT = f"{FLOW_NAME}/{DOWNSTREAM}"
ENTRYPOINT = "bench/flows/first_line.py:first_line"
POOL = DOWNSTREAM
NAME_PREFIX = "bench-"
NO_RUNNER_ENV = {"PREFECT_FEDERATION_LISTENER_BACKPRESSURE": "false"}
"""For the rate benchmarks: nothing runs their runs (they measure creation), so backpressure,
on by default, would hold the backlog once `max_waiting` runs wait (the pool has no worker)."""

DEFAULT_POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:5432"

DECLARATIONS: dict[str, dict[str, Any]] = {
    UPSTREAM: {
        "domain": UPSTREAM,
        "description": "The bench's producer: publishes pings.",
        "publishes": [{"type": EVENT_TYPE}],
    },
    DOWNSTREAM: {
        "domain": DOWNSTREAM,
        "description": "The bench's consumer: one run of first-line per ping.",
        "subscribes": [
            {
                "event": EVENT_TYPE,
                "deployment": DEPLOYMENT,
                "parameters": {"marker": "{{ event.data.marker }}"},
            }
        ],
    },
}


class Unavailable(Exception):
    """Something a benchmark needs is not there (e.g. PostgreSQL); the benchmark notes and skips."""


# -- options, figures, results --------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    quick: bool = False
    events: int | None = None
    runner: str = "process"
    postgres: str = DEFAULT_POSTGRES
    keep: bool = False
    results_dir: Path = RESULTS_DIR
    poll_window: float | None = None  # e2e: seconds over which a publish is randomised

    def n(self, full: int, quick: int) -> int:
        """`--events` if given, else the quick or the full size."""
        if self.events is not None:
            return self.events
        return quick if self.quick else full


Stat = Literal["median", "max", "mean", "total"]


def stat_of(samples: Sequence[float], stat: Stat) -> float:
    if stat == "median":
        return float(statistics.median(samples))
    if stat == "max":
        return float(max(samples))
    if stat == "total":
        return float(sum(samples))
    return float(statistics.fmean(samples))


@dataclass(frozen=True)
class Target:
    stat: Stat
    op: Literal["<=", "<", ">=", "=="]
    value: float

    def value_of(self, samples: Sequence[float]) -> float:
        return stat_of(samples, self.stat)

    def met(self, samples: Sequence[float]) -> bool:
        value = self.value_of(samples)
        return {
            "<=": value <= self.value,
            "<": value < self.value,
            ">=": value >= self.value,
            "==": value == self.value,
        }[self.op]

    def __str__(self) -> str:
        return f"{self.stat} {self.op} {self.value:g}"


@dataclass
class Figure:
    """One measured quantity: its samples, unit, targets and a short note."""

    metric: str
    unit: str
    samples: list[float]
    targets: tuple[Target, ...] = ()
    note: str = ""
    n: int | None = None  # how many events a single figure summarises (default: len(samples))

    @property
    def count(self) -> int:
        return self.n if self.n is not None else len(self.samples)

    @property
    def median(self) -> float | None:
        return stat_of(self.samples, "median") if self.samples else None

    @property
    def maximum(self) -> float | None:
        return max(self.samples) if len(self.samples) > 1 else None

    def met(self) -> bool | None:
        if not self.targets or not self.samples:
            return None
        return all(t.met(self.samples) for t in self.targets)

    def as_json(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "unit": self.unit,
            "n": self.count,
            "median": self.median,
            "max": self.maximum,
            "mean": stat_of(self.samples, "mean") if self.samples else None,
            "min": min(self.samples) if self.samples else None,
            "targets": [str(t) for t in self.targets],
            "met": self.met(),
            "note": self.note,
            "samples": self.samples,
        }


@dataclass(frozen=True)
class Peer:
    """A peer's figure from peers.json, shown beside ours."""

    what: str
    unit: str
    median: float | None
    maximum: float | None = None
    n: int | None = None


@dataclass
class Result:
    name: str
    figures: list[Figure] = field(default_factory=list)
    peers: list[Peer] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None
    error: str | None = None
    seconds: float = 0.0


def load_peers() -> dict[str, Any] | None:
    try:
        return dict(json.loads(PEERS_PATH.read_text()))
    except (OSError, ValueError):
        return None


def timestamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")


def write_result(result: Result, options: Options) -> Path:
    """bench/results/<name>-<timestamp>.json: the figures with every raw sample."""
    options.results_dir.mkdir(parents=True, exist_ok=True)
    path = options.results_dir / f"{result.name}-{timestamp()}.json"
    document = {
        "benchmark": result.name,
        "written": datetime.now(UTC).isoformat(),
        "seconds": round(result.seconds, 1),
        "options": {k: str(v) for k, v in asdict(options).items()},
        "machine": machine(),
        "versions": versions(),
        "figures": [f.as_json() for f in result.figures],
        "notes": result.notes,
        "error": result.error,
        "raw": result.raw,
    }
    path.write_text(json.dumps(document, indent=2, default=str))
    result.path = path
    return path


# -- machine and versions -------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    memory_kib = 0
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_kib = int(line.split()[1])
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "load_average": [round(v, 2) for v in os.getloadavg()],
        "cores": os.cpu_count(),
        "memory_gib": round(memory_kib / 1024 / 1024, 1),
        "cpu": model,
        "kernel": platform.release(),
    }


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {"python": platform.python_version()}
    for package in ("prefect", "moto", "boto3", "prefect-federation"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = "-"
    return found


# -- processes (/proc) ----------------------------------------------------------------------------

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def pss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def cpu_ticks(pid: int) -> int:
    """utime + stime of a process (and of its children it has waited for)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return sum(int(v) for v in fields[11:15])


def groups_pss_mib(processes: Sequence[ManagedProcess]) -> float:
    return sum(pss_kib(p) for m in processes for p in group_members(m.pid)) / 1024


def groups_cpu_seconds(processes: Sequence[ManagedProcess]) -> float:
    return sum(cpu_ticks(p) for m in processes for p in group_members(m.pid)) / CLOCK_TICKS


# -- homes, PostgreSQL ----------------------------------------------------------------------------


@contextlib.contextmanager
def bench_home(name: str, options: Options) -> Iterator[Path]:
    """A temporary directory for one benchmark's processes, logs and data; removed afterwards
    unless `--keep` or the benchmark failed (then its logs are worth reading)."""
    home = Path(tempfile.mkdtemp(prefix=f"prefect-federation-bench-{name}-"))
    try:
        yield home
    except BaseException:
        print(f"  [{name}] logs kept in {home / 'logs'}", file=sys.stderr)
        raise
    if not options.keep:
        shutil.rmtree(home, ignore_errors=True)


def _admin_sql(base_url: str, sql: str) -> None:
    import asyncpg
    from sqlalchemy.engine import make_url

    url = make_url(base_url)

    async def run() -> None:
        connection = await asyncpg.connect(
            host=url.host or "127.0.0.1",
            port=url.port or 5432,
            user=url.username or "postgres",
            password=url.password,
            database=url.database or "postgres",
            timeout=5,
        )
        try:
            await connection.execute(sql)
        finally:
            await connection.close()

    asyncio.run(run())


@contextlib.contextmanager
def postgres_database(base_url: str) -> Iterator[str]:
    """A fresh database `prefect_bench_<random>` for one Prefect server, dropped afterwards."""
    from sqlalchemy.engine import make_url

    name = f"prefect_bench_{secrets.token_hex(4)}"
    admin = make_url(base_url).set(database="postgres").render_as_string(hide_password=False)
    try:
        _admin_sql(admin, f'CREATE DATABASE "{name}"')
    except Exception as exc:
        raise Unavailable(
            f"PostgreSQL at {base_url} unavailable ({type(exc).__name__}: {exc})"
        ) from exc
    try:
        yield make_url(base_url).set(database=name).render_as_string(hide_password=False)
    finally:
        _admin_sql(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# -- the bench's domains on a local federation --------------------------------------------------


def wait_for_log(process: ManagedProcess, text: str, timeout: float) -> None:
    """Until this run of the process logs `text` (an earlier run's lines do not count)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in process.output():
            return
        if not process.alive():
            raise RuntimeError(
                f"{process.name} exited with {process.popen.returncode}:\n{process.tail()}"
            )
        time.sleep(0.1)
    raise TimeoutError(f"{process.name} did not log {text!r} within {timeout:.0f}s")


class BenchFederation:
    """The bench's two domains on a `LocalFederation` (moto server, a Prefect server: SQLite, or
    the database URL given), provisioned and `first-line/bench-down` deployed to a work pool of
    `pool_type`."""

    def __init__(
        self,
        stack: Stack,
        home: Path,
        database_url: str | None = None,
        pool_type: str = "process",
    ) -> None:
        self.local = LocalFederation(home, stack=stack)
        self.stack = stack
        self.home = home
        self.database_url = database_url or f"sqlite+aiosqlite:///{home / 'prefect' / 'prefect.db'}"
        self.pool_type = pool_type
        self.declarations = home / "declarations"
        self.timings = self.local.timings
        self.server: ManagedProcess | None = None
        self.aws_url = ""
        self.api_url = ""
        self.topic_arn = ""
        self.queue_url = ""
        self.dlq_url = ""
        self._sns: Any = None
        self._sqs: Any = None

    @property
    def moto(self) -> ManagedProcess | None:
        return self.local.moto

    # -- start ---------------------------------------------------------------------------------

    def start(self) -> BenchFederation:
        self.aws_url = self.local.start_aws()
        self.api_url = self.local.start_prefect(database_url=self.database_url)
        self.server = self.local.server_processes["main"]
        started = time.monotonic()
        self.provision()
        self.timings["provision_s"] = time.monotonic() - started
        started = time.monotonic()
        self.deploy()
        self.timings["deploy_s"] = time.monotonic() - started
        return self

    def child_env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        """The environment of a domain's processes: this Prefect API, moto, the declarations."""
        return self.local.domain_env(
            self.api_url,
            self.declarations,
            name_prefix=NAME_PREFIX,
            prefect_home=self.home / "client",
            extra=extra,
        )

    @property
    def sns(self) -> Any:
        if self._sns is None:
            self._sns = self.local.aws_client("sns")
        return self._sns

    @property
    def sqs(self) -> Any:
        if self._sqs is None:
            self._sqs = self.local.aws_client("sqs")
        return self._sqs

    def provision(self) -> None:
        from prefect_federation.settings import FederationSettings

        self.local.write_declarations(self.declarations, DECLARATIONS)
        settings = FederationSettings(declarations=self.declarations, name_prefix=NAME_PREFIX)
        report = self.local.provision(settings)
        self.topic_arn = report.resources[UPSTREAM].topic_arn or ""
        self.queue_url = report.resources[DOWNSTREAM].queue_url or ""
        self.dlq_url = report.resources[DOWNSTREAM].dlq_url or ""

    def deploy(self) -> None:
        """The work pool, and `first-line/bench-down` from this checkout (`flow.from_source`)."""
        from prefect import flow
        from prefect.client.orchestration import SyncPrefectClient
        from prefect.client.schemas.actions import WorkPoolCreate
        from prefect.exceptions import ObjectAlreadyExists
        from prefect.settings import PREFECT_API_URL, temporary_settings

        with SyncPrefectClient(self.api_url) as client, contextlib.suppress(ObjectAlreadyExists):
            client.create_work_pool(WorkPoolCreate(name=POOL, type=self.pool_type))
        self.stack.logs.mkdir(parents=True, exist_ok=True)
        with (
            temporary_settings({PREFECT_API_URL: self.api_url}),
            (self.stack.logs / "deploy.log").open("a") as log,
            contextlib.redirect_stdout(log),
        ):
            flow.from_source(source=str(ROOT), entrypoint=ENTRYPOINT).deploy(  # type: ignore[attr-defined]
                name=DOWNSTREAM,
                work_pool_name=POOL,
                tags=[domain_tag(DOWNSTREAM)],
                print_next_steps=False,
                ignore_warnings=True,
            )

    # -- processes -----------------------------------------------------------------------------

    def start_listener(
        self,
        name: str = "listener",
        wait: bool = True,
        extra: tuple[str, ...] = (),
        env: dict[str, str] | None = None,
    ) -> ManagedProcess:
        return self.local.start_listener(
            DOWNSTREAM, self.child_env(env), name=name, args=extra, cwd=self.home, wait=wait
        )

    # -- events and queues ---------------------------------------------------------------------

    def envelope(self, data: dict[str, Any]) -> Any:
        from prefect_federation.events import EventEnvelope

        return EventEnvelope(type=EVENT_TYPE, source=UPSTREAM, data=data)

    def publish(self, data: dict[str, Any]) -> tuple[str, float]:
        """Publish one ping through SNS; returns its event id and the time just before."""
        from prefect_federation.publisher import SnsPublisher

        publisher = SnsPublisher(self.sns, self.topic_arn)
        envelope = self.envelope(data)
        started = time.time()
        publisher.publish(envelope)
        return str(envelope.id), started

    def depth(self, queue_url: str) -> tuple[int, int]:
        """(visible, in flight) messages of a queue."""
        counts = SqsQueueAdmin(self.sqs).counts(queue_url)
        return counts.visible, counts.in_flight

    def prefect_client(self) -> Any:
        from prefect.client.orchestration import SyncPrefectClient

        return SyncPrefectClient(self.api_url)


def federation_filter() -> Any:
    """Flow runs the listener created (tag `federation`)."""
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterTags

    return FlowRunFilter(tags=FlowRunFilterTags(all_=[FEDERATION_TAG]))


def all_runs(client: Any) -> list[Any]:
    """Every run of the bench's federation on the server (paged)."""
    from prefect.client.schemas.sorting import FlowRunSort

    runs: list[Any] = []
    while True:
        page = client.read_flow_runs(
            flow_run_filter=federation_filter(),
            sort=FlowRunSort.ID_DESC,
            limit=200,
            offset=len(runs),
        )
        runs += page
        if len(page) < 200:
            return runs


def event_filter(event_id: str) -> Any:
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterTags

    return FlowRunFilter(tags=FlowRunFilterTags(all_=[event_id_tag(event_id)]))
