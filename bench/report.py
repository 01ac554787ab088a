"""The bench's table as Markdown, and the README block it regenerates.

`python -m bench --readme README.md` replaces what stands between `BEGIN` and `END` in that file
with the table of the run just made (every figure beside its target and the peers' figures), so
the README's Measured section says what the last full run measured, not what someone copied.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .common import Figure, Result, machine, versions

BEGIN = "<!-- bench:begin (python -m bench --readme README.md writes this block) -->"
END = "<!-- bench:end -->"


def fmt(value: float | None, unit: str = "") -> str:
    if value is None:
        return "-"
    digits = 2 if abs(value) < 100 else 0
    return f"{value:.{digits}f}{(' ' + unit) if unit else ''}"


def verdict(figure: Figure, yes: str, no: str) -> str:
    """Met or not (`yes` / `no`, as the table marks them), with the means a target judged."""
    met = figure.met()
    if met is None:
        return ""
    means = [f"mean {fmt(t.value_of(figure.samples))}" for t in figure.targets if t.stat == "mean"]
    return (yes if met else no) + (f" ({', '.join(means)})" if means else "")


def figure_cells(name: str, figure: Figure, yes: str, no: str) -> tuple[str, ...]:
    """One figure's row, the console's and the README's: benchmark, figure, median, max, n,
    target, met, note."""
    return (
        name,
        figure.metric,
        fmt(figure.median, figure.unit),
        fmt(figure.maximum, figure.unit),
        str(figure.count),
        "; ".join(f"{t} {figure.unit}".strip() for t in figure.targets),
        verdict(figure, yes, no),
        figure.note,
    )


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown(results: Sequence[Result], heading: str) -> str:
    """One table: benchmark, figure, median, max, n, target, met, note; peers in italics."""
    lines = [
        heading,
        "",
        "| benchmark | figure | median | max | n | target | met | note |",
        "|---|---|---:|---:|---:|---|---|---|",
    ]
    for result in results:
        if result.error:
            lines.append(f"| {result.name} | failed | | | | | | {_cell(result.error)} |")
        for index, figure in enumerate(result.figures):
            cells = figure_cells(result.name if index == 0 else "", figure, "**yes**", "**no**")
            lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
        for peer in result.peers:
            lines.append(
                f"| | *peer: {_cell(peer.what)}* | *{fmt(peer.median, peer.unit)}* | "
                f"*{fmt(peer.maximum, peer.unit)}* | {peer.n or '-'} | | | |"
            )
    return "\n".join(lines) + "\n"


def replace_block(text: str, block: str, where: str) -> str:
    """`text` with what lies between BEGIN and END replaced by `block` (ValueError if absent)."""
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < start:
        raise ValueError(
            f"{where} has no block to regenerate: put the lines {BEGIN!r} and {END!r} "
            "where the bench's table goes"
        )
    return text[: start + len(BEGIN)] + "\n" + block + text[end:]


def heading(facts: dict[str, Any], found: dict[str, str], when: datetime) -> str:
    """What the table was measured on: when, the machine, the versions."""
    load = ", ".join(f"{v:g}" for v in facts["load_average"])
    return (
        f"`python -m bench`, {when:%Y-%m-%d %H:%M} UTC, on {facts['cores']} cores "
        f"({facts['cpu'] or 'cpu unknown'}), load average {load} at the end; "
        + ", ".join(f"{k} {v}" for k, v in found.items())
        + "."
    )


def write_readme(path: Path, results: Sequence[Result]) -> None:
    """Regenerate `path`'s bench block from `results` (checked before the run: `check_readme`)."""
    head = heading(machine(), versions(), datetime.now(UTC))
    path.write_text(replace_block(path.read_text(), markdown(results, head), str(path)))


def check_readme(path: Path) -> None:
    """Before an ~15 min run: the file exists and has its block (ValueError naming what not)."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise ValueError(f"--readme {path}: {exc.strerror or exc}") from None
    replace_block(text, "", str(path))
