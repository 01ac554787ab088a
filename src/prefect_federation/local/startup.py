"""The demo's start-up, with the steps that do not depend on each other overlapped.

    Prefect server(s) start ───────────────────────────┐
    moto start ─> AWS resources ─> listeners' zygote ───┴─> work pools ─> blocks
                                                         ─> deploy a domain ─> its listener
                                                         ─> deploy the next ─> its listener ...

The Prefect server is started first and boots (its imports, its migrations on a fresh database)
while this process starts moto and provisions the AWS resources, which need no Prefect: the
credentials for that are built here, from the same values the AwsCredentials block gets; then the
listeners' warm parent (`local/zygote.py`) starts importing what they need. Only a
configured credentials block (`PREFECT_FEDERATION_AWS_CREDENTIALS_BLOCK`) has to wait for the
server. Deploying is `prefect deploy --name ...`'s own code (prefect.yaml, the same pull step and
parameter schema), run in this process: no second interpreter that imports Prefect again.
"""

from __future__ import annotations

import asyncio
import functools
import os
import sys
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prefect_federation.local.report import describe_provisioning

if TYPE_CHECKING:
    from prefect_federation.local.demo import Demo
    from prefect_federation.provision import ProvisionReport

__all__ = ["deploy_from_project", "local_credentials", "start_domain", "start_up"]


class _Background:
    """`fn` in a thread; `result()` re-raises what it raised."""

    def __init__(self, fn: Callable[[], None]) -> None:
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(fn,), daemon=True)
        self.thread.start()

    def _run(self, fn: Callable[[], None]) -> None:
        try:
            fn()
        except BaseException as exc:
            self.error = exc

    def result(self) -> None:
        while self.thread.is_alive():  # a timed join keeps Ctrl-C working in the main thread
            self.thread.join(0.2)
        if self.error is not None:
            raise self.error


def local_credentials(aws_env: dict[str, str]) -> Any:
    """The AwsCredentials the demo saves as its block, built here (no Prefect API needed); None
    when a configured block holds them."""
    from prefect_aws import AwsClientParameters, AwsCredentials

    if os.environ.get("PREFECT_FEDERATION_AWS_CREDENTIALS_BLOCK"):
        return None
    if "AWS_ENDPOINT_URL" not in aws_env:
        return AwsCredentials(region_name=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"))
    embedded = aws_env["AWS_ENDPOINT_URL"] != os.environ.get("AWS_ENDPOINT_URL")
    return AwsCredentials(
        aws_access_key_id="demo" if embedded else os.environ.get("AWS_ACCESS_KEY_ID"),
        aws_secret_access_key="demo" if embedded else os.environ.get("AWS_SECRET_ACCESS_KEY"),
        region_name=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
        aws_client_parameters=AwsClientParameters(endpoint_url=aws_env["AWS_ENDPOINT_URL"]),
    )


def provision_aws(demo: Demo, credentials: Any) -> ProvisionReport:
    from prefect_federation.aws import aws_client
    from prefect_federation.declarations import load_federation
    from prefect_federation.provision import provision
    from prefect_federation.settings import FederationSettings

    settings = FederationSettings(declarations=demo.project / "deployments")
    report = provision(
        load_federation(settings.declarations),
        aws_client(credentials, "sns"),
        aws_client(credentials, "sqs"),
        settings,
        s3=aws_client(credentials, "s3"),
        dynamodb=aws_client(credentials, "dynamodb"),
    )
    demo.say(describe_provisioning(report))
    return report


def deploy_from_project(project: Path, api_url: str, names: Iterable[str], log: Path) -> None:
    """What `prefect --no-prompt deploy --name <name> ...` does in `project` (its prefect.yaml),
    on `api_url`, in this process; its output goes to `log`."""
    from prefect.cli.deploy._config import (
        _load_deploy_configs_and_actions,
        _parse_name_from_pattern,
        _pick_deploy_configs,
    )
    from prefect.cli.deploy._core import _run_multi_deploy
    from prefect.settings import PREFECT_API_URL, temporary_settings
    from rich.console import Console

    if Path.cwd().resolve() != project.resolve():
        raise RuntimeError(f"deploy from {project}: run from there (prefect.yaml's paths)")
    log.parent.mkdir(parents=True, exist_ok=True)
    prefect_file = project / "prefect.yaml"
    with log.open("a") as out, temporary_settings({PREFECT_API_URL: api_url}):
        console = Console(file=out, width=200)
        configs, actions = _load_deploy_configs_and_actions(
            prefect_file=prefect_file, console=console
        )
        parsed: list[str] = []
        for name in names:
            parsed += _parse_name_from_pattern(configs, name) if "*" in name else [name]
        picked = _pick_deploy_configs(
            configs, parsed, False, console=console, is_interactive=lambda: False
        )
        if len(picked) != len(parsed):
            raise RuntimeError(f"prefect.yaml has {len(picked)} of the deployments {parsed}")
        asyncio.run(
            _run_multi_deploy(
                deploy_configs=picked,
                actions=actions,
                prefect_file=prefect_file,
                console=console,
                is_interactive=lambda: False,
            )
        )


def ensure_pools(demo: Demo) -> None:
    """Each domain's work pool on its server (what `Demo.provision` also checks)."""
    from prefect.client.orchestration import SyncPrefectClient

    from prefect_federation.declarations import load_federation
    from prefect_federation.work_pools import ensure_work_pools

    federation = load_federation(demo.project / "deployments")
    for api_url in demo.servers.values():
        with SyncPrefectClient(api_url) as client:
            ensure_work_pools(client, [federation.domain(d) for d in demo.domains_on(api_url)])


def start_domain(demo: Demo, domain: str) -> None:
    """The domain's listener (with `--runner process`: and a Prefect process worker), started
    without waiting for it to poll. The scaled profile: one listener per API process, competing
    consumers of the domain's one queue."""
    prefect = str(Path(sys.executable).with_name("prefect"))
    listen = ["--execute"] if demo.runner != "process" else []
    if demo.runner == "process":
        demo.stack.start(
            f"worker-{domain}",
            [prefect, "worker", "start", "--pool", domain, "--type", "process"],
            demo.child_env(demo.server_of(domain)),
            cwd=demo.project,
        )
    apis = demo.scaled.api_urls if demo.scaled else [demo.server_of(domain)]
    for index, api in enumerate(apis):
        name = f"listener-{domain}" + (f"-{index + 1}" if index else "")
        # the listener stops its own fork server and flow runs, within its stop bound
        start = functools.partial(
            demo.federation.start_listener,
            domain,
            demo.child_env(api),
            name=name,
            args=listen,
            cwd=demo.project,
            term_group=False,
            wait=False,
        )
        if demo.zygote is not None:
            try:
                start(zygote=demo.zygote)
                continue
            except RuntimeError as exc:  # a process of its own, as without the zygote
                demo.say(f"{name}: not forked ({exc}); started as a process of its own")
                demo.zygote = None
        start()


def domains_started(demo: Demo) -> None:
    """Once every listener started polls its queue: say what runs."""
    demo.wait_for_listeners()
    if demo.runner == "process":
        what = "a Prefect process worker and a listener per domain"
    else:
        what = "a listener that runs its flows (pushed, forked warm) per domain"
    if demo.scaled is not None:
        what += f", {len(demo.scaled.api_urls)} per domain, one on each API process"
    demo.say(f"started {what} (logs in {demo.stack.logs})")


def start_up(demo: Demo) -> dict[str, str]:
    """Start and prepare everything up to the listeners polling; returns the AWS environment."""
    timings = demo.timings
    started = time.monotonic()
    prefect = _Background(demo.start_prefect)  # a process: it boots while we go on
    try:
        aws_env = demo.start_aws()
        credentials = local_credentials(aws_env)
        report = provision_aws(demo, credentials) if credentials is not None else None
        timings["aws_ready_s"] = time.monotonic() - demo.started
        demo.start_zygote()  # imports what the listeners need while the server boots
    finally:
        prefect.result()
    timings["infrastructure_ready_s"] = time.monotonic() - demo.started
    # each domain's listener starts once its deployments exist (and the blocks it loads), while
    # the next domain deploys: deploying waits on the server, a listener starting on our CPU
    if report is None:  # the AWS resources wait for the credentials block on the server
        demo.provision(aws_env, report)
        demo.deploy(on_deployed=lambda domain: start_domain(demo, domain))
    else:  # the work pools first (`prefect deploy` needs them), then blocks and deploy at once
        ensure_pools(demo)
        blocks = _Background(lambda: demo.provision(aws_env, report))

        def deployed(domain: str) -> None:
            blocks.result()  # a listener loads its queue's block
            start_domain(demo, domain)

        try:
            demo.deploy(on_deployed=deployed)
            timings["deployed_s"] = time.monotonic() - demo.started
        finally:
            blocks.result()
    timings["blocks_saved_and_deployed_s"] = time.monotonic() - demo.started
    domains_started(demo)
    timings["listeners_ready_s"] = time.monotonic() - demo.started
    timings["start_up_s"] = time.monotonic() - started
    return aws_env
