"""Every command an error message (or any other text the code prints) suggests exists and takes
the options it names: each is collected from the source and asked for `--help`."""

from __future__ import annotations

import ast
from collections.abc import Iterator

import pytest

from .cli_commands import COMMAND, ROOT, CommandLine, prefetch, problems_of

SOURCES = [ROOT / "src" / "prefect_federation", ROOT / "blocks", ROOT / "flows"]


def _docstrings(tree: ast.AST) -> set[int]:
    """ids of the docstring nodes: they describe code, they are not shown to a user."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                found.add(id(body[0].value))
    return found


def _text(node: ast.AST) -> str | None:
    """A string literal's text; an f-string's placeholders become `X`."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(
            str(part.value) if isinstance(part, ast.Constant) else "X" for part in node.values
        )
    return None


def suggested_commands() -> Iterator[tuple[str, str]]:
    """(where, command) for every backticked command in a string the code can print."""
    for root in SOURCES:
        for path in sorted(root.rglob("*.py")):
            tree = ast.parse(path.read_text(), filename=str(path))
            skip = _docstrings(tree)
            inside_fstrings = {
                id(part)
                for node in ast.walk(tree)
                if isinstance(node, ast.JoinedStr)
                for part in node.values
            }
            for node in ast.walk(tree):
                if id(node) in skip or id(node) in inside_fstrings:
                    continue
                text = _text(node)
                if not text:
                    continue
                for quoted in text.split("`")[1::2]:
                    if COMMAND.fullmatch(quoted):
                        yield f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', 0)}", quoted


SUGGESTED: dict[str, list[str]] = {}
for _where, _command in suggested_commands():
    SUGGESTED.setdefault(_command, []).append(_where)


def test_the_collector_finds_the_suggestions_in_error_texts() -> None:
    assert "prefect-federation provision" in SUGGESTED  # connect.py: no topic / no queue
    assert "prefect-federation listen --domain X" in SUGGESTED  # status.py, an f-string
    assert "prefect block ls" in SUGGESTED  # Prefect's own commands too
    assert len(SUGGESTED) >= 5


@pytest.fixture(scope="module", autouse=True)
def _helps_side_by_side() -> None:
    prefetch(CommandLine.parse(command) for command in SUGGESTED)


@pytest.mark.parametrize("command", sorted(SUGGESTED))
def test_a_suggested_command_exists_and_takes_the_options_it_names(command: str) -> None:
    assert problems_of(CommandLine.parse(command)) == [], f"suggested in {SUGGESTED[command]}"
