"""`prefect-federation demo`: the worked example, end to end, in one command.

Starts what is not configured (moto server for AWS, a Prefect server on SQLite), registers the
blocks, provisions topics and queues, deploys every domain, starts each domain's worker and
listener, publishes the first event and shows the chain's runs as they happen.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from uuid import UUID

from rich.console import Console
from rich.markup import escape

from prefect_federation.feed import event_feed_url
from prefect_federation.local.federation import LocalFederation
from prefect_federation.local.join_watch import JoinWatcher, watch_joins
from prefect_federation.local.process import quiet_env
from prefect_federation.local.report import (
    DEMO_CHAIN,
    DemoFailed,
    created_line,
    describe_provisioning,
    env_file_text,
    explain_line,
    run_url,
    state_line,
    summary_table,
    ui_of,
    watch_chain,
)
from prefect_federation.local.scaled import ScaledPrefect, scaled_summary
from prefect_federation.local.startup import deploy_from_project, local_credentials, start_up

if TYPE_CHECKING:
    from prefect_federation.local.zygote import Zygote
    from prefect_federation.provision import ProvisionReport

__all__ = ["DEMO_CHAIN", "Demo", "DemoFailed", "describe_provisioning", "run_demo"]

CREDENTIALS_BLOCK = "federation-aws"
FIRST_EVENT = "vendor.file-delivered"
LISTENERS_ENV = "PREFECT_FEDERATION_DEMO_LISTENERS"
"""`fork` (default: every listener forked from one warm parent) or `process`."""
FEDERATED_SERVERS = {
    "upstream": ["vendor", "ingestion", "customer-master"],
    "downstream": ["scoring", "reporting", "notifications"],
}
"""With `--federated`: which domains live on which Prefect server."""


class Demo:
    def __init__(
        self,
        project: Path,
        home: Path,
        console: Console,
        region: str,
        federated: bool = False,
        runner: str = "fork",
    ) -> None:
        self.project = project
        self.home = home
        self.console = console
        self.region = region
        self.federated = federated
        self.runner = runner
        self.federation = LocalFederation(home)
        self.stack = self.federation.stack  # created now: it stops what a crashed run left
        self.servers = self.federation.servers  # server name -> API URL
        self.started = time.monotonic()
        self.timings: dict[str, float] = {}
        self.scaled: ScaledPrefect | None = None  # the scaled profile's topology
        self.zygote: Zygote | None = None  # the listeners' warm parent (`start_zygote`)
        self.embedded: set[str] = set()  # the servers started here, their database in `home`

    def say(self, text: str) -> None:
        elapsed = time.monotonic() - self.started
        self.console.print(f"[dim]{elapsed:6.1f}s[/dim] {text}", highlight=False, soft_wrap=True)

    # -- where each domain lives --------------------------------------------------------------

    def server_of(self, domain: str) -> str:
        """The API URL of the Prefect server a domain lives on."""
        if not self.federated:
            return self.servers["main"]
        for name, domains in FEDERATED_SERVERS.items():
            if domain in domains:
                return self.servers[name]
        raise KeyError(domain)

    def domains_on(self, api_url: str) -> list[str]:
        every = sorted({*DEMO_CHAIN.values(), "vendor"})
        return [d for d in every if self.server_of(d) == api_url]

    ui_of = staticmethod(ui_of)

    @property
    def env_file(self) -> Path:
        return self.home / "env"

    def write_env_file(self) -> Path:
        """`<home>/env`: the demo's environment for commands in another terminal (`explain`,
        `trace`, `status`, `publish`), every server listed; removed when the demo stops."""
        variables = {
            name: value
            for name, value in self.child_env(self.api_url).items()
            if name.startswith(("PREFECT_API_URL", "PREFECT_UI_URL", "PREFECT_FEDERATION_"))
            and name != "PREFECT_FEDERATION_DEMO_DATA"
        }
        variables["PREFECT_FEDERATION_SERVERS"] = ",".join(self.servers.values())
        variables.update({"PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1"})
        self.env_file.write_text(env_file_text(variables, Path(sys.executable).parent))
        self.stack.remove_when_reaped(self.env_file)  # a demo killed with -9 leaves none behind
        return self.env_file

    @property
    def api_url(self) -> str:
        """The server where the chain starts (the vendor's domain lives there)."""
        return self.server_of("vendor")

    # -- infrastructure ---------------------------------------------------------------------

    def start_aws(self) -> dict[str, str]:
        configured = os.environ.get("AWS_ENDPOINT_URL")
        if configured:
            self.say(f"AWS endpoint: configured, {configured}")
            return {"AWS_ENDPOINT_URL": configured}
        if os.environ.get("PREFECT_FEDERATION_AWS_CREDENTIALS_BLOCK"):
            self.say("AWS: the configured AwsCredentials block")
            return {}
        url = self.federation.start_aws()
        self.say(f"AWS endpoint: embedded moto server at {url}")
        return {"AWS_ENDPOINT_URL": url}

    def start_prefect(self) -> None:
        if self.scaled is not None:
            self.say(f"starting Prefect's scaled topology ({scaled_summary(self.scaled)}) ...")
            urls, borrowed = ", ".join(self.scaled.start()), self.scaled.borrowed
            where = f"database {borrowed.database}, Redis database {borrowed.redis_db}"
            self.say(f"Prefect API (main): {urls} ({where})  {escape('[every domain]')}")
            return
        names = list(FEDERATED_SERVERS) if self.federated else ["main"]
        configured = os.environ.get("PREFECT_API_URL")
        for index, name in enumerate(names):
            if configured and index == 0:
                self.federation.start_prefect(name, api_url=configured)
                self.say(f"Prefect API ({name}): configured, {self.servers[name]}")
                continue
            self.say(f"starting a Prefect server ({name}, SQLite) ...")
            self.federation.start_prefect(name)  # in <home>/prefect[-<name>]
            self.embedded.add(name)
            domains = ", ".join(FEDERATED_SERVERS.get(name, ["every domain"]))
            where = escape(f"[{domains}]")  # rich would take `[every domain]` for markup
            self.say(f"Prefect API ({name}): embedded server at {self.servers[name]}  {where}")
        self.timings["infrastructure_ready_s"] = time.monotonic() - self.started

    def start_zygote(self) -> None:
        """The warm parent the listeners are forked from (`local/zygote.py`), unless
        `PREFECT_FEDERATION_DEMO_LISTENERS=process` (each listener an interpreter of its own)."""
        mode = os.environ.get(LISTENERS_ENV, "fork")
        if mode not in ("fork", "process"):
            raise DemoFailed(f"{LISTENERS_ENV} must be `fork` or `process`, not {mode!r}")
        if mode == "fork" and hasattr(os, "fork"):
            self.zygote = self.stack.start_zygote(quiet_env())  # each child: its own env

    def child_env(self, api_url: str, extra: dict[str, str] | None = None) -> dict[str, str]:
        env = quiet_env(
            {
                "PREFECT_API_URL": api_url,
                "PREFECT_UI_URL": self.ui_of(api_url),
                "PREFECT_FEDERATION_DECLARATIONS": str(self.project / "deployments"),
                "PREFECT_FEDERATION_AWS_CREDENTIALS_BLOCK": os.environ.get(
                    "PREFECT_FEDERATION_AWS_CREDENTIALS_BLOCK", CREDENTIALS_BLOCK
                ),
                "PREFECT_FEDERATION_DEMO_DATA": str(self.home / "data"),
                "PREFECT_WORKER_QUERY_SECONDS": os.environ.get("PREFECT_WORKER_QUERY_SECONDS", "2"),
                "PREFECT_WORKER_PREFETCH_SECONDS": "0",
                "PREFECT_LOGGING_LEVEL": "INFO",
            }
        )
        env.pop("AWS_ENDPOINT_URL", None)  # the credentials block carries the endpoint
        env.update(extra or {})
        return env

    def save_credentials(self, aws_env: dict[str, str]) -> Any:
        """Save the AwsCredentials block on the current server; returns it, loaded."""
        from prefect_aws import AwsCredentials

        credentials = local_credentials(aws_env)
        if credentials is not None and "AWS_ENDPOINT_URL" in aws_env:
            credentials.save(CREDENTIALS_BLOCK, overwrite=True)
        name = os.environ.get("PREFECT_FEDERATION_AWS_CREDENTIALS_BLOCK", CREDENTIALS_BLOCK)
        return AwsCredentials.load(name)

    def provision(self, aws_env: dict[str, str], report: ProvisionReport | None = None) -> None:
        """AWS resources once (unless `report`: done already); blocks (credentials, topics,
        queues) and work pools on each domain's server."""
        from prefect.client.orchestration import SyncPrefectClient
        from prefect.settings import PREFECT_API_URL, temporary_settings

        from prefect_federation.aws import aws_client
        from prefect_federation.blocks import SnsTopic, SqsQueue
        from prefect_federation.declarations import load_federation
        from prefect_federation.provision import provision, save_blocks
        from prefect_federation.settings import FederationSettings
        from prefect_federation.work_pools import ensure_work_pools

        settings = FederationSettings(declarations=self.project / "deployments")
        federation = load_federation(settings.declarations)
        for api_url in self.servers.values():
            with temporary_settings({PREFECT_API_URL: api_url}):
                SnsTopic.register_type_and_schema()
                SqsQueue.register_type_and_schema()
                credentials = self.save_credentials(aws_env)
                if report is None:
                    report = provision(
                        federation,
                        aws_client(credentials, "sns"),
                        aws_client(credentials, "sqs"),
                        settings,
                        s3=aws_client(credentials, "s3"),
                        dynamodb=aws_client(credentials, "dynamodb"),
                    )
                    self.say(describe_provisioning(report))
                save_blocks(report, credentials, self.domains_on(api_url))
            with SyncPrefectClient(api_url) as client:
                ensure_work_pools(client, [federation.domain(d) for d in self.domains_on(api_url)])
        self.say(
            f"saved blocks: AwsCredentials {CREDENTIALS_BLOCK!r}, and an SnsTopic/SqsQueue and a "
            f"work pool per domain on {'its own server' if self.federated else 'the server'}"
        )

    def deploy(self, on_deployed: Callable[[str], None] | None = None) -> None:
        """`prefect deploy --name '*/<domain>' ...` (its own code, in this process) of each
        server's domains there, each domain to its own work pool (created by `provision`), one
        domain at a time: `on_deployed(domain)` once a domain's deployments exist. On one of
        the demo's own servers, nothing is deployed again that has not changed since the last
        run in this home (`local/deployed.py`)."""
        from prefect_federation.local.deployed import fingerprint

        expected = fingerprint(self.project)
        done = on_deployed or (lambda _domain: None)
        deployed = [self._deploy_on(server, expected, done) for server in self.servers]
        if any(deployed):
            self.say(f"deployed {len(DEMO_CHAIN)} domains, one work pool each")

    def _deploy_on(self, server: str, expected: str, done: Callable[[str], None]) -> bool:
        """Deploy `server`'s domains unless they are deployed already; True if it deployed."""
        from prefect.client.orchestration import SyncPrefectClient

        from prefect_federation.local.deployed import DeployRecord, deployment_ids, still_deployed

        api_url = self.servers[server]
        domains = [d for d in self.domains_on(api_url) if d in DEMO_CHAIN.values()]
        record_path = self.home / "deployed" / f"{server}.json"
        with SyncPrefectClient(api_url) as client:
            record = DeployRecord.read(record_path) if server in self.embedded else None
            if still_deployed(record, expected, domains, client):
                self.say(
                    f"deployments on {server} unchanged since the last run here (prefect.yaml, "
                    "flows/, deployments/): not deployed again"
                )
                for domain in domains:
                    done(domain)
                return False
            record_path.unlink(missing_ok=True)  # a deploy that fails part-way records none
            shown = " ".join(f"--name */{domain}" for domain in domains)
            self.say(f"deploying on {server}: prefect deploy {shown}".rstrip())
            made: dict[str, list[Any]] = {}
            for domain in domains:
                try:
                    deploy_from_project(
                        self.project, api_url, [f"*/{domain}"], self.stack.logs / "deploy.log"
                    )
                except Exception as exc:
                    raise DemoFailed(
                        f"`prefect deploy --name */{domain}` failed: {exc} (see the deploy log)"
                    ) from None
                if server in self.embedded:  # recorded for the next run in this home only
                    made[domain] = deployment_ids(client, domain)
                done(domain)
        if server in self.embedded:
            DeployRecord(fingerprint=expected, deployments=made).write(record_path)
        return True

    def wait_for_listeners(self, timeout: float = 90) -> None:
        """Wait until every listener started in this run has received from its queue and is
        long-polling: it writes its pid to its ready file then (a log line of an earlier run,
        or a ready file it left, never counts)."""
        listeners = [p for p in self.stack.processes if p.name.startswith("listener-")]
        try:
            self.federation.wait_listening(
                listeners, timeout, check=self.check_processes, with_logs=False
            )
        except TimeoutError as exc:
            raise DemoFailed(f"listeners did not start polling: {exc}") from None

    def watch_joins(self) -> JoinWatcher:
        """Say how each join of the example waits, then starts its run."""
        name = os.environ.get("PREFECT_FEDERATION_AWS_CREDENTIALS_BLOCK", CREDENTIALS_BLOCK)
        return watch_joins(self.project / "deployments", name, self.say)

    # -- the chain --------------------------------------------------------------------------

    def publish_first_event(self) -> UUID:
        from prefect_federation.blocks import SnsTopic
        from prefect_federation.events import EventEnvelope

        envelope = EventEnvelope(
            type=FIRST_EVENT,
            source="vendor",
            data={
                "snapshot_date": datetime.now(UTC).date().isoformat(),
                "region": self.region,
                "rows": 3000,
            },
        )
        topic: Any = SnsTopic.load("vendor")
        topic.publisher().publish(envelope)
        self.timings["published_at_s"] = time.monotonic() - self.started
        self.say(f"published [bold]{envelope.type}[/bold] {envelope.id} (region {self.region})")
        return envelope.id

    def expected(self) -> dict[str, str]:
        """The deployments the first event's chain runs (notifications only for its regions)."""
        if self.region in ("north", "south"):
            return dict(DEMO_CHAIN)
        return {k: v for k, v in DEMO_CHAIN.items() if v != "notifications"}

    def watch(self, correlation_id: UUID, timeout: float) -> list[Any]:
        return watch_chain(
            self.servers,
            correlation_id,
            self.expected(),
            timeout,
            on_created=self.report_created,
            on_state=self.report_state,
            check=self.check_processes,
            logs=self.stack.logs,
        )

    def run_url(self, run: Any) -> str:
        return run_url(run, self.api_url)

    def report_created(self, run: Any, deployment: str) -> None:
        self.timings.setdefault("first_run_created_s", time.monotonic() - self.started)
        self.say(created_line(run, deployment, self.run_url(run)))

    def report_state(self, run: Any, deployment: str, state: str) -> None:
        self.say(state_line(run, deployment, state))

    def check_processes(self) -> None:
        for process in self.stack.processes:
            if not process.name.startswith("deploy") and not process.alive():
                raise DemoFailed(
                    f"{process.name} exited with {process.popen.returncode}:\n{process.tail()}"
                )

    def summary(self, runs: list[Any]) -> None:
        self.console.print(summary_table(runs, self.run_url), soft_wrap=True)


def _output_to_devnull() -> None:
    devnull = os.open(os.devnull, os.O_WRONLY)
    for fd in (1, 2):
        with contextlib.suppress(OSError):
            os.dup2(devnull, fd)
    os.close(devnull)


def run_demo(
    once: bool = False,
    timeout: float = 300,
    home: Path | None = None,
    region: str = "north",
    federated: bool = False,
    runner: str = "fork",
    profile: str = "default",
) -> int:
    """Run the demo; returns the process exit code."""
    console = Console() if sys.stdout.isatty() else Console(width=200)
    project = Path.cwd()
    if not (project / "prefect.yaml").exists() or not (project / "deployments").is_dir():
        console.print(
            "[red]error:[/red] run the demo from the project's root (where prefect.yaml "
            "and deployments/ are)"
        )
        return 2
    demo = Demo(
        project, (home or project / ".federation").resolve(), console, region, federated, runner
    )
    demo.scaled = ScaledPrefect(demo.federation) if profile == "scaled" else None
    stop = threading.Event()

    def _on_signal(signum: int, _frame: Any) -> None:
        if signum == signal.SIGHUP:  # the terminal is gone: drop what would be written to it
            _output_to_devnull()
        if stop.is_set():
            return  # already stopping: the stack stops every process, within its bound
        stop.set()
        raise KeyboardInterrupt

    # Ctrl-C, `kill` and a closed terminal (SIGHUP) all stop every process the demo started; if
    # the demo is killed outright (SIGKILL), the stack's reaper stops them
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _on_signal)
    try:
        start_up(demo)  # servers, AWS, blocks, deployments, listeners: overlapped where it can
        from prefect.settings import PREFECT_API_URL, PREFECT_UI_URL, temporary_settings

        ui_url = demo.ui_of(demo.api_url)
        with temporary_settings({PREFECT_API_URL: demo.api_url, PREFECT_UI_URL: ui_url}):
            joins = demo.watch_joins()
            correlation_id = demo.publish_first_event()
            runs = demo.watch(correlation_id, timeout)
            joins.stop()
            demo.summary(runs)
            demo.say(
                f"[green]the whole chain completed[/green]: {len(runs)} runs in "
                f"{time.monotonic() - demo.started - demo.timings['published_at_s']:.1f}s after "
                "the first event. Prefect UI: "
                + ", ".join(demo.ui_of(url) for url in demo.servers.values())
            )
            demo.say(
                "received events in the event feed (heartbeats left out): "
                + ", ".join(event_feed_url(demo.ui_of(url)) for url in demo.servers.values())
            )
            if not once:
                demo.say(explain_line(correlation_id, demo.write_env_file()))
                demo.say("the stack stays up: browse the UI; Ctrl-C stops everything")
                while not stop.is_set():
                    demo.check_processes()
                    stop.wait(1)
        return 0
    except DemoFailed as exc:
        console.print(f"[red]demo failed:[/red] {exc}", highlight=False)
        return 1
    except KeyboardInterrupt:
        return 0
    except Exception as exc:  # a process that did not start, an API that refused: say which
        console.print(f"[red]demo failed:[/red] {type(exc).__name__}: {exc}", highlight=False)
        return 1
    finally:
        stop.set()  # a signal from here on must not interrupt the stopping
        try:  # after a closed terminal, writing to it fails: stop the processes regardless
            demo.say("stopping every process the demo started ...")
        except OSError:
            pass
        finally:
            demo.env_file.unlink(missing_ok=True)
            demo.federation.stop()
