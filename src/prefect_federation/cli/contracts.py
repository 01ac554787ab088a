"""`prefect-federation contracts export` and the contract half of `check` (`--against`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from prefect_federation.cli._common import (
    DeclarationsOpt,
    build_settings,
    console,
    err_console,
    fail,
)
from prefect_federation.errors import ConfigError

__all__ = ["AgainstOpt", "contracts_app", "run_check"]

contracts_app = typer.Typer(
    help="Event contracts: the JSON Schema of each published type's data.",
    no_args_is_help=True,
)

AgainstOpt = Annotated[
    str | None,
    typer.Option(
        "--against",
        help="Compare each contract with its last version: a directory written by `contracts "
        "export`, or a git ref (e.g. main); a breaking change without a new major version fails.",
    ),
]


@contracts_app.command("export")
def export(
    declarations: DeclarationsOpt = None,
    output: Annotated[
        Path, typer.Option("--output", "-o", help="The directory to write (created).")
    ] = Path("contracts"),
) -> None:
    """Write each published type's JSON Schema (one file a type and major version) and an
    index.json, for other teams, other languages, a schema registry."""
    from prefect_federation.contracts.export import export_contracts
    from prefect_federation.contracts.models import project_root
    from prefect_federation.contracts.registry import ContractRegistry
    from prefect_federation.declarations import load_federation

    settings = build_settings(declarations)
    try:
        federation = load_federation(settings.declarations)
        registry = ContractRegistry.from_federation(federation, project_root(settings.declarations))
    except ConfigError as exc:
        raise fail(str(exc)) from exc
    written = export_contracts(list(registry.contracts.values()), output)
    for path in written:
        console.print(str(path), highlight=False)


def run_check(declarations: Path | None, json_output: bool, against: str | None) -> None:
    """`check`: load every declaration, check every subscription against both sides, and
    (with `--against`) every contract against its last version; exit 2 on any error."""
    from prefect_federation.contracts.check import check_subscriptions, load_all
    from prefect_federation.contracts.models import project_root
    from prefect_federation.contracts.problems import Problem
    from prefect_federation.contracts.registry import contracts_of
    from prefect_federation.contracts.targets import Targets

    settings = build_settings(declarations)
    try:
        federation, problems = load_all(settings.declarations)
    except ConfigError as exc:
        raise fail(str(exc)) from exc
    notes: list[str] = []
    if not problems:  # the cross-checks need every declaration
        root = project_root(settings.declarations)
        contracts, failed = contracts_of(list(federation), root)
        problems += [
            Problem("contract-import", error, producer=domain, field=f"publishes {event_type}")
            for domain, event_type, error in failed
        ]
        problems += check_subscriptions(federation, contracts, Targets(root))
        if against is not None:
            problems_against, notes = _against(federation, contracts, against, settings, root)
            problems += problems_against
    errors = [p for p in problems if p.severity == "error"]
    if json_output:
        dumped = [d.model_dump(mode="json", by_alias=True, exclude_none=True) for d in federation]
        document: dict[str, Any] = {
            "ok": not errors,
            "domains": dumped,
            "problems": [p.as_dict() for p in problems],
            "notes": notes,
        }
        print(json.dumps(document, indent=2))
    else:
        for problem in problems:
            colour = "red" if problem.severity == "error" else "yellow"
            err_console.print(f"[{colour}]{problem.severity}:[/{colour}] ", end="")
            err_console.print(problem.text(), highlight=False, markup=False, soft_wrap=True)
        for note in notes:
            err_console.print(note, highlight=False, markup=False, soft_wrap=True)
        if not errors:
            _print_table(federation)
        elif len(errors) > 1:
            err_console.print(f"{len(errors)} errors", highlight=False)
    if errors:
        raise typer.Exit(2)


def _against(
    federation: Any, contracts: dict[str, Any], against: str, settings: Any, root: Path
) -> tuple[list[Any], list[str]]:
    from prefect_federation.contracts.compat import compare, readers_of
    from prefect_federation.contracts.export import baseline_from_git, read_exported

    try:
        if Path(against).is_dir():
            baseline = read_exported(Path(against))
        else:
            baseline = baseline_from_git(against, root, settings.declarations)
    except ConfigError as exc:
        raise fail(str(exc)) from exc
    problems: list[Any] = []
    notes: list[str] = []
    for event_type, contract in sorted(contracts.items()):
        old = baseline.get(event_type)
        if old is None:
            notes.append(f"{event_type} v{contract.version}: new contract")
            continue
        found, said = compare(old, contract, readers_of(federation, event_type))
        problems += found
        notes += said
    return problems, notes


def _print_table(federation: Any) -> None:
    from rich.table import Table

    table = Table("domain", "publishes", "subscribes to -> deployment")
    for domain in federation:
        table.add_row(
            domain.domain,
            "\n".join(f"{p.type} v{p.version}" for p in domain.publishes) or "-",
            "\n".join(f"{s.label} -> {s.deployment}" for s in domain.subscribes) or "-",
        )
    console.print(table)
