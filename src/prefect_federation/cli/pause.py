"""`prefect-federation pause` and `resume`: a domain's subscriptions, on its own Prefect server.

Thin: `prefect_federation.listener.pause` holds the state (a Prefect Variable) and emits the
events. Exit codes: 0 done; 2 usage or configuration error (unknown domain or subscription, the
Prefect server unreachable).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any

import typer

from prefect_federation.cli._common import SETUP_ERRORS, DeclarationsOpt, DomainOpt, console, fail

if TYPE_CHECKING:
    from prefect.client.orchestration import SyncPrefectClient

    from prefect_federation.declarations import DomainDeclaration

__all__ = ["pause", "resume"]

SubscriptionOpt = Annotated[
    str | None,
    typer.Option(
        "--subscription",
        help="One subscription: its `name`, else its `flow/deployment` (default: all of them).",
    ),
]


@contextmanager
def _domain_client(
    declarations: Any, domain: str
) -> Iterator[tuple[DomainDeclaration, SyncPrefectClient]]:
    from prefect.client.orchestration import SyncPrefectClient, get_client

    from prefect_federation.cli._common import build_settings
    from prefect_federation.declarations import load_federation

    try:
        declaration = load_federation(build_settings(declarations).declarations).domain(domain)
    except SETUP_ERRORS as exc:
        raise fail(str(exc)) from exc
    url = declaration.resolved_prefect_api_url()
    with SyncPrefectClient(url) if url else get_client(sync_client=True) as client:
        yield declaration, client


def pause(
    domain: DomainOpt,
    subscription: SubscriptionOpt = None,
    mode: Annotated[
        str,
        typer.Option(
            "--mode",
            help="`hold`: messages wait in SQS; `skip`: acknowledged and recorded as skipped "
            "(`replay --skipped` brings them back).",
        ),
    ] = "hold",
    reason: Annotated[str | None, typer.Option("--reason", help="Why (shown in status).")] = None,
    declarations: DeclarationsOpt = None,
) -> None:
    """Pause a domain's subscription (or all of them): every listener of the domain stops
    creating its runs within a few seconds."""
    import httpx

    from prefect_federation.listener.pause import apply_pause

    if mode not in ("hold", "skip"):
        raise fail(f"--mode {mode!r}: expected `hold` or `skip`")
    try:
        with _domain_client(declarations, domain) as (declaration, client):
            key, entry = apply_pause(client, declaration, subscription, mode, reason)  # type: ignore[arg-type]
    except (*SETUP_ERRORS, httpx.HTTPError) as exc:  # type: ignore[misc]
        raise fail(str(exc)) from exc
    what = "every subscription" if key == "*" else key
    effect = (
        "its messages wait in the queue"
        if mode == "hold"
        else "its events are acknowledged and recorded as skipped"
    )
    console.print(
        f"paused {domain} {what} ({entry.describe()}): {effect}", highlight=False, soft_wrap=True
    )


def resume(
    domain: DomainOpt, subscription: SubscriptionOpt = None, declarations: DeclarationsOpt = None
) -> None:
    """Resume a paused subscription (or, without --subscription, every pause of the domain).
    Held messages come back within the pause delay, through backpressure: no flood."""
    import httpx

    from prefect_federation.listener.pause import apply_resume

    try:
        with _domain_client(declarations, domain) as (declaration, client):
            key, lifted = apply_resume(client, declaration, subscription)
    except (*SETUP_ERRORS, httpx.HTTPError) as exc:  # type: ignore[misc]
        raise fail(str(exc)) from exc
    what = "every subscription" if key == "*" else key
    if lifted is None and key != "*":
        console.print(f"{domain} {what} was not paused", highlight=False)
        return
    console.print(f"resumed {domain} {what}", highlight=False)
