"""`prefect-federation demo`: the worked example, end to end (`prefect_federation.local.demo`)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from prefect_federation.cli._common import VerboseOpt, configure_logging

__all__ = ["demo"]


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
    profile: Annotated[
        str,
        typer.Option(
            help="default: one Prefect server on SQLite; scaled: Prefect's scaled topology (2 "
            "API processes, a services process, PostgreSQL, Redis; docs/scaling.md)."
        ),
    ] = "default",
    verbose: VerboseOpt = False,
) -> None:
    """Run the worked example: embedded AWS + Prefect, every domain, one event through the chain."""
    from prefect_federation.local.demo import run_demo

    if profile not in ("default", "scaled"):
        raise typer.BadParameter(f"{profile!r}: default or scaled", param_hint="--profile")
    if profile == "scaled" and (federated or os.environ.get("PREFECT_API_URL")):
        raise typer.BadParameter(
            "the scaled profile starts its own Prefect servers: without --federated and "
            "without PREFECT_API_URL",
            param_hint="--profile",
        )
    if verbose:
        configure_logging(verbose)
    raise typer.Exit(
        run_demo(
            once=once,
            timeout=timeout,
            home=home,
            region=region,
            federated=federated,
            runner=runner,
            profile=profile,
        )
    )
