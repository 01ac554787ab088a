"""The CLI's shape: one `fail()`, consistent options over the whole command tree, and the
listener's wiring callable without Typer."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml
from typer.testing import CliRunner

from prefect_federation.cli import app
from prefect_federation.cli._common import fail, renamed_option
from prefect_federation.errors import ConfigError
from prefect_federation.listener.service import run_listener
from prefect_federation.settings import FederationSettings

READS_STATE = {"check", "status", "trace", "explain", "dlq list", "dlq show", "replay"}
"""Commands that print what is there: each takes `--json`."""
LONG_RUNNING = {"listen", "demo", "replay", "publish"}
"""Commands that may run for long (`publish --wait`, a replay of thousands): each takes `-v`."""
OTHERS = {
    "provision": "writes; its table of actions is its report",
    "iam-policy": "prints JSON whatever the options",
    "alerts": "writes one automation per domain",
    "dlq redrive": "writes",
    "dlq purge": "writes",
    "contracts export": "writes files; prints their paths",
    "pause": "writes the pause state",
    "resume": "writes the pause state",
}
HIDDEN_ALIASES = {
    ("publish", "--source"): "--domain",
    ("replay", "--source"): "--domain",
    ("alerts", "--minutes"): "--silence-seconds",
}


def commands(group: Any = None, prefix: str = "") -> dict[str, Any]:
    """Every command of the app by its full name (`dlq list`), groups walked. (Typer brings its
    own click: the tree is walked by attributes, not by click's classes.)"""
    group = group or typer.main.get_group(app)
    found: dict[str, Any] = {}
    for name, command in group.commands.items():
        full = f"{prefix}{name}"
        if hasattr(command, "commands"):
            found |= commands(command, f"{full} ")
        else:
            found[full] = command
    return found


def options(command: Any, *, hidden: bool = False) -> set[str]:
    return {
        opt
        for param in command.params
        if param.param_type_name == "option" and bool(getattr(param, "hidden", False)) == hidden
        for opt in param.opts
    }


def test_every_command_is_classified_so_a_new_one_gets_the_options_it_needs() -> None:
    assert set(commands()) == READS_STATE | LONG_RUNNING | set(OTHERS)


@pytest.mark.parametrize("name", sorted(READS_STATE))
def test_every_command_that_reads_state_takes_json(name: str) -> None:
    assert "--json" in options(commands()[name])


@pytest.mark.parametrize("name", sorted(LONG_RUNNING))
def test_every_long_running_command_takes_verbose(name: str) -> None:
    assert {"-v", "--verbose"} <= options(commands()[name])


def test_a_domain_is_given_as_domain_on_every_command() -> None:
    for name, command in commands().items():
        visible = options(command)
        assert not visible & {"--source", "--minutes"}, name
        for param in command.params:
            if param.name in ("domain", "source") and not getattr(param, "hidden", False):
                assert param.opts == ["--domain"], name


@pytest.mark.parametrize(("where", "new"), sorted(HIDDEN_ALIASES.items()))
def test_the_old_spellings_still_work_as_hidden_aliases(where: tuple[str, str], new: str) -> None:
    name, old = where
    command = commands()[name]
    assert old in options(command, hidden=True)
    assert new in options(command)


def test_the_old_and_the_new_name_of_an_option_must_agree() -> None:
    assert renamed_option(None, "scoring", new="--domain", old="--source") == "scoring"
    assert renamed_option("scoring", None, new="--domain", old="--source") == "scoring"
    assert renamed_option("scoring", "scoring", new="--domain", old="--source") == "scoring"
    result = CliRunner().invoke(
        app, ["publish", "scoring.completed", "--domain", "scoring", "--source", "ingestion"]
    )
    assert result.exit_code == 2
    assert "--source is the old name of --domain" in result.output


def test_fail_prints_rich_markup_in_the_message_as_it_is(
    capsys: pytest.CaptureFixture[str],
) -> None:
    exit_ = fail("no file [brackets]/x.yaml; [red]not red[/red]", code=3)

    assert exit_.exit_code == 3
    err = capsys.readouterr().err
    assert "error: no file [brackets]/x.yaml; [red]not red[/red]" in err


@pytest.mark.parametrize(
    "argv",
    [
        ["check", "-d"],
        ["iam-policy", "--domain", "scoring", "--account-id", "1", "--region", "r", "-d"],
    ],
)
def test_a_commands_error_keeps_the_brackets_of_its_message(
    tmp_path: Path, argv: list[str]
) -> None:
    missing = tmp_path / "[brackets]"
    missing.mkdir()

    result = CliRunner().invoke(app, [*argv, str(missing)])

    assert result.exit_code == 2
    unwrapped = "".join(result.output.split())  # rich wraps a long path anywhere
    assert "".join(f"{missing}: no domain declarations".split()) in unwrapped


def test_check_prints_the_declarations_as_json(tmp_path: Path) -> None:
    write(tmp_path, "ingestion", publishes=[{"type": "ingestion.completed"}])
    write(tmp_path, "scoring", subscribes=[{"event": "ingestion.completed", "deployment": "f/d"}])

    result = CliRunner().invoke(app, ["check", "-d", str(tmp_path), "--json"])

    assert result.exit_code == 0, result.output
    domains = {d["domain"]: d for d in json.loads(result.stdout)["domains"]}
    assert domains["scoring"]["subscribes"][0]["deployment"] == "f/d"
    assert domains["ingestion"]["publishes"] == [{"type": "ingestion.completed", "version": 1}]


# -- run_listener, without Typer ---------------------------------------------------------------


def write(directory: Path, domain: str, **fields: Any) -> None:
    (directory / f"{domain}.yaml").write_text(yaml.safe_dump({"domain": domain, **fields}))


def test_run_listener_refuses_a_domain_that_subscribes_to_nothing(tmp_path: Path) -> None:
    write(tmp_path, "ingestion", publishes=[{"type": "ingestion.completed"}])
    settings = FederationSettings(declarations=tmp_path)

    with pytest.raises(ConfigError, match="'ingestion' subscribes to nothing"):
        run_listener("ingestion", settings, once=True)


def test_run_listener_refuses_an_unknown_domain_and_bad_settings_as_config_errors(
    tmp_path: Path,
) -> None:
    write(tmp_path, "ingestion", publishes=[{"type": "ingestion.completed"}])
    write(tmp_path, "scoring", subscribes=[{"event": "ingestion.completed", "deployment": "f/d"}])
    settings = FederationSettings(declarations=tmp_path)

    with pytest.raises(ConfigError, match="unknown domain 'billing'"):
        run_listener("billing", settings, once=True)
    with pytest.raises(ConfigError, match="wait_time_seconds"):
        run_listener("scoring", settings, once=True, wait_time=99)
