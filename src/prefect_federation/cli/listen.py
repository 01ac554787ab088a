"""`prefect-federation listen`: parse the options, run `listener.service.run_listener`."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Annotated

import typer

from prefect_federation.cli._common import (
    CredentialsOpt,
    DeclarationsOpt,
    DomainOpt,
    VerboseOpt,
    build_settings,
    configure_logging,
    fail,
)
from prefect_federation.errors import FederationError

__all__ = ["listen"]


def listen(
    domain: DomainOpt,
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
    verbose: VerboseOpt = False,
) -> None:
    """Run a domain's listener: queue -> validated events -> that domain's deployment runs.

    Stops within --stop-timeout seconds (default 8) of SIGTERM, SIGINT or SIGHUP.
    """
    from prefect_federation.listener.service import run_listener

    try:
        code = run_listener(
            domain,
            build_settings(declarations, aws_credentials_block),
            wait_time=wait_time,
            once=once,
            execute=execute,
            ready_file=ready_file,
            stop_timeout=stop_timeout,
            configure_logging=partial(configure_logging, verbose, after_prefect=True),
        )
    except (FederationError, ValueError) as exc:
        raise fail(str(exc)) from exc
    raise typer.Exit(code)
