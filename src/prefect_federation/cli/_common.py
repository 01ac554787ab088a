"""What the commands share: the consoles, `fail`, the settings builder, the options that several
commands take (one help text each), the progress bar and `--verbose` logging.

Imports nothing of Prefect: `publish` with the AWS environment must start in a fraction of a
second (see `cli/__init__.py`).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from botocore.exceptions import BotoCoreError, ClientError
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from prefect_federation.errors import FederationError

if TYPE_CHECKING:
    from prefect_federation.settings import FederationSettings

__all__ = [
    "AWS_ERRORS",
    "SETUP_ERRORS",
    "CredentialsOpt",
    "DeclarationsOpt",
    "DomainFilterOpt",
    "DomainOpt",
    "JsonOpt",
    "SourceAliasOpt",
    "VerboseOpt",
    "aws_clients",
    "build_settings",
    "configure_logging",
    "console",
    "err_console",
    "fail",
    "progress_bar",
    "renamed_option",
]

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
DomainOpt = Annotated[
    str, typer.Option("--domain", help="The domain (its `domain:` in the declarations).")
]
DomainFilterOpt = Annotated[
    str | None,
    typer.Option("--domain", help="Only this domain (default: every subscribing domain)."),
]
ArchiveBucketOpt = Annotated[
    str | None,
    typer.Option(
        help="The event archive's S3 bucket (default: <PREFECT_FEDERATION_NAME_PREFIX>"
        "event-archive; bucket names are global across AWS: on real AWS, choose your own)."
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON, for scripts.")]
VerboseOpt = Annotated[
    bool, typer.Option("--verbose", "-v", help="Log prefect_federation's debug lines on stderr.")
]


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print `error: <message>` on stderr and return the `typer.Exit(code)` to raise.

    The message is printed as it is: rich markup in it (`[brackets]` of a path, a JSON value,
    an AWS error) is shown, not interpreted.
    """
    err_console.print(f"[red]error:[/red] {escape(message)}", highlight=False)
    return typer.Exit(code)


def build_settings(
    declarations: Path | None = None, credentials_block: str | None = None
) -> FederationSettings:
    """`FederationSettings` from the environment, with the options given on the command line."""
    from prefect_federation.settings import FederationSettings

    overrides: dict[str, Any] = {}
    if declarations is not None:
        overrides["declarations"] = declarations
    if credentials_block is not None:
        overrides["aws_credentials_block"] = credentials_block
    return FederationSettings(**overrides)


@contextmanager
def progress_bar(description: str, total: int | None) -> Iterator[tuple[Progress, TaskID]]:
    """A transient progress bar on stderr (hidden when stderr is not a terminal)."""
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
        disable=not err_console.is_terminal,
    ) as progress:
        yield progress, progress.add_task(description, total=total)


def configure_logging(verbose: bool, *, after_prefect: bool = False) -> None:
    """Our own stderr handler on the `prefect_federation` logger: DEBUG with `verbose`, else INFO.

    `after_prefect`: import Prefect first, which configures the root logger on import (a
    listener imports it anyway; `publish` must not).
    """
    if after_prefect:
        import prefect  # noqa: F401  - let Prefect set up its logging first

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger("prefect_federation")
    logger.handlers[:] = [handler]
    logger.setLevel(logging.DEBUG if verbose else logging.INFO)
    logger.propagate = False


SourceAliasOpt = Annotated[
    str | None, typer.Option("--source", hidden=True, help="The old name of --domain.")
]
"""`--source`, the old spelling of `--domain` where it names the publishing domain."""


def renamed_option(value: Any, old_value: Any, *, new: str, old: str) -> Any:
    """The value of an option given by its new name or its old one (a hidden alias)."""
    if old_value is None:
        return value
    if value is not None and value != old_value:
        raise fail(f"{old} is the old name of {new}: give one of them")
    return old_value


AWS_ERRORS: tuple[type[Exception], ...] = (FederationError, BotoCoreError, ClientError)
"""What a command reports as `error: ...` (exit 2) rather than a traceback."""
SETUP_ERRORS: tuple[type[Exception], ...] = (*AWS_ERRORS, ValueError)
"""The same, plus bad settings or declarations (pydantic's ValidationError is a ValueError)."""


def aws_clients(settings: FederationSettings, *services: str) -> list[Any]:
    """boto3 clients from the settings' credentials block, or the environment (no Prefect then)."""
    from prefect_federation.aws import aws_client, credentials_or_environment

    credentials = credentials_or_environment(settings.aws_credentials_block)
    return [aws_client(credentials, service) for service in services]
