"""Chaos for the reliability tests (tests/integration/test_reliability.py) and the soak
(bench/soak.py): the same scenarios at two sizes.

Each scenario provisions its own two domains on the given AWS endpoint (its own name prefix),
registers its own two deployments on the given Prefect server, runs real listener processes
(`prefect-federation listen`), does something unkind to them (SIGKILL, a Prefect server stopped,
the AWS endpoint cut off), and then counts the flow runs by event and deployment: a `Tally`.

The domains: `chaos-up` publishes `chaos-up.tick` (data `{"n": <int>, "sampled": n % 10 == 0}`);
`chaos-down` subscribes to it twice: every tick runs `chaos-all/<tag>`, and every tenth also runs
`chaos-sampled/<tag>` (a data filter). So one event must become exactly one or two runs.

Every process goes into the caller's `Stack` (stopped on exit, even on failure); every port is
free when taken. Nothing here imports the rest of `bench`.
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import secrets
import signal
import socket
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID

import yaml

from prefect_federation.events import EventEnvelope
from prefect_federation.labels import EVENT_ID_TAG, tag_value
from prefect_federation.local import ManagedProcess, Stack, free_port, quiet_env

__all__ = [
    "EVENT_TYPE",
    "ChaosDomains",
    "PrefectServer",
    "Tally",
    "TcpProxy",
    "aws_outage_scenario",
    "crash_scenario",
    "prefect_outage_scenario",
    "scale_out_scenario",
    "setup_domains",
]

UPSTREAM = "chaos-up"
DOWNSTREAM = "chaos-down"
EVENT_TYPE = f"{UPSTREAM}.tick"
ALL_FLOW = "chaos-all"
SAMPLED_FLOW = "chaos-sampled"
POOL = "chaos"
REGION = "us-east-1"

BACKOFF_LINE = "Prefect API unavailable"
RECEIVE_FAILED_LINE = "receive failed"
RUN_LINE = re.compile(r"message \S+ -> run ")

Log = Callable[[str], None]


def tick(n: int, sampled: bool) -> None:
    """The signature both chaos deployments' parameter schemas are made from."""


def _quiet(_: str) -> None:
    return None


# -- AWS and Prefect plumbing -----------------------------------------------------------------


def aws_clients(endpoint: str) -> tuple[Any, Any]:
    """(sns, sqs) boto3 clients on `endpoint` (moto: any credentials do)."""
    import boto3
    from botocore.config import Config

    config = Config(retries={"mode": "standard", "max_attempts": 4}, connect_timeout=5)
    common: dict[str, Any] = {
        "region_name": REGION,
        "endpoint_url": endpoint,
        "aws_access_key_id": "testing",
        "aws_secret_access_key": "testing",
        "config": config,
    }
    return boto3.client("sns", **common), boto3.client("sqs", **common)


@contextlib.contextmanager
def prefect_client(api_url: str) -> Iterator[Any]:
    """A sync Prefect client on `api_url` (whatever PREFECT_API_URL says)."""
    from prefect.client.orchestration import SyncPrefectClient

    with SyncPrefectClient(api_url) as client:
        yield client


def ensure_deployments(api_url: str, names: list[str]) -> dict[str, UUID]:
    """Register `flow/deployment` names (work pool `chaos`, no worker); name -> deployment id."""
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectAlreadyExists
    from prefect.utilities.callables import parameter_schema

    schema = parameter_schema(tick).model_dump_for_openapi()
    ids: dict[str, UUID] = {}
    with prefect_client(api_url) as client:
        with contextlib.suppress(ObjectAlreadyExists):
            client.create_work_pool(WorkPoolCreate(name=POOL, type="process"))
        for name in names:
            flow_name, deployment_name = name.split("/")
            flow_id = client.create_flow_from_name(flow_name)
            ids[name] = client.create_deployment(
                flow_id=flow_id,
                name=deployment_name,
                work_pool_name=POOL,
                parameter_openapi_schema=schema,
                enforce_parameter_schema=True,
                entrypoint="flows/none.py:none",
            )
    return ids


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.5) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


# -- the domains of one scenario ----------------------------------------------------------------


@dataclass
class Tally:
    """What became of a scenario's events: runs per (event, deployment), queues, timings."""

    scenario: str
    events: int
    published: int  # deliveries published, duplicates included
    expected_runs: int
    runs: int
    lost: int  # (event, deployment) pairs that should have a run and have none
    duplicates: int  # runs beyond the first of a pair
    unexpected: int  # runs of pairs that should have none (e.g. an unsampled tick in chaos-sampled)
    queue: tuple[int, int]  # (visible, in flight) at the end
    dlq: tuple[int, int]
    seconds: float
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def exact(self) -> bool:
        """Nothing lost, nothing twice, nothing extra, both queues empty."""
        return (
            self.lost == 0
            and self.duplicates == 0
            and self.unexpected == 0
            and self.runs == self.expected_runs
            and self.queue == (0, 0)
            and self.dlq == (0, 0)
        )

    def line(self) -> str:
        notes = " ".join(f"{k}={v}" for k, v in self.notes.items())
        return (
            f"{self.scenario}: events={self.events} published={self.published} "
            f"expected_runs={self.expected_runs} runs={self.runs} lost={self.lost} "
            f"duplicates={self.duplicates} unexpected={self.unexpected} "
            f"queue={self.queue} dlq={self.dlq} seconds={self.seconds:.1f} {notes}".rstrip()
        )


@dataclass
class ChaosDomains:
    """`chaos-up` -> `chaos-down`, provisioned under one name prefix, deployed on one server."""

    tag: str
    workdir: Path
    aws: str
    api_url: str
    prefix: str
    declarations: Path
    topic_arn: str
    queue_url: str
    dlq_url: str
    deployments: dict[str, UUID]
    sns: Any
    sqs: Any

    @property
    def all_deployment(self) -> str:
        return f"{ALL_FLOW}/{self.tag}"

    @property
    def sampled_deployment(self) -> str:
        return f"{SAMPLED_FLOW}/{self.tag}"

    def publisher(self) -> Any:
        from prefect_federation.publisher import SnsPublisher

        return SnsPublisher(self.sns, self.topic_arn)

    def make_events(self, count: int) -> list[EventEnvelope]:
        return [
            EventEnvelope(
                type=EVENT_TYPE,
                source=UPSTREAM,
                subject=self.tag,
                data={"n": n, "sampled": n % 10 == 0},
            )
            for n in range(count)
        ]

    def expected(self, events: Iterable[EventEnvelope]) -> set[tuple[str, str]]:
        pairs = set()
        for event in events:
            pairs.add((str(event.id), self.all_deployment))
            if event.data["sampled"]:
                pairs.add((str(event.id), self.sampled_deployment))
        return pairs

    def depth(self, queue_url: str | None = None) -> tuple[int, int]:
        """(visible, in flight) messages of the queue (default: the inbox), no long poll."""
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=queue_url or self.queue_url,
            AttributeNames=[
                "ApproximateNumberOfMessages",
                "ApproximateNumberOfMessagesNotVisible",
            ],
        )["Attributes"]
        return (
            int(attributes["ApproximateNumberOfMessages"]),
            int(attributes["ApproximateNumberOfMessagesNotVisible"]),
        )

    def _deployment_filter(self) -> Any:
        from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId

        return DeploymentFilter(id=DeploymentFilterId(any_=list(self.deployments.values())))

    def run_total(self) -> int:
        with prefect_client(self.api_url) as client:
            return int(client.count_flow_runs(deployment_filter=self._deployment_filter()))

    def run_counts(self) -> Counter[tuple[str, str]]:
        """Runs of this scenario's deployments per (event id, deployment)."""
        from prefect.client.schemas.sorting import FlowRunSort

        names = {v: k for k, v in self.deployments.items()}
        counts: Counter[tuple[str, str]] = Counter()
        seen: set[UUID] = set()
        with prefect_client(self.api_url) as client:
            offset = 0
            while True:
                page = client.read_flow_runs(
                    deployment_filter=self._deployment_filter(),
                    sort=FlowRunSort.ID_DESC,
                    limit=200,
                    offset=offset,
                )
                for run in page:
                    if run.id in seen:
                        continue
                    seen.add(run.id)
                    event_id = tag_value(run.tags, EVENT_ID_TAG) or "(no event-id tag)"
                    deployment = names.get(run.deployment_id, str(run.deployment_id))
                    counts[(event_id, deployment)] += 1
                if len(page) < 200:
                    break
                offset += len(page)
        return counts

    def tally(
        self,
        scenario: str,
        events: list[EventEnvelope],
        published: int,
        started: float,
        notes: dict[str, Any] | None = None,
    ) -> Tally:
        expected = self.expected(events)
        counts = self.run_counts()
        return Tally(
            scenario=scenario,
            events=len(events),
            published=published,
            expected_runs=len(expected),
            runs=sum(counts.values()),
            lost=sum(1 for pair in expected if counts[pair] == 0),
            duplicates=sum(c - 1 for pair, c in counts.items() if pair in expected and c > 1),
            unexpected=sum(c for pair, c in counts.items() if pair not in expected),
            queue=self.depth(),
            dlq=self.depth(self.dlq_url),
            seconds=time.monotonic() - started,
            notes=dict(notes or {}),
        )

    def wait_drained(
        self, expected_runs: int, timeout: float, quiet_for: float = 3.0, poll: float = 1.0
    ) -> bool:
        """Wait until the inbox is empty (nothing visible, nothing in flight) for `quiet_for`
        seconds and the runs are counted; give up `quiet_for + 12` seconds after the inbox
        emptied if runs are still missing (they are lost), or at `timeout`."""
        deadline = time.monotonic() + timeout
        empty_since: float | None = None
        while time.monotonic() < deadline:
            if self.depth() == (0, 0):
                empty_since = empty_since or time.monotonic()
                quiet = time.monotonic() - empty_since
                if quiet >= quiet_for and self.run_total() >= expected_runs:
                    return True
                if quiet >= quiet_for + 12:
                    return False
            else:
                empty_since = None
            time.sleep(poll)
        return False

    def listener_env(
        self,
        *,
        aws_endpoint: str | None = None,
        visibility_timeout: int,
        concurrency: int = 2,
        extra: dict[str, str] | None = None,
    ) -> dict[str, str]:
        """The environment of this scenario's `prefect-federation listen` processes.

        `concurrency` (messages of a batch handled at once) is 2, not the default 10: on a
        Prefect server with SQLite, 10 concurrent run creations per listener mostly wait on the
        database lock (~2 runs/s against ~6 runs/s with 1 or 2)."""
        home = self.workdir / "listener-prefect-home"
        home.mkdir(parents=True, exist_ok=True)
        env = quiet_env(
            {
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_DEFAULT_REGION": REGION,
                "AWS_ENDPOINT_URL": aws_endpoint or self.aws,
                "PREFECT_API_URL": self.api_url,
                "PREFECT_HOME": str(home),
                "PREFECT_FEDERATION_NAME_PREFIX": self.prefix,
                "PREFECT_FEDERATION_DECLARATIONS": str(self.declarations),
                "PREFECT_FEDERATION_LISTENER_VISIBILITY_TIMEOUT": str(visibility_timeout),
                "PREFECT_FEDERATION_LISTENER_CONCURRENCY": str(concurrency),
                **(extra or {}),
            }
        )
        for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "PREFECT_PROFILE"):
            env.pop(name, None)
        return env


def declarations_for(tag: str) -> dict[str, dict[str, Any]]:
    parameters = {"n": "{{ event.data.n }}", "sampled": "{{ event.data.sampled }}"}
    return {
        UPSTREAM: {"domain": UPSTREAM, "publishes": [{"type": EVENT_TYPE}]},
        DOWNSTREAM: {
            "domain": DOWNSTREAM,
            "subscribes": [
                {"event": EVENT_TYPE, "deployment": f"{ALL_FLOW}/{tag}", "parameters": parameters},
                {
                    "event": EVENT_TYPE,
                    "filter": {"sampled": True},
                    "deployment": f"{SAMPLED_FLOW}/{tag}",
                    "parameters": parameters,
                },
            ],
        },
    }


def setup_domains(
    workdir: Path,
    aws: str,
    api_url: str,
    scenario: str,
    *,
    visibility_timeout: int,
    max_receive_count: int = 5,
) -> ChaosDomains:
    """Write the declarations, provision topic/queue/DLQ on `aws`, register the deployments."""
    from prefect_federation.declarations import load_federation
    from prefect_federation.provision import provision
    from prefect_federation.settings import FederationSettings

    tag = f"{scenario}-{secrets.token_hex(3)}"
    prefix = f"chaos-{tag}-"
    workdir = workdir / tag
    declarations = workdir / "declarations"
    declarations.mkdir(parents=True, exist_ok=True)
    for domain, declaration in declarations_for(tag).items():
        (declarations / f"{domain}.yaml").write_text(yaml.safe_dump(declaration, sort_keys=False))
    federation = load_federation(declarations)
    sns, sqs = aws_clients(aws)
    settings = FederationSettings(
        name_prefix=prefix,
        visibility_timeout=visibility_timeout,
        max_receive_count=max_receive_count,
        declarations=declarations,
    )
    report = provision(federation, sns, sqs, settings)
    up, down = report.resources[UPSTREAM], report.resources[DOWNSTREAM]
    assert up.topic_arn is not None
    assert down.queue_url is not None
    assert down.dlq_url is not None
    deployments = ensure_deployments(api_url, [f"{ALL_FLOW}/{tag}", f"{SAMPLED_FLOW}/{tag}"])
    return ChaosDomains(
        tag=tag,
        workdir=workdir,
        aws=aws,
        api_url=api_url,
        prefix=prefix,
        declarations=declarations,
        topic_arn=up.topic_arn,
        queue_url=down.queue_url,
        dlq_url=down.dlq_url,
        deployments=deployments,
        sns=sns,
        sqs=sqs,
    )


# -- processes ----------------------------------------------------------------------------------


def start_listener(stack: Stack, name: str, env: dict[str, str]) -> ManagedProcess:
    """`prefect-federation listen --domain chaos-down --wait-time 1` in its own process group."""
    cli = str(Path(sys.executable).with_name("prefect-federation"))
    args = [cli, "listen", "--domain", DOWNSTREAM, "--wait-time", "1"]
    return stack.start(name, args, env, ready_file=True)


def log_text(process: ManagedProcess) -> str:
    """What this process logged (never an earlier run's lines in the same log file)."""
    return process.output()


def wait_listening(process: ManagedProcess, timeout: float = 90) -> None:
    """Until the listener has received from its queue (its ready file); fail with its log if it
    exits or hangs."""
    if not wait_until(lambda: process.ready() or not process.alive(), timeout, 0.1):
        raise TimeoutError(f"{process.name} not polling after {timeout:.0f}s:\n{process.tail()}")
    if not process.alive():
        raise RuntimeError(
            f"{process.name} exited with {process.popen.returncode}:\n{process.tail()}"
        )


def sigkill(process: ManagedProcess) -> None:
    """SIGKILL the listener's whole process group: no handler runs, nothing is cleaned up."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.popen.wait(10)


def stop_gracefully(process: ManagedProcess, grace: float = 20) -> int | None:
    """SIGTERM (what is in flight finishes), then the exit code (None if it had to be killed)."""
    if not process.alive():
        return process.popen.returncode
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        return process.popen.wait(grace)
    except Exception:
        process.stop(0)
        return None


def count_lines(process: ManagedProcess, needle: str | re.Pattern[str]) -> int:
    lines = log_text(process).splitlines()
    if isinstance(needle, str):
        return sum(1 for line in lines if needle in line)
    return sum(1 for line in lines if needle.search(line))


def exit_stats(process: ManagedProcess) -> dict[str, int]:
    """The counters the listener logged when it stopped (`stats: {...}`), {} if it did not."""
    lines = [line for line in log_text(process).splitlines() if "stats: {" in line]
    if not lines:
        return {}
    return {k: int(v) for k, v in re.findall(r"'(\w+)': (\d+)", lines[-1])}


PREFECT_SERVER_ENV = {
    # no UI: the server starts in ~8 s instead of ~19 s
    "PREFECT_UI_ENABLED": "false",
    # No worker runs the chaos deployments, so every run would turn Late after 15 s, and the
    # late-runs service rewriting thousands of them competes for SQLite's one write lock: run
    # creation drops from ~4.7 to ~2.9 runs/s (400 events, two listeners).
    "PREFECT_SERVER_SERVICES_LATE_RUNS_ENABLED": "false",
}


class PrefectServer:
    """A `prefect server start` whose SQLite database (in `home`) survives a stop, restarted on
    the same port."""

    def __init__(
        self,
        stack: Stack,
        home: Path,
        port: int | None = None,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.stack = stack
        self.home = home
        self.extra_env = extra_env or {}
        self.port = port or free_port()
        self.api_url = f"http://127.0.0.1:{self.port}/api"
        self.process: ManagedProcess | None = None
        self.starts = 0

    def start(self, timeout: float = 180) -> str:
        self.starts += 1
        self.home.mkdir(parents=True, exist_ok=True)
        # the port was ours a moment ago; wait for it to be free again (TIME_WAIT is fine)
        wait_until(lambda: _port_free(self.port), 30, 0.2)
        self.process, api = self.stack.start_prefect_server(
            self.home,
            port=self.port,
            name=f"prefect-server-{self.starts}",
            timeout=timeout,
            extra_env={**PREFECT_SERVER_ENV, **self.extra_env},
        )
        assert api == self.api_url
        return api

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
            self.process = None


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


class TcpProxy:
    """A TCP proxy on 127.0.0.1 to `target` (host, port). `close()` cuts every open connection
    and refuses new ones (nothing listens) until `open()` listens on the same port again."""

    def __init__(self, target: tuple[str, int], port: int | None = None) -> None:
        self.target = target
        self.port = port or free_port()
        self._server: socket.socket | None = None
        self._connections: set[socket.socket] = set()
        self._lock = threading.Lock()
        self.accepted = 0

    @classmethod
    def to_url(cls, url: str) -> TcpProxy:
        host, port = url.split("://", 1)[1].rstrip("/").split(":")
        return cls((host, int(port)))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def is_open(self) -> bool:
        return self._server is not None

    def open(self) -> TcpProxy:
        if self._server is not None:
            return self
        server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", self.port))
        server.listen(128)
        server.settimeout(0.2)
        self._server = server
        threading.Thread(target=self._accept, args=(server,), daemon=True, name="proxy").start()
        return self

    def close(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
        with self._lock:
            connections, self._connections = self._connections, set()
        for sock in connections:
            _hard_close(sock)

    def __enter__(self) -> TcpProxy:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _accept(self, server: socket.socket) -> None:
        while self._server is server:
            try:
                client, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                _hard_close(client)
                continue
            client.settimeout(None)
            upstream.settimeout(None)
            with self._lock:
                if self._server is not server:  # closed meanwhile
                    _hard_close(client)
                    _hard_close(upstream)
                    return
                self._connections |= {client, upstream}
                self.accepted += 1
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            with self._lock:
                self._connections.discard(src)
                self._connections.discard(dst)
            _hard_close(src)
            _hard_close(dst)


def _hard_close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()


# -- publishing at a steady pace ----------------------------------------------------------------


class PacedPublisher(threading.Thread):
    """Publishes `events` at `rate` per second in a thread; every `duplicate_every`-th event is
    published twice in a row (SNS's at-least-once delivery, simulated)."""

    def __init__(
        self,
        domains: ChaosDomains,
        events: list[EventEnvelope],
        rate: float,
        duplicate_every: int = 0,
    ) -> None:
        super().__init__(daemon=True, name="paced-publisher")
        self.publisher = domains.publisher()
        self.events = events
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self.duplicate_every = duplicate_every
        self.published = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        start = time.monotonic()
        try:
            for index, event in enumerate(self.events):
                pause = start + index * self.interval - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
                copies = 2 if self.duplicate_every and index % self.duplicate_every == 0 else 1
                for _ in range(copies):
                    self.publisher.publish(event)
                    self.published += 1
        except BaseException as exc:
            self.error = exc

    def finish(self, timeout: float) -> int:
        self.join(timeout)
        if self.is_alive():
            raise TimeoutError(f"publishing did not finish within {timeout:.0f}s")
        if self.error is not None:
            raise RuntimeError(f"publishing failed: {self.error!r}") from self.error
        return self.published


# -- the scenarios ------------------------------------------------------------------------------


def crash_scenario(
    stack: Stack,
    workdir: Path,
    aws: str,
    api_url: str,
    *,
    events: int = 100,
    kills: int = 5,
    rate: float = 4.0,
    visibility_timeout: int = 5,
    max_receive_count: int | None = None,
    concurrency: int = 2,
    seed: int | None = None,
    log: Log = _quiet,
) -> Tally:
    """A listener process SIGKILLed `kills` times at random moments while `events` are published
    at `rate`/s, restarted each time; then every event is counted.

    Every SIGKILL spends one receive of each message in flight, and SQS moves a message to the
    DLQ once it has been received `maxReceiveCount` times, whatever the reason: the queue gets
    `maxReceiveCount` = `kills + 5` (default), so that a message unlucky enough to be in flight
    at every kill is still run. (With the default 5, a listener that crash-loops five times on
    the same batch sends those messages to the DLQ, without a `federation-reason`; `dlq redrive`
    brings them back.)"""
    rng = random.Random(seed)
    domains = setup_domains(
        workdir,
        aws,
        api_url,
        "crash",
        visibility_timeout=visibility_timeout,
        max_receive_count=max_receive_count or kills + 5,
    )
    env = domains.listener_env(visibility_timeout=visibility_timeout, concurrency=concurrency)
    batch = domains.make_events(events)
    started = time.monotonic()
    listener = start_listener(stack, "crash-listener-0", env)
    wait_listening(listener)
    publisher = PacedPublisher(domains, batch, rate)
    publisher.start()
    in_flight_at_kill: list[int] = []
    handled_before_kill: list[int] = []
    # spread the kills over the publishing time; each one a random moment after a restart
    span = max(1.0, events / rate) / kills
    for number in range(1, kills + 1):
        time.sleep(rng.uniform(0.2, max(0.4, span * 0.8)))
        in_flight_at_kill.append(domains.depth()[1])
        handled_before_kill.append(count_lines(listener, RUN_LINE))
        sigkill(listener)
        log(
            f"kill {number}/{kills}: SIGKILL after {handled_before_kill[-1]} run lines, "
            f"{in_flight_at_kill[-1]} message(s) in flight"
        )
        listener = start_listener(stack, f"crash-listener-{number}", env)
        wait_listening(listener)
    published = publisher.finish(timeout=events / rate + 120)
    expected = len(domains.expected(batch))
    drained = domains.wait_drained(expected, timeout=120 + events / 2)
    alive = listener.alive()
    exit_code = stop_gracefully(listener)
    return domains.tally(
        "crash",
        batch,
        published,
        started,
        {
            "kills": kills,
            "max_receive_count": max_receive_count or kills + 5,
            "kills_with_messages_in_flight": sum(1 for n in in_flight_at_kill if n),
            "drained": drained,
            "last_listener_alive": alive,
            "last_listener_exit": exit_code,
        },
    )


def prefect_outage_scenario(
    stack: Stack,
    workdir: Path,
    aws: str,
    server: PrefectServer,
    *,
    events: int = 40,
    rate: float = 2.0,
    outage_after: float = 4.0,
    outage_seconds: float = 20.0,
    visibility_timeout: int = 30,
    max_receive_count: int = 5,
    concurrency: int = 2,
    client_retries: int | None = None,
    log: Log = _quiet,
) -> Tally:
    """The Prefect server is stopped for `outage_seconds` while events flow, then started again
    on the same port with the same database; the listener must wait, not crash, not spin.

    With Prefect's client defaults an outage of up to ~60 s is absorbed inside the client (it
    retries a refused connection 5 times, 2 + 4 + ... + 32 s): the batch in flight waits there,
    kept hidden, and the rest waits in SQS. `client_retries=0` (PREFECT_CLIENT_MAX_RETRIES)
    makes the listener see the outage at once, so its own back-off and health check are what
    is tested."""
    domains = setup_domains(
        workdir,
        aws,
        server.api_url,
        "prefect-outage",
        visibility_timeout=visibility_timeout,
        max_receive_count=max_receive_count,
    )
    env = domains.listener_env(
        visibility_timeout=visibility_timeout,
        concurrency=concurrency,
        extra=None
        if client_retries is None
        else {"PREFECT_CLIENT_MAX_RETRIES": str(client_retries)},
    )
    batch = domains.make_events(events)
    started = time.monotonic()
    listener = start_listener(stack, "prefect-outage-listener", env)
    wait_listening(listener)
    publisher = PacedPublisher(domains, batch, rate)
    publisher.start()
    time.sleep(outage_after)
    runs_before = domains.run_total()
    server.stop()
    down_at = time.monotonic()
    log(f"Prefect server stopped after {runs_before} runs; down for {outage_seconds:.0f}s")
    time.sleep(outage_seconds)
    queued_during_outage = sum(domains.depth())
    backoff_lines_during_outage = count_lines(listener, BACKOFF_LINE)
    server.start()
    down_for = time.monotonic() - down_at
    log(
        f"Prefect server back after {down_for:.0f}s; {queued_during_outage} message(s) waited "
        f"in SQS; {backoff_lines_during_outage} back-off line(s) so far"
    )
    published = publisher.finish(timeout=events / rate + 120)
    expected = len(domains.expected(batch))
    drained = domains.wait_drained(expected, timeout=240)
    alive = listener.alive()
    exit_code = stop_gracefully(listener)
    return domains.tally(
        "prefect-outage",
        batch,
        published,
        started,
        {
            "down_seconds": round(down_for, 1),
            "queued_during_outage": queued_during_outage,
            "backoff_lines": count_lines(listener, BACKOFF_LINE),
            "retry_lines": count_lines(listener, "will be retried"),
            "dead_letter_lines": count_lines(listener, "dead-lettered"),
            "received": exit_stats(listener).get("received"),
            "drained": drained,
            "listener_alive": alive,
            "listener_exit": exit_code,
        },
    )


def aws_outage_scenario(
    stack: Stack,
    workdir: Path,
    aws: str,
    api_url: str,
    *,
    events: int = 40,
    rate: float = 2.0,
    outage_after: float = 4.0,
    outage_seconds: float = 15.0,
    visibility_timeout: int = 30,
    concurrency: int = 2,
    log: Log = _quiet,
) -> Tally:
    """The listener reaches AWS through a TCP proxy that is closed for `outage_seconds` (open
    connections cut, new ones refused) while events are published straight to AWS."""
    domains = setup_domains(
        workdir, aws, api_url, "aws-outage", visibility_timeout=visibility_timeout
    )
    batch = domains.make_events(events)
    started = time.monotonic()
    with TcpProxy.to_url(aws) as proxy:
        env = domains.listener_env(
            aws_endpoint=proxy.url, visibility_timeout=visibility_timeout, concurrency=concurrency
        )
        listener = start_listener(stack, "aws-outage-listener", env)
        wait_listening(listener)
        publisher = PacedPublisher(domains, batch, rate)
        publisher.start()
        time.sleep(outage_after)
        proxy.close()
        log(f"AWS endpoint cut off for {outage_seconds:.0f}s (proxy closed)")
        time.sleep(outage_seconds)
        failures_during_outage = count_lines(listener, RECEIVE_FAILED_LINE)
        proxy.open()
        log(f"AWS endpoint back; {failures_during_outage} 'receive failed' line(s) meanwhile")
        published = publisher.finish(timeout=events / rate + 120)
        expected = len(domains.expected(batch))
        drained = domains.wait_drained(expected, timeout=180)
        alive = listener.alive()
        exit_code = stop_gracefully(listener)
    return domains.tally(
        "aws-outage",
        batch,
        published,
        started,
        {
            "receive_failed_during_outage": failures_during_outage,
            "receive_failed_lines": count_lines(listener, RECEIVE_FAILED_LINE),
            "received": exit_stats(listener).get("received"),
            "drained": drained,
            "listener_alive": alive,
            "listener_exit": exit_code,
        },
    )


def scale_out_scenario(
    stack: Stack,
    workdir: Path,
    aws: str,
    api_url: str,
    *,
    events: int = 200,
    listeners: int = 2,
    duplicate_every: int = 4,
    visibility_timeout: int = 30,
    concurrency: int = 2,
    log: Log = _quiet,
) -> Tally:
    """`listeners` listener processes on one queue; `events` published at once, every
    `duplicate_every`-th twice in a row."""
    domains = setup_domains(
        workdir, aws, api_url, "scale-out", visibility_timeout=visibility_timeout
    )
    env = domains.listener_env(visibility_timeout=visibility_timeout, concurrency=concurrency)
    batch = domains.make_events(events)
    processes = [start_listener(stack, f"scale-out-listener-{i}", env) for i in range(listeners)]
    for process in processes:
        wait_listening(process)
    started = time.monotonic()
    publisher = PacedPublisher(domains, batch, rate=0, duplicate_every=duplicate_every)
    publisher.start()
    published = publisher.finish(timeout=300)
    log(f"published {published} deliveries of {events} events to {listeners} listeners")
    expected = len(domains.expected(batch))
    drained = domains.wait_drained(expected, timeout=120 + events / 2)
    alive = all(p.alive() for p in processes)
    exits = [stop_gracefully(p) for p in processes]
    return domains.tally(
        "scale-out",
        batch,
        published,
        started,
        {
            "listeners": listeners,
            "run_lines_per_listener": [count_lines(p, RUN_LINE) for p in processes],
            "drained": drained,
            "listeners_alive": alive,
            "listener_exits": exits,
        },
    )
