"""`LocalFederation`: the one harness that starts a federation on this machine, for the demo, the
bench and the tests.

It starts what is not configured: an AWS endpoint (a moto server, as a process in the stack or as
a thread of this process) and any number of named Prefect servers (SQLite unless a database URL
is given), each on a free port. It provisions declarations there, deploys (`prefect deploy` from a
project, or deployments registered from a function's signature), and starts and stops listeners.
Every process goes into one `Stack`, so everything stops on `stop()` or on leaving the `with`
block, and the stack's reaper stops it if the owner dies first (SIGTERM, SIGKILL).

What differs between the harnesses is a parameter, not a copy: a configured endpoint or API URL
(`aws_endpoint=`, `start_prefect(api_url=)`), moto in a thread for a test session
(`moto="thread"`), a Prefect server restarted on its own port with its own database (a stopped
server keeps its port: `stop_prefect` then `start_prefect`).
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from uuid import UUID

import yaml

from prefect_federation.local.process import ManagedProcess, port_free, quiet_env
from prefect_federation.local.stack import Stack
from prefect_federation.local.template import seed_database

if TYPE_CHECKING:
    from prefect_federation.local.zygote import Zygote
    from prefect_federation.provision import ProvisionReport
    from prefect_federation.settings import FederationSettings

__all__ = ["AWS_REGION", "LocalFederation", "register_deployments"]

AWS_REGION = "us-east-1"
AWS_KEY = "testing"  # moto takes any credentials
MotoMode = Literal["process", "thread"]


def _configured_database(env: Mapping[str, str]) -> bool:
    name = "PREFECT_API_DATABASE_CONNECTION_URL"
    return bool(env.get(name) or os.environ.get(name))


def _bin(name: str) -> str:
    """A console script installed beside this Python (`prefect`, `prefect-federation`)."""
    return str(Path(sys.executable).with_name(name))


def _still_running(processes: Iterable[ManagedProcess]) -> Callable[[], None]:
    def check() -> None:
        for process in processes:
            if not process.alive():
                raise RuntimeError(
                    f"{process.name} exited with {process.popen.returncode}:\n{process.tail()}"
                )

    return check


class LocalFederation:
    """An AWS endpoint, Prefect servers and listeners on this machine, stopped together.

    Args:
        home: where the stack keeps its logs and pid file, and the servers their databases.
        stack: an existing stack to start the processes in (default: one of its own, in `home`).
        aws_endpoint: a configured AWS endpoint; `start_aws()` then starts nothing.
        moto: how `start_aws()` runs moto: a `moto.server` process, or a thread of this process.
    """

    def __init__(
        self,
        home: Path,
        *,
        stack: Stack | None = None,
        grace: float = 10.0,
        aws_endpoint: str | None = None,
        moto: MotoMode = "process",
    ) -> None:
        self.home = home
        self.grace = grace
        self.aws_endpoint = aws_endpoint
        self.moto_mode: MotoMode = moto
        self.moto: ManagedProcess | None = None
        self.servers: dict[str, str] = {}  # server name -> API URL
        self.server_processes: dict[str, ManagedProcess] = {}
        self.timings: dict[str, float] = {}
        self._stack = stack
        self._own_stack = stack is None
        self._threaded_moto: Any = None
        self._server_options: dict[str, dict[str, Any]] = {}
        self._on_stop: list[Callable[[], None]] = []

    @property
    def stack(self) -> Stack:
        if self._stack is None:
            self._stack = Stack(self.home, self.grace)
        return self._stack

    # -- AWS -----------------------------------------------------------------------------------

    def start_aws(self) -> str:
        """The AWS endpoint: the configured one, or a moto server started on a free port."""
        if self.aws_endpoint:
            return self.aws_endpoint
        started = time.monotonic()
        if self.moto_mode == "thread":
            from moto.server import ThreadedMotoServer

            server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
            server.start()
            host, port = server.get_host_and_port()
            self._threaded_moto = server
            self.aws_endpoint = f"http://{host}:{port}"
        else:
            self.moto, self.aws_endpoint = self.stack.start_moto()
        self.timings["moto_start_s"] = time.monotonic() - started
        return self.aws_endpoint

    def aws_env(self, endpoint: str | None = None) -> dict[str, str]:
        """The environment that points boto3 at the endpoint (`endpoint`: e.g. a proxy to it)."""
        return {
            "AWS_ENDPOINT_URL": endpoint or self.start_aws(),
            "AWS_ACCESS_KEY_ID": AWS_KEY,
            "AWS_SECRET_ACCESS_KEY": AWS_KEY,
            "AWS_DEFAULT_REGION": AWS_REGION,
        }

    def aws_client(self, service: str, config: Any = None) -> Any:
        """A boto3 client of `service` on the endpoint (`config`: a botocore `Config`)."""
        import boto3

        return boto3.client(
            service,  # type: ignore[call-overload]
            region_name=AWS_REGION,
            endpoint_url=self.start_aws(),
            aws_access_key_id=AWS_KEY,
            aws_secret_access_key=AWS_KEY,
            config=config,
        )

    # -- Prefect -------------------------------------------------------------------------------

    def start_prefect(
        self,
        name: str = "main",
        *,
        api_url: str | None = None,
        home: Path | None = None,
        port: int | None = None,
        database_url: str | None = None,
        extra_env: Mapping[str, str] | None = None,
        timeout: float = 120,
    ) -> str:
        """The API URL of Prefect server `name`: `api_url` if configured, else a `prefect server
        start` (its home: `home`, default `<home>/prefect[-<name>]`). A server stopped with
        `stop_prefect` starts again on its port, with its database and options."""
        if api_url:
            self.servers[name] = api_url.rstrip("/")
            return self.servers[name]
        options = self._server_options.get(name)
        if options is None:
            env = dict(extra_env or {})
            if database_url:
                env["PREFECT_API_DATABASE_CONNECTION_URL"] = database_url
            default_home = self.home / ("prefect" if name == "main" else f"prefect-{name}")
            options = {"home": home or default_home, "port": port, "env": env}
            self._server_options[name] = options
        else:  # a restart: the port was ours a moment ago; wait until it is free (TIME_WAIT is)
            deadline = time.monotonic() + 30
            while not port_free(options["port"]) and time.monotonic() < deadline:
                time.sleep(0.2)
        options["home"].mkdir(parents=True, exist_ok=True)
        if not _configured_database(options["env"]):  # SQLite in its home: migrated already
            seed_database(options["home"])
        started = time.monotonic()
        process, api = self.stack.start_prefect_server(
            options["home"],
            port=options["port"],
            name=f"prefect-{name}",
            timeout=timeout,
            extra_env=options["env"],
        )
        options["port"] = int(api.rsplit(":", 1)[1].split("/")[0])
        key = "prefect_server_start_s" if name == "main" else f"prefect_server_start_s_{name}"
        self.timings.setdefault(key, time.monotonic() - started)
        self.server_processes[name] = process
        self.servers[name] = api
        return api

    def stop_prefect(self, name: str = "main") -> None:
        """Stop Prefect server `name` (an outage); `start_prefect(name)` brings it back."""
        process = self.server_processes.pop(name, None)
        if process is not None:
            process.stop()

    def api_url(self, name: str = "main") -> str:
        return self.servers[name]

    # -- declarations, provisioning, deployments ---------------------------------------------

    @staticmethod
    def write_declarations(directory: Path, declarations: Mapping[str, Mapping[str, Any]]) -> Path:
        """One `<domain>.yaml` per declaration in `directory`; returns `directory`."""
        directory.mkdir(parents=True, exist_ok=True)
        for domain, declaration in declarations.items():
            text = yaml.safe_dump(dict(declaration), sort_keys=False)
            (directory / f"{domain}.yaml").write_text(text)
        return directory

    def provision(
        self, settings: FederationSettings, *, s3: bool = False, config: Any = None
    ) -> ProvisionReport:
        """Provision `settings.declarations` (topics, queues, DLQs, subscriptions) on the
        endpoint; `s3`: the event archive too."""
        from prefect_federation.declarations import load_federation
        from prefect_federation.provision import provision

        return provision(
            load_federation(settings.declarations),
            self.aws_client("sns", config),
            self.aws_client("sqs", config),
            settings,
            s3=self.aws_client("s3", config) if s3 else None,
            dynamodb=self.aws_client("dynamodb", config),
        )

    def prefect_deploy(
        self, server: str, names: Iterable[str], cwd: Path, env: Mapping[str, str]
    ) -> ManagedProcess:
        """`prefect --no-prompt deploy --name <name> ...` of the project in `cwd`, on `server`;
        raises RuntimeError with the end of its output if it fails."""
        args = [_bin("prefect"), "--no-prompt", "deploy"]
        for name in names:
            args += ["--name", name]
        process = self.stack.start(f"deploy-{server}", args, env, cwd=cwd)
        if process.popen.wait(300) != 0:
            raise RuntimeError(f"`prefect deploy` failed:\n{process.tail()}")
        return process

    # -- listeners -----------------------------------------------------------------------------

    def domain_env(
        self,
        api_url: str,
        declarations: Path,
        *,
        name_prefix: str = "",
        prefect_home: Path | None = None,
        aws_endpoint: str | None = None,
        extra: Mapping[str, str] | None = None,
    ) -> dict[str, str]:
        """The environment of a domain's processes: this Prefect API, the AWS endpoint (or
        `aws_endpoint`) by environment, the declarations and name prefix."""
        env = quiet_env(
            {
                **self.aws_env(aws_endpoint),
                "PREFECT_API_URL": api_url,
                "PREFECT_FEDERATION_DECLARATIONS": str(declarations),
                "PREFECT_FEDERATION_NAME_PREFIX": name_prefix,
                "PREFECT_LOGGING_LEVEL": "INFO",
            }
        )
        if prefect_home is not None:
            prefect_home.mkdir(parents=True, exist_ok=True)
            env["PREFECT_HOME"] = str(prefect_home)
        for name in (
            "PREFECT_FEDERATION_AWS_CREDENTIALS_BLOCK",  # the AWS environment above
            "PREFECT_API_DATABASE_CONNECTION_URL",
            "PREFECT_PROFILE",
            "AWS_PROFILE",
            "AWS_SESSION_TOKEN",
        ):
            env.pop(name, None)
        env.update(extra or {})
        return env

    def start_listener(
        self,
        domain: str,
        env: Mapping[str, str],
        *,
        name: str | None = None,
        args: Iterable[str] = (),
        cwd: Path | None = None,
        term_group: bool = True,
        wait: bool = True,
        timeout: float = 90,
        zygote: Zygote | None = None,
    ) -> ManagedProcess:
        """`prefect-federation listen --domain <domain> <args>`; with `wait`, returned once it
        has received from its queue. `term_group=False`: it stops its own flow runs. With
        `zygote` (`Stack.start_zygote`), forked from that warm parent."""
        command = ["listen", "--domain", domain, *args]
        process = self.stack.start(
            name or f"listener-{domain}",
            command if zygote is not None else [_bin("prefect-federation"), *command],
            env,
            cwd=cwd,
            ready_file=True,
            term_group=term_group,
            zygote=zygote,
        )
        if wait:
            self.wait_listening([process], timeout)
        return process

    def wait_listening(
        self,
        processes: list[ManagedProcess],
        timeout: float = 90,
        check: Callable[[], None] | None = None,
        *,
        with_logs: bool = True,
    ) -> None:
        """Until every listener has received from its queue (its ready file). `check` may raise
        to give up early (default: RuntimeError with its log if one exits); TimeoutError (with
        the end of their logs, `with_logs`) naming the ones not ready in time."""
        try:
            self.stack.wait_ready(processes, timeout, check=check or _still_running(processes))
        except TimeoutError as exc:
            if not with_logs:
                raise
            tails = "\n".join(f"--- {p.name}\n{p.tail()}" for p in processes if not p.ready())
            raise TimeoutError(f"{exc}\n{tails}") from None

    # -- stopping ------------------------------------------------------------------------------

    def on_stop(self, callback: Callable[[], None]) -> None:
        """Call `callback` on `stop()`, after the processes stopped (e.g. drop a database)."""
        self._on_stop.append(callback)

    def stop(self) -> None:
        """Stop every process (listeners first, then the servers), and moto's thread; then the
        `on_stop` callbacks, last registered first."""
        if self._stack is not None and self._own_stack:
            self._stack.stop()
        self.server_processes.clear()
        while self._on_stop:
            self._on_stop.pop()()
        if self._threaded_moto is not None:
            with contextlib.suppress(Exception):
                self._threaded_moto.stop()
            self._threaded_moto = None

    def __enter__(self) -> LocalFederation:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def register_deployments(
    api_url: str,
    signature: Callable[..., Any],
    names: Iterable[str],
    *,
    work_pool: str,
    enforce: bool = True,
) -> dict[str, UUID]:
    """Register `flow/deployment` names whose parameter schema is `signature`'s, in `work_pool`
    (created if missing; no worker: their runs stay scheduled). Returns name -> deployment id."""
    from prefect.client.orchestration import SyncPrefectClient
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectAlreadyExists
    from prefect.utilities.callables import parameter_schema

    schema = parameter_schema(signature).model_dump_for_openapi()
    ids: dict[str, UUID] = {}
    with SyncPrefectClient(api_url) as client:
        with contextlib.suppress(ObjectAlreadyExists):
            client.create_work_pool(WorkPoolCreate(name=work_pool, type="process"))
        for name in names:
            flow_name, deployment_name = name.split("/")
            flow_id = client.create_flow_from_name(flow_name)
            ids[name] = client.create_deployment(
                flow_id=flow_id,
                name=deployment_name,
                work_pool_name=work_pool,
                parameter_openapi_schema=schema,
                enforce_parameter_schema=enforce,
                entrypoint="flows/none.py:none",
            )
    return ids
