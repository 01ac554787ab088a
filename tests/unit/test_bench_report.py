"""`python -m bench --readme`: the run's table as Markdown, written between the README's markers,
and refused before a ~15 min run when it could not be written or would hold part of a run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from bench.common import Figure, Peer, Result, Target
from bench.report import BEGIN, END, check_readme, markdown, replace_block

ROOT = Path(__file__).resolve().parents[2]


def results() -> list[Result]:
    e2e = Result(
        "e2e_latency",
        figures=[
            Figure("publish -> first line", "s", [0.1, 0.3, 0.2], (Target("median", "<=", 0.2),)),
            Figure("a | pipe", "s", [0.5], note="one\nsample"),
        ],
        peers=[Peer("Airflow sensor", "s", 23.6, 59.5, 10)],
    )
    cpu = Result("footprint", figures=[Figure("CPU", "%", [0.4, 2.0], (Target("mean", "<", 1),))])
    return [e2e, cpu, Result("throughput", error="RuntimeError: no server")]


def test_every_figure_is_a_row_beside_its_target_verdict_and_the_peers() -> None:
    table = markdown(results(), "heading").splitlines()

    assert table[0] == "heading"
    assert table[2].startswith("| benchmark | figure | median | max | n | target | met |")
    assert (
        "| e2e_latency | publish -> first line | 0.20 s | 0.30 s | 3 | median <= 0.2 s | **yes** |"
        in table[4]
    )
    assert table[5] == r"|  | a \| pipe | 0.50 s | - | 1 |  |  | one sample |"
    assert table[6] == "| | *peer: Airflow sensor* | *23.60 s* | *59.50 s* | 10 | | | |"
    assert "| footprint | CPU | 1.20 % | 2.00 % | 2 | mean < 1 % | **no** (mean 1.20) |" in table[7]
    assert table[8] == "| throughput | failed | | | | | | RuntimeError: no server |"


def test_the_block_between_the_markers_is_replaced_and_the_rest_kept() -> None:
    text = f"# Title\n\n{BEGIN}\nold table\n{END}\n\nafter\n"

    assert replace_block(text, "new\n", "README.md") == f"# Title\n\n{BEGIN}\nnew\n{END}\n\nafter\n"


@pytest.mark.parametrize("text", ["no markers", f"{END}\n{BEGIN}\n"])
def test_a_file_without_its_block_is_refused_naming_the_markers(text: str, tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(text)

    with pytest.raises(ValueError, match=f"{readme} has no block to regenerate.*bench:begin"):
        check_readme(readme)


def test_the_project_readme_has_the_block() -> None:
    check_readme(ROOT / "README.md")


@pytest.mark.parametrize(
    ("flags", "named"),
    [
        (["--quick"], "--quick"),
        (["--only", "footprint"], "--only"),
        (["--events", "5"], "--events"),
    ],
)
def test_a_partial_run_is_refused_before_it_starts(flags: list[str], named: str) -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "bench", "--readme", "README.md", *flags],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert completed.returncode == 2
    assert f"--readme writes the whole table of a full run: not with {named}" in completed.stderr
