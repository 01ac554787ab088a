"""`prefect-federation dlq list|show|redrive|purge`. Thin: each calls `prefect_federation.dlq`.

Exit codes: 0 done; 1 something asked for was not done; 2 usage or configuration error (unknown
domain, queue not provisioned, AWS unreachable).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from prefect_federation.cli._common import (
    AWS_ERRORS,
    SETUP_ERRORS,
    CredentialsOpt,
    DomainOpt,
    JsonOpt,
    aws_clients,
    console,
    err_console,
    progress_bar,
)
from prefect_federation.cli._common import build_settings as _settings
from prefect_federation.cli._common import fail as _fail
from prefect_federation.status import format_duration

if TYPE_CHECKING:
    from prefect_federation.dlq import DeadLetterAction, DlqReport, DomainQueues
    from prefect_federation.queue_admin import SqsQueueAdmin

__all__ = ["dlq_app"]

NO_REASON = "(no reason recorded: SQS moved it after maxReceiveCount receives)"

dlq_app = typer.Typer(
    name="dlq",
    help="Inspect a domain's dead-letter queue; send messages back to its queue, or delete them.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

IdsArg = Annotated[
    list[str] | None,
    typer.Argument(
        help="Message ids: the DLQ id `dlq list` shows, or the id it had in the source queue.",
        show_default=False,
    ),
]
AllOpt = Annotated[bool, typer.Option("--all", help="Every message in the DLQ.")]


def _open_dlq(domain: str, credentials_block: str | None) -> tuple[SqsQueueAdmin, DomainQueues]:
    """The queue admin and the domain's queues, found by name; exit 2 when they do not exist."""
    from prefect_federation.dlq import locate_queues
    from prefect_federation.queue_admin import SqsQueueAdmin

    try:
        settings = _settings(credentials_block=credentials_block)
        [sqs] = aws_clients(settings, "sqs")
        admin = SqsQueueAdmin(sqs)
        return admin, locate_queues(admin, settings.name_prefix, domain)
    except SETUP_ERRORS as exc:
        raise _fail(str(exc)) from exc


def _selection(message_ids: list[str] | None, all_: bool, verb: str) -> list[str] | None:
    """None for --all, else the ids; exit 2 unless exactly one of the two was given."""
    if all_ and message_ids:
        raise _fail(f"give message ids or --all, not both ({verb} {' '.join(message_ids)})")
    if not all_ and not message_ids:
        raise _fail(f"name the messages to {verb}, or pass --all")
    return None if all_ else list(message_ids or [])


def _when(moment: datetime | None) -> str:
    if moment is None:
        return "-"
    ago = format_duration((datetime.now(UTC) - moment).total_seconds())
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M:%S}Z ({ago} ago)"


def _ago(moment: datetime | None) -> str:
    if moment is None:
        return "-"
    return f"{format_duration((datetime.now(UTC) - moment).total_seconds())} ago"


def _clip(text: str | None, limit: int) -> str:
    if not text:
        return "-"
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


@contextmanager
def _progress(description: str, total: int | None) -> Iterator[Any]:
    """A progress bar on stderr; yields the callback the library calls once per message."""
    with progress_bar(description, total) as (progress, task):

        def advance(_result: DeadLetterAction) -> None:
            progress.advance(task)

        yield advance


def _report(report: DlqReport, done_text: str) -> None:
    console.print(done_text, highlight=False)
    for message_id, error in report.failed.items():
        err_console.print(f"[red]failed[/red] {message_id}: {escape(error)}", highlight=False)
    for message_id in report.not_found:
        err_console.print(f"[yellow]not in the DLQ[/yellow] {message_id}", highlight=False)
    if not report.ok:
        raise typer.Exit(1)


@dlq_app.command("list")
def list_command(
    domain: DomainOpt,
    max_messages: Annotated[
        int, typer.Option("--max", min=1, help="List at most this many.")
    ] = 100,
    json_output: JsonOpt = False,
    aws_credentials_block: CredentialsOpt = None,
) -> None:
    """List the messages in the domain's DLQ (oldest first), without consuming them.

    With --json, one JSON object a line."""
    from prefect_federation.dlq import list_dead_letters

    admin, queues = _open_dlq(domain, aws_credentials_block)
    try:
        letters = list_dead_letters(admin, queues.dlq_url, max=max_messages)
    except AWS_ERRORS as exc:
        raise _fail(str(exc)) from exc
    if json_output:
        for letter in letters:
            print(letter.model_dump_json(exclude={"body", "receipt_handle"}))
        return
    if not letters:
        console.print(f"{queues.dlq_name} is empty", highlight=False)
        return
    console.print(
        f"[bold]{queues.dlq_name}[/bold]: {len(letters)} message(s), oldest first", highlight=False
    )
    for letter in letters:
        receives = "-" if letter.receive_count is None else str(letter.receive_count)
        console.print(
            f"\n[bold]{letter.message_id}[/bold]  {_ago(letter.dead_lettered_at)}  "
            f"{escape(letter.event_type or '(not an event)')}  receives: {receives}",
            highlight=False,
        )
        reason = _clip(letter.reason, 300) if letter.reason else NO_REASON
        console.print(Padding(Text(reason), (0, 0, 0, 2), expand=False))
    more = (
        f"; there may be more than {max_messages} (--max)" if len(letters) >= max_messages else ""
    )
    console.print(
        f"\nthe whole message: prefect-federation dlq show ID --domain {domain}{more}",
        highlight=False,
    )


@dlq_app.command("show")
def show_command(
    message_id: Annotated[str, typer.Argument(help="The DLQ id (or source-queue id).")],
    domain: DomainOpt,
    json_output: JsonOpt = False,
    aws_credentials_block: CredentialsOpt = None,
) -> None:
    """Show one dead-lettered message in full: why, from where, its attributes and body."""
    from prefect_federation.dlq import find_dead_letter

    admin, queues = _open_dlq(domain, aws_credentials_block)
    try:
        letter = find_dead_letter(admin, queues.dlq_url, message_id)
    except AWS_ERRORS as exc:
        raise _fail(str(exc)) from exc
    if letter is None:
        raise _fail(f"no message {message_id!r} in {queues.dlq_name}", code=1)
    if json_output:
        print(letter.model_dump_json(exclude={"receipt_handle"}, indent=2))
        return
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(overflow="fold")
    rows = [
        ("id", letter.message_id),
        ("source queue id", letter.original_message_id or "-"),
        ("source queue", letter.source_queue or "-"),
        ("dead-lettered", _when(letter.dead_lettered_at)),
        ("receives", str(letter.receive_count) if letter.receive_count is not None else "-"),
        ("event", f"{letter.event_type or '-'} {letter.event_id or ''}".strip()),
        ("event source", letter.event_source or "-"),
        ("message group", letter.group_id or "-"),
        ("reason", letter.reason or NO_REASON),
    ]
    for name, value in rows:
        grid.add_row(name, escape(value))
    others = {k: v for k, v in letter.attributes.items() if not k.startswith("federation-")}
    for name, value in sorted(others.items()):
        grid.add_row(f"attribute {escape(name)}", escape(value))
    console.print(grid)
    console.print("[bold]body[/bold]")
    try:
        body = json.dumps(json.loads(letter.body), indent=2, ensure_ascii=False)
    except ValueError:
        body = letter.body
    console.print(escape(body), highlight=False, soft_wrap=True)


@dlq_app.command("redrive")
def redrive_command(
    domain: DomainOpt,
    message_ids: IdsArg = None,
    all_: AllOpt = False,
    aws_credentials_block: CredentialsOpt = None,
) -> None:
    """Send messages back to the domain's queue (once the cause is fixed), then delete them from
    the DLQ. They go back without the `federation-*` attributes the DLQ added."""
    from prefect_federation.dlq import queue_depth, redrive

    wanted = _selection(message_ids, all_, "redrive")
    admin, queues = _open_dlq(domain, aws_credentials_block)
    try:
        total = queue_depth(admin, queues.dlq_url) if wanted is None else len(wanted)
        with _progress(f"redriving to {queues.queue_name}", total) as advance:
            report = redrive(admin, queues.dlq_url, queues.queue_url, wanted, on_progress=advance)
    except AWS_ERRORS as exc:
        raise _fail(str(exc)) from exc
    _report(
        report,
        f"redrove {len(report.done)} message(s) from {queues.dlq_name} to {queues.queue_name}",
    )


@dlq_app.command("purge")
def purge_command(
    domain: DomainOpt,
    message_ids: IdsArg = None,
    all_: AllOpt = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    aws_credentials_block: CredentialsOpt = None,
) -> None:
    """Delete messages from the domain's DLQ for good (asks first unless --yes)."""
    from prefect_federation.dlq import purge, queue_depth

    wanted = _selection(message_ids, all_, "purge")
    admin, queues = _open_dlq(domain, aws_credentials_block)
    try:
        total = queue_depth(admin, queues.dlq_url) if wanted is None else len(wanted)
    except AWS_ERRORS as exc:
        raise _fail(str(exc)) from exc
    if wanted is None and total == 0:
        console.print(f"{queues.dlq_name} is empty: nothing to delete", highlight=False)
        return
    if not yes:
        what = f"all {total} message(s)" if wanted is None else f"{total} message(s)"
        if not typer.confirm(f"Delete {what} from {queues.dlq_name} for good?", default=False):
            err_console.print("nothing deleted")
            raise typer.Exit(1)
    try:
        with _progress(f"purging {queues.dlq_name}", total) as advance:
            report = purge(admin, queues.dlq_url, wanted, on_progress=advance)
    except AWS_ERRORS as exc:
        raise _fail(str(exc)) from exc
    _report(report, f"deleted {len(report.done)} message(s) from {queues.dlq_name}")
