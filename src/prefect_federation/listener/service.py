"""A domain's listener as a process: settings, queue, launcher, executor, stop bound, ready file.

`run_listener` is what `prefect-federation listen` runs, without Typer: it wires the parts of
`prefect_federation.listener` together, refuses a bad configuration with a `ConfigError` before
it receives anything, and then either handles one receive (`once`) or serves until a signal
(see `listener/shutdown.py`: it then exits the process within the stop bound).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prefect_federation.errors import ConfigError, FederationError

if TYPE_CHECKING:
    from prefect_federation.declarations import DomainDeclaration
    from prefect_federation.joins.coordinator import JoinCoordinator
    from prefect_federation.settings import FederationSettings

__all__ = ["run_listener"]


def run_listener(
    domain: str,
    settings: FederationSettings,
    *,
    wait_time: int | None = None,
    once: bool = False,
    execute: bool = False,
    ready_file: Path | None = None,
    stop_timeout: float | None = None,
    configure_logging: Callable[[], None] | None = None,
) -> int:
    """Run `domain`'s listener: its queue -> validated events -> its deployments' runs.

    Args:
        settings: where the declarations are, the name prefix, the AWS credentials block.
        wait_time, ready_file, stop_timeout: override the `ListenerSettings` from the
            environment (`PREFECT_FEDERATION_LISTENER_*`).
        once: handle one receive's messages, then return 0. Otherwise serve until SIGTERM,
            SIGINT or SIGHUP, then exit the process (this function does not return).
        execute: also run the flow runs, forked from a warm parent (`ForkExecutor`).
        configure_logging: called once the domain's Prefect server is known (it may import
            Prefect, which reads `PREFECT_API_URL` then).

    Raises:
        ConfigError: an unknown domain, one that subscribes to nothing, a queue that does not
            exist or has no dead-letter queue, bad settings, an executor that cannot start.
    """
    from prefect_federation.declarations import load_federation
    from prefect_federation.settings import ListenerSettings

    overrides: dict[str, Any] = {"domain": domain}
    if wait_time is not None:
        overrides["wait_time_seconds"] = wait_time
    if ready_file is not None:
        overrides["ready_file"] = ready_file
    if stop_timeout is not None:
        overrides["stop_timeout_seconds"] = stop_timeout
    with _as_config_error():
        listener_settings = ListenerSettings(**overrides)
        federation = load_federation(settings.declarations)
        declaration = federation.domain(domain)
        if not declaration.subscribes:
            raise ConfigError(f"domain {domain!r} subscribes to nothing: no listener needed")
        api_url = declaration.resolved_prefect_api_url()
    if api_url:  # the domain's own Prefect server: set before Prefect is imported and reads it
        if "prefect" in sys.modules and os.environ.get("PREFECT_API_URL") != api_url:
            raise ConfigError(
                f"domain {domain!r} needs PREFECT_API_URL={api_url}; set it and retry"
            )
        os.environ["PREFECT_API_URL"] = api_url
    if configure_logging is not None:
        configure_logging()

    from prefect_federation.connect import open_queue
    from prefect_federation.heartbeat import emit_heartbeat
    from prefect_federation.listener.consumer import Listener
    from prefect_federation.listener.launcher import PrefectLauncher
    from prefect_federation.listener.shutdown import (
        StopBound,
        announce_stop,
        serve,
        write_ready_file,
    )
    from prefect_federation.tls_contexts import share_client_tls_contexts

    share_client_tls_contexts()  # one TLS context for this process's and its runner's clients
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

        if settings.aws_credentials_block:  # loaded below anyway: imported before the fork
            import prefect_aws  # noqa: F401  (shared with the fork server, not imported twice)
        # both this process and the fork server import these later: once, shared, instead
        import prefect.flows
        import prefect.tasks  # noqa: F401

        # first, while this process has one thread (loading a credentials block starts
        # Prefect's event loop thread): the fork server is then forked from it, sharing its
        # pages and imports, instead of a second interpreter importing Prefect again
        executor = ForkExecutor(
            launcher.client, sorted({s.deployment for s in declaration.subscribes})
        )
        try:
            executor.start()
        except Exception as exc:
            executor.stop(grace=0)
            raise ConfigError(f"the fork executor could not start: {exc}") from exc
        run_launcher = ExecutingLauncher(launcher, executor)
    try:
        with _as_config_error():
            queue = open_queue(declaration, settings)
            joins = open_joins(declaration, settings) if declaration.keeps_state else None
    except BaseException:
        if executor is not None:
            executor.stop(grace=0)
        raise
    ready_path = listener_settings.ready_file
    gate = _gate(declaration, settings, listener_settings, launcher.client)
    listener = Listener(
        declaration,
        queue,
        run_launcher,
        federation=federation,
        settings=listener_settings,
        on_heartbeat=emit_heartbeat,
        health_check=launcher.healthy,  # an ExecutingLauncher wraps it: name the real one
        on_ready=(lambda _: write_ready_file(ready_path)) if ready_path else None,
        gate=gate,
        joins=joins,
    )
    try:
        with _as_config_error():
            listener.preflight()  # a queue without a dead-letter queue is refused here
    except ConfigError:
        if executor is not None:
            executor.stop()
        raise
    if once:
        listener.poll_once()
        if executor is not None:
            executor.stop()
        launcher.close()
        return 0
    if ready_path is not None:
        bound.on_exit(lambda: ready_path.unlink(missing_ok=True))
    serve(listener, bound, executor, launcher)


def _gate(declaration: Any, settings: Any, listener_settings: Any, client: Any) -> Any:
    """Pause (the domain's Prefect Variable), backpressure and skip records (the archive)."""
    from prefect_federation.archive import default_archive_bucket
    from prefect_federation.aws import LazyAwsClient, credentials_or_environment
    from prefect_federation.listener.capacity import CapacityGate, PrefectCapacityProbe
    from prefect_federation.listener.gate import Gate
    from prefect_federation.listener.pause import PauseReader, read_pause_state
    from prefect_federation.listener.skipped import SkipRecords

    bucket = listener_settings.archive_bucket or default_archive_bucket(settings.name_prefix)
    # made when a `skip` pause first records an event (most listeners never need it)
    s3 = LazyAwsClient(credentials_or_environment(settings.aws_credentials_block), "s3")
    capacity = None
    if listener_settings.backpressure:
        capacity = CapacityGate(
            PrefectCapacityProbe(client), ttl=listener_settings.capacity_ttl_seconds
        )
    return Gate(
        declaration,
        pause=PauseReader(
            lambda: read_pause_state(client, declaration.domain),
            ttl=listener_settings.pause_ttl_seconds,
        ),
        capacity=capacity,
        skips=SkipRecords(s3, bucket),
        hold_delay_seconds=listener_settings.hold_delay_seconds,
        pause_delay_seconds=listener_settings.pause_delay_seconds,
    )


def open_joins(declaration: DomainDeclaration, settings: FederationSettings) -> JoinCoordinator:
    """The domain's join coordinator: its DynamoDB table (checked to exist), its own topic for
    the alerts, and its Prefect event stream."""
    from prefect_federation.aws import aws_client, credentials_or_environment
    from prefect_federation.connect import open_publisher
    from prefect_federation.joins.coordinator import JoinCoordinator, PrefectAlertEmitter
    from prefect_federation.joins.dynamodb import DynamoJoinStore
    from prefect_federation.naming import join_table_name

    client = aws_client(credentials_or_environment(settings.aws_credentials_block), "dynamodb")
    store = DynamoJoinStore(client, join_table_name(settings.name_prefix, declaration.domain))
    store.check()
    publisher = open_publisher(declaration.domain, settings)
    return JoinCoordinator(declaration, store, publisher, emit=PrefectAlertEmitter())


@contextmanager
def _as_config_error() -> Iterator[None]:
    """Re-raise a `FederationError` or a `ValueError` (bad settings) as a `ConfigError`."""
    try:
        yield
    except ConfigError:
        raise
    except (FederationError, ValueError) as exc:
        raise ConfigError(str(exc)) from exc
