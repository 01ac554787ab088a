"""`prefect-federation`: publish, listen, provision, check. Thin: each command calls the library."""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from prefect_federation.errors import ConfigError, FederationError
from prefect_federation.prefect_logs import hide_drain_progress

hide_drain_progress()  # Prefect's exit-time "Still processing items" note is not our output
app = typer.Typer(
    name="prefect-federation",
    help="Independent Prefect domains that talk only through events on SNS/SQS.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True)

DeclarationsOpt = Annotated[
    Path | None,
    typer.Option(
        "--declarations",
        "-d",
        help="Directory of domain declarations (default: $PREFECT_FEDERATION_DECLARATIONS or "
        "./deployments).",
    ),
]
CredentialsOpt = Annotated[
    str | None,
    typer.Option(
        "--aws-credentials-block",
        help="Name of a prefect-aws AwsCredentials block (default: the AWS environment).",
    ),
]


def _settings(declarations: Path | None = None, credentials_block: str | None = None) -> Any:
    from prefect_federation.settings import FederationSettings

    overrides: dict[str, Any] = {}
    if declarations is not None:
        overrides["declarations"] = declarations
    if credentials_block is not None:
        overrides["aws_credentials_block"] = credentials_block
    return FederationSettings(**overrides)


def _fail(message: str, code: int = 2) -> typer.Exit:
    err_console.print(f"[red]error:[/red] {message}", highlight=False)
    return typer.Exit(code)


def _read_data(data: str | None, data_file: Path | None) -> dict[str, Any]:
    if data is not None and data_file is not None:
        raise _fail("give --data or --data-file, not both")
    if data_file is not None:
        try:
            text = data_file.read_text()
        except OSError as exc:
            raise _fail(f"--data-file {data_file}: {exc}") from exc
        where = f"--data-file {data_file}"
    else:
        text = data if data is not None else "{}"
        where = "--data"
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise _fail(f"{where} is not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise _fail(f"{where} must be a JSON object, got {type(value).__name__}")
    return value


@app.command()
def publish(
    event_type: Annotated[str, typer.Argument(help="Event type, e.g. ingestion.completed.")],
    source: Annotated[
        str | None, typer.Option(help="Publishing domain (default: the type's domain).")
    ] = None,
    data: Annotated[str | None, typer.Option(help="The event's data: a JSON object.")] = None,
    data_file: Annotated[Path | None, typer.Option(help="Read the data from a JSON file.")] = None,
    subject: Annotated[str | None, typer.Option(help="Optional subject.")] = None,
    correlation_id: Annotated[
        str | None, typer.Option(help="Continue an existing chain (default: a new one).")
    ] = None,
    topic_arn: Annotated[
        str | None, typer.Option(help="Publish to this topic instead of the domain's own.")
    ] = None,
    archive: Annotated[
        bool,
        typer.Option(help="Archive the event first (when the archive bucket exists), for replay."),
    ] = True,
    archive_bucket: Annotated[
        str | None, typer.Option(help="Archive bucket (default: <name prefix>event-archive).")
    ] = None,
    aws_credentials_block: CredentialsOpt = None,
    wait: Annotated[
        bool,
        typer.Option(
            "--wait",
            help="Then follow the chain the event starts, on every Prefect server of the "
            "federation; exit 0 when every run completed, 1 when one did not or on --timeout.",
        ),
    ] = False,
    timeout: Annotated[
        float, typer.Option(min=1, help="With --wait: give up after this many seconds.")
    ] = 600.0,
    quiet_seconds: Annotated[
        float,
        typer.Option(
            min=0,
            help="With --wait: done once every run is final and nothing changed for this long "
            "(downstream domains need a moment to start their runs).",
        ),
    ] = 5.0,
    declarations: DeclarationsOpt = None,
) -> None:
    """Publish an event from the shell; prints its id. With --wait, follows its chain."""
    from pydantic import ValidationError

    from prefect_federation.connect import open_publisher
    from prefect_federation.events import EventEnvelope, domain_of

    payload = _read_data(data, data_file)
    fields: dict[str, Any] = {
        "type": event_type,
        "source": source or domain_of(event_type),
        "subject": subject,
        "data": payload,
    }
    if correlation_id:
        fields["correlationid"] = correlation_id
    try:
        envelope = EventEnvelope(**fields)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise _fail(f"not a valid event: {problems}") from exc
    settings = _settings(None, aws_credentials_block)
    try:
        publisher: Any = open_publisher(envelope.source, settings, topic_arn)
        note = ""
        if archive:
            publisher, note = _archiving(publisher, settings, archive_bucket)
        publisher.publish(envelope)
    except FederationError as exc:
        raise _fail(str(exc)) from exc
    err_console.print(
        f"published {envelope.type} from {envelope.source} to {publisher.topic_arn}{note}",
        highlight=False,
    )
    print(envelope.id, flush=True)
    if wait:
        from prefect_federation.cli_chain import wait_and_report

        raise typer.Exit(
            wait_and_report(
                str(envelope.correlationid),
                timeout,
                quiet_seconds,
                declarations,
                event_id=str(envelope.id),
            )
        )


def _archiving(publisher: Any, settings: Any, bucket: str | None) -> tuple[Any, str]:
    """Wrap `publisher` so the event is archived first, when the archive bucket exists."""
    from botocore.exceptions import ClientError

    from prefect_federation.archive import (
        ArchivingPublisher,
        S3EventArchive,
        default_archive_bucket,
        topic_name_of,
    )
    from prefect_federation.aws import aws_client, credentials_or_environment

    name = bucket or default_archive_bucket(settings.name_prefix)
    s3 = aws_client(credentials_or_environment(settings.aws_credentials_block), "s3")
    try:
        s3.head_bucket(Bucket=name)
    except ClientError:
        if bucket:
            raise ConfigError(f"archive bucket {bucket!r} does not exist") from None
        return publisher, f" (not archived: no bucket {name!r})"
    archive = S3EventArchive(s3, name)
    return ArchivingPublisher(publisher, archive, topic_name_of(publisher.topic_arn)), (
        f", archived in s3://{name}"
    )


@app.command()
def check(declarations: DeclarationsOpt = None) -> None:
    """Validate the domain declarations; exit 2 with the file, field and problem if one is wrong."""
    from prefect_federation.declarations import load_federation

    settings = _settings(declarations)
    try:
        federation = load_federation(settings.declarations)
    except ConfigError as exc:
        raise _fail(str(exc)) from exc
    table = Table("domain", "publishes", "subscribes to -> deployment")
    for domain in federation:
        table.add_row(
            domain.domain,
            "\n".join(p.type for p in domain.publishes) or "-",
            "\n".join(f"{s.event} -> {s.deployment}" for s in domain.subscribes) or "-",
        )
    console.print(table)


@app.command()
def provision(
    declarations: DeclarationsOpt = None,
    aws_credentials_block: CredentialsOpt = None,
    save_blocks: Annotated[
        bool,
        typer.Option(help="Save an SnsTopic and SqsQueue block per domain on the Prefect server."),
    ] = True,
    work_pools: Annotated[
        bool | None,
        typer.Option(
            help="Create each subscribing domain's work pool on its Prefect server (named after "
            "the domain, type `process`, unless its declaration's `work_pool` says otherwise). "
            "Default: when blocks are saved (--no-save-blocks: AWS only, no Prefect server)."
        ),
    ] = None,
    archive: Annotated[
        bool,
        typer.Option(
            help="Ensure the event archive (S3 bucket) and have each SnsTopic block archive "
            "every event before publishing it (what `replay` re-sends)."
        ),
    ] = True,
    archive_bucket: Annotated[
        str | None,
        typer.Option(
            help="The archive's S3 bucket (default: <PREFECT_FEDERATION_NAME_PREFIX>event-archive;"
            " bucket names are global across AWS: on real AWS, choose your own)."
        ),
    ] = None,
) -> None:
    """Create or update topics, queues, DLQs, subscriptions, policies and the event archive;
    then each domain's work pool and blocks on its Prefect server (idempotent)."""
    from prefect_federation.aws import aws_client, load_aws_credentials
    from prefect_federation.declarations import load_federation
    from prefect_federation.provision import provision as do_provision

    settings = _settings(declarations, aws_credentials_block)
    try:
        federation = load_federation(settings.declarations)
        credentials = load_aws_credentials(settings.aws_credentials_block)
        report = do_provision(
            federation,
            aws_client(credentials, "sns"),
            aws_client(credentials, "sqs"),
            settings,
            s3=aws_client(credentials, "s3") if archive else None,
            archive_bucket=archive_bucket,
        )
    except ConfigError as exc:
        raise _fail(str(exc)) from exc
    pool_error: Exception | None = None
    if save_blocks if work_pools is None else work_pools:
        try:
            report.actions += _ensure_work_pools_per_server(federation)
        except Exception as exc:
            pool_error = exc
    table = Table("action", "kind", "resource")
    for action, kind, name in report.actions:
        style = {"created": "green", "updated": "yellow", "removed": "red"}.get(action, "dim")
        table.add_row(f"[{style}]{action}[/{style}]", kind, name)
    console.print(table)
    if isinstance(pool_error, FederationError):
        raise _fail(str(pool_error)) from pool_error
    if pool_error is not None:
        raise _fail(
            f"AWS resources are provisioned, but creating work pools on the Prefect server "
            f"failed: {pool_error} (use --no-work-pools to skip)"
        ) from pool_error
    if save_blocks:
        try:
            saved = _save_blocks_per_server(federation, report, credentials, settings)
        except FederationError as exc:
            raise _fail(str(exc)) from exc
        except Exception as exc:
            raise _fail(
                f"resources are provisioned, but saving blocks on the Prefect server failed: {exc} "
                "(use --no-save-blocks to skip)"
            ) from exc
        console.print(f"saved blocks: {', '.join(saved)}")
    console.print("no changes" if not report.changed else "done")


def _ensure_work_pools_per_server(federation: Any) -> list[tuple[str, str, str]]:
    """Each domain's work pool goes to its own Prefect server (`prefect_api_url`), or the
    current one."""
    from prefect.client.orchestration import SyncPrefectClient, get_client

    from prefect_federation.work_pools import ensure_work_pools

    rows: list[tuple[str, str, str]] = []
    for api_url, domains in federation.by_prefect_server().items():
        client = SyncPrefectClient(api_url) if api_url else get_client(sync_client=True)
        with client:
            found = ensure_work_pools(client, [federation.domain(d) for d in domains])
        rows += [(a, k, f"{n} @ {api_url}" if api_url else n) for a, k, n in found]
    return rows


def _save_blocks_per_server(
    federation: Any, report: Any, credentials: Any, settings: Any
) -> list[str]:
    """Blocks go to each domain's own Prefect server (`prefect_api_url`), or the current one."""
    from contextlib import nullcontext

    from prefect.settings import PREFECT_API_URL, temporary_settings

    from prefect_federation.provision import save_blocks

    saved: list[str] = []
    for api_url, domains in federation.by_prefect_server().items():
        scope = temporary_settings({PREFECT_API_URL: api_url}) if api_url else nullcontext()
        with scope:
            blocks = save_blocks(
                report,
                credentials,
                domains,
                credentials_name=(settings.aws_credentials_block or "federation-aws")
                if api_url
                else None,
            )
        saved += [f"{b}@{api_url}" if api_url else b for b in blocks]
    return saved


def _register_commands() -> None:
    from prefect_federation.cli_chain import alerts, trace
    from prefect_federation.cli_iam import iam_policy
    from prefect_federation.cli_ops import dlq_app, status
    from prefect_federation.cli_replay import replay

    app.command("iam-policy")(iam_policy)
    app.add_typer(dlq_app, name="dlq")
    app.command()(status)
    app.command()(trace)
    app.command()(alerts)
    app.command()(replay)


_register_commands()


def _configure_logging(verbose: bool) -> None:
    """Our own handler on `prefect_federation` (Prefect configures the root logger on import)."""
    import prefect  # noqa: F401  - let Prefect set up its logging first

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger("prefect_federation")
    logger.handlers[:] = [handler]
    logger.setLevel(logging.DEBUG if verbose else logging.INFO)
    logger.propagate = False


@app.command()
def listen(
    domain: Annotated[str, typer.Option(help="The domain whose queue to consume.")],
    declarations: DeclarationsOpt = None,
    aws_credentials_block: CredentialsOpt = None,
    wait_time: Annotated[
        int | None, typer.Option(help="Long-poll seconds per receive (0-20, default 20).")
    ] = None,
    once: Annotated[bool, typer.Option(help="Handle one receive's messages, then exit.")] = False,
    execute: Annotated[
        bool,
        typer.Option(
            help="Also run the domain's flow runs: pushed as they are created, forked from a "
            "warm parent (no worker poll, no cold start)."
        ),
    ] = False,
    ready_file: Annotated[
        Path | None,
        typer.Option(
            help="Write the listener's pid here once it has received from its queue (and is "
            "long-polling); removed when it stops ($PREFECT_FEDERATION_LISTENER_READY_FILE)."
        ),
    ] = None,
    stop_timeout: Annotated[
        float | None,
        typer.Option(
            min=0.1,
            help="Exit within this many seconds of SIGTERM, SIGINT or SIGHUP (default 8, "
            "$PREFECT_FEDERATION_LISTENER_STOP_TIMEOUT_SECONDS): nothing new is received at "
            "once; the batch in flight and the flow runs it executes may finish until the last "
            "third (at most 3 s) of it, then are abandoned (messages not acknowledged are "
            "redelivered; runs are terminated and end Crashed). A second signal exits at once.",
        ),
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Run a domain's listener: queue -> validated events -> that domain's deployment runs.

    Stops within --stop-timeout seconds (default 8) of SIGTERM, SIGINT or SIGHUP.
    """
    from prefect_federation.connect import open_queue
    from prefect_federation.declarations import load_federation
    from prefect_federation.listener import Listener, PrefectLauncher
    from prefect_federation.listener.shutdown import (
        StopBound,
        announce_stop,
        serve,
        write_ready_file,
    )
    from prefect_federation.settings import ListenerSettings

    settings = _settings(declarations, aws_credentials_block)
    overrides: dict[str, Any] = {"domain": domain}
    if wait_time is not None:
        overrides["wait_time_seconds"] = wait_time
    if ready_file is not None:
        overrides["ready_file"] = ready_file
    if stop_timeout is not None:
        overrides["stop_timeout_seconds"] = stop_timeout
    try:
        listener_settings = ListenerSettings(**overrides)
        federation = load_federation(settings.declarations)
        declaration = federation.domain(domain)
        if not declaration.subscribes:
            raise ConfigError(f"domain {domain!r} subscribes to nothing: no listener needed")
        api_url = declaration.resolved_prefect_api_url()
    except (FederationError, ValueError) as exc:
        raise _fail(str(exc)) from exc
    if api_url:  # the domain's own Prefect server: set before Prefect is imported and reads it
        if "prefect" in sys.modules and os.environ.get("PREFECT_API_URL") != api_url:
            raise _fail(f"domain {domain!r} needs PREFECT_API_URL={api_url}; set it and retry")
        os.environ["PREFECT_API_URL"] = api_url
    _configure_logging(verbose)
    try:
        queue = open_queue(declaration, settings)
    except (FederationError, ValueError) as exc:
        raise _fail(str(exc)) from exc
    from prefect_federation.heartbeat import emit_heartbeat

    launcher = PrefectLauncher(
        emit_events=listener_settings.record_events,
        client_retries=listener_settings.prefect_client_retries,
    )
    bound = StopBound(listener_settings.stop_timeout_seconds)
    if not once:  # from here on a signal means: stop within the bound, even while starting
        bound.install(announce_stop)
    executor = None
    run_launcher: Any = launcher
    if execute:
        from prefect_federation.executor import ExecutingLauncher, ForkExecutor

        executor = ForkExecutor(
            launcher.client, sorted({s.deployment for s in declaration.subscribes})
        )
        try:
            executor.start()
        except Exception as exc:
            executor.stop(grace=0)
            raise _fail(f"the fork executor could not start: {exc}") from exc
        run_launcher = ExecutingLauncher(launcher, executor)
    ready_path = listener_settings.ready_file
    listener = Listener(
        declaration,
        queue,
        run_launcher,
        federation=federation,
        settings=listener_settings,
        on_heartbeat=emit_heartbeat,
        health_check=launcher.healthy,  # an ExecutingLauncher wraps it: name the real one
        on_ready=(lambda _: write_ready_file(ready_path)) if ready_path else None,
    )
    try:
        listener.preflight()  # a queue without a dead-letter queue is refused here
    except (FederationError, ValueError) as exc:
        if executor is not None:
            executor.stop()
        raise _fail(str(exc)) from exc
    if once:
        listener.poll_once()
        if executor is not None:
            executor.stop()
        launcher.close()
        return
    if ready_path is not None:
        bound.on_exit(lambda: ready_path.unlink(missing_ok=True))
    serve(listener, bound, executor, launcher)


@app.command()
def demo(
    once: Annotated[
        bool, typer.Option(help="Exit 0 when the whole chain has completed (non-zero on failure).")
    ] = False,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the chain.")] = 300,
    region: Annotated[
        str, typer.Option(help="Region of the first event (north/south notify; east/west do not).")
    ] = "north",
    home: Annotated[
        Path | None, typer.Option(help="Where the demo keeps its state (default ./.federation).")
    ] = None,
    federated: Annotated[
        bool,
        typer.Option(help="Two Prefect servers: upstream and downstream domains on their own."),
    ] = False,
    runner: Annotated[
        str,
        typer.Option(
            help="fork: each listener runs its flows, pushed and forked warm; process: Prefect "
            "process workers (poll, cold start)."
        ),
    ] = "fork",
) -> None:
    """Run the worked example: embedded AWS + Prefect, every domain, one event through the chain."""
    from prefect_federation.local.demo import run_demo

    raise typer.Exit(
        run_demo(
            once=once,
            timeout=timeout,
            home=home,
            region=region,
            federated=federated,
            runner=runner,
        )
    )


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
