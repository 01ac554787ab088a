"""Does a command line that the docs or an error message show exist? Ask it for `--help`.

`prefect-federation ...` lines are resolved through the Typer app (in process: its click command
tree names every option); `prefect ...` and `python blocks/<script>.py ...` lines run
`<command> --help` in a subprocess and look for each option in its output.
"""

from __future__ import annotations

import functools
import os
import re
import subprocess
import sys
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer
from typer.testing import CliRunner

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent

COMMAND = re.compile(
    r"(?:prefect-federation|prefect|python3? blocks/[\w-]+\.py)(?= |$)(?: [^`\n]*)?"
)
"""A command line of ours, Prefect's or a block script's (in backticks, or after a `$ ` prompt)."""

WORD = re.compile(r"^[a-z][a-z0-9-]*$")


@dataclass(frozen=True)
class CommandLine:
    """`program words... --options...`: the words before the first option, and the options."""

    program: tuple[str, ...]
    words: tuple[str, ...]
    options: tuple[str, ...]

    @classmethod
    def parse(cls, text: str) -> CommandLine:
        tokens = text.replace("\\\n", " ").split()
        size = 2 if tokens[0].startswith("python") else 1
        program, rest = tuple(tokens[:size]), tokens[size:]
        words: list[str] = []
        for token in rest:
            if token.startswith("-") or not WORD.match(token):
                break
            words.append(token)
        options = tuple(
            token.split("=", 1)[0] for token in rest if re.match(r"^--?[a-zA-Z][\w-]*", token)
        )
        return cls(program, tuple(words), options)

    def __str__(self) -> str:
        return " ".join((*self.program, *self.words, *self.options))


def problems_of(line: CommandLine) -> list[str]:
    """What is wrong with `line`: a command that does not exist, options it does not take."""
    if line.program == ("prefect-federation",):
        return _ours(line)
    return _by_subprocess(line)


def _ours(line: CommandLine) -> list[str]:
    from prefect_federation.cli import app

    command: Any = typer.main.get_command(app)
    path: list[str] = []
    for word in line.words:
        if not hasattr(command, "commands"):
            break  # a command, not a group: the rest are its arguments
        sub = command.commands.get(word)
        if sub is None:
            return [f"`{line}`: `prefect-federation {' '.join([*path, word])}` does not exist"]
        command, path = sub, [*path, word]
    result = CliRunner().invoke(app, [*path, "--help"])
    if result.exit_code != 0:
        return [f"`{line}`: `--help` exited {result.exit_code}: {result.output[-500:]}"]
    known = {opt for param in command.params for opt in (*param.opts, *param.secondary_opts)}
    where = f"prefect-federation {' '.join(path)}".strip()
    return [f"`{line}`: `{where}` has no option {o}" for o in line.options if o not in known]


def prefetch(lines: Iterable[CommandLine]) -> None:
    """Run the subprocess `--help`s of `lines` side by side (each takes seconds: imports)."""
    commands = {_help_command(line) for line in lines if line.program != ("prefect-federation",)}
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(_help, commands))


def _help_command(line: CommandLine) -> tuple[str, ...]:
    if line.program[0].startswith("python"):  # argparse: one --help shows every option
        return (sys.executable, line.program[1])
    return (str(BIN / line.program[0]), *line.words)


def _by_subprocess(line: CommandLine) -> list[str]:
    code, output = _help(_help_command(line))
    if code != 0:
        return [f"`{line}`: `--help` exited {code}: {output[-500:]}"]
    named = set(re.findall(r"(?<![\w-])--?[a-zA-Z][\w-]*", output))
    return [f"`{line}`: its --help names no option {o}" for o in line.options if o not in named]


@functools.cache
def _help(command: tuple[str, ...]) -> tuple[int, str]:
    env = {**os.environ, "COLUMNS": "300", "NO_COLOR": "1"}
    done = subprocess.run(
        [*command, "--help"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180
    )
    return done.returncode, done.stdout + done.stderr
