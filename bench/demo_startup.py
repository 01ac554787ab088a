"""demo_startup: `prefect-federation demo --once --home <tmp>` from its start to the first run
created by an event, and to the whole chain completed: fresh (an empty home), then again
reusing that home (its Prefect database and deployments), with the load average beside each.

The demo prints each step with its own elapsed time (from when the demo began, after the CLI's
imports); the bench stamps each line as it arrives too, and adds the demo's start-up (the first
line's arrival minus its printed time) to the printed times, so the figures count from the
process start. It starts its own moto server and Prefect server (SQLite, fresh database).
"""

from __future__ import annotations

import os
import re
import sys
import time
from pathlib import Path
from typing import Any

from prefect_federation.local import Stack, quiet_env

from .common import ROOT, Figure, Options, Peer, Result, Target, bench_home

NAME = "demo_startup"
LINE = re.compile(r"^\s*(\d+(?:\.\d+)?)s (.*)$")
STAGES = (  # (key, a pattern of the demo's line)
    ("prefect_starting", r"starting a Prefect server"),
    ("aws", r"AWS endpoint|^AWS:"),
    ("provisioned", r"^provisioned "),
    ("prefect_ready", r"^Prefect API"),
    ("blocks_saved", r"^saved blocks"),
    ("deployed", r"^deployed "),
    ("domains_started", r"^started .* per domain"),
    ("published", r"^published "),
    ("first_run_created", r" created by "),
    ("chain_completed", r"the whole chain completed"),
)
COMPLETED = re.compile(r"(\d+) runs in (\d+(?:\.\d+)?)s after the first event")


def _message(line: str) -> str:
    """The demo's line without its elapsed-time prefix."""
    match = LINE.match(line)
    return match.group(2) if match else line


def follow(process: Any, timeout: float) -> list[tuple[float, float | None, str]]:
    """(arrival since start, the demo's printed time, text) of each output line, until exit."""
    started = time.monotonic()
    lines: list[tuple[float, float | None, str]] = []
    seen = 0
    while True:
        text = process.output()
        complete = text[: text.rfind("\n") + 1] if "\n" in text else ""
        now = time.monotonic() - started
        for line in complete.splitlines()[seen:]:
            match = LINE.match(line)
            lines.append((now, float(match.group(1)) if match else None, line))
            seen += 1
        if not process.alive():
            return lines
        if now > timeout:
            raise TimeoutError(f"the demo did not finish within {timeout:.0f}s")
        time.sleep(0.05)


def demo_command(home: Path) -> tuple[str, dict[str, str]]:
    """The CLI and the environment of a demo that starts its own moto and Prefect servers."""
    cli = str(Path(sys.executable).with_name("prefect-federation"))
    env = quiet_env({"PREFECT_HOME": str(home / "client")})
    for name in (
        "PREFECT_API_URL",
        "AWS_ENDPOINT_URL",
        "PREFECT_FEDERATION_AWS_CREDENTIALS_BLOCK",
        "PREFECT_API_DATABASE_CONNECTION_URL",
    ):
        env.pop(name, None)  # the demo starts its own moto server and Prefect server
    return cli, env


def one_run(stack: Stack, home: Path, demo_home: Path) -> dict[str, Any]:
    """One `demo --once` in `demo_home`; its printed stages, start-up offset, wall time, lines."""
    cli, env = demo_command(home)
    load_before = os.getloadavg()[0]
    started = time.monotonic()
    process = stack.start(
        "demo", [cli, "demo", "--once", "--timeout", "300", "--home", str(demo_home)], env, cwd=ROOT
    )
    try:
        lines = follow(process, timeout=600)
    finally:
        process.stop(grace=60)  # the demo stops its own processes on SIGTERM
        Stack(demo_home).stop()  # and whatever it recorded and did not stop
    wall = time.monotonic() - started
    if process.popen.returncode != 0:
        raise RuntimeError(f"the demo exited {process.popen.returncode}:\n{process.tail(15)}")
    printed = [(arrival, at, text) for arrival, at, text in lines if at is not None]
    offset = printed[0][0] - (printed[0][1] or 0.0) if printed else 0.0
    stages: dict[str, float] = {}
    for key, pattern in STAGES:
        at = next((at for _, at, text in printed if re.search(pattern, _message(text))), None)
        if at is not None:
            stages[key] = at
    summary = next((COMPLETED.search(t) for _, _, t in printed if COMPLETED.search(t)), None)
    if "first_run_created" not in stages or "chain_completed" not in stages:
        raise RuntimeError("the demo's output has no 'created by' or 'chain completed' line")
    return {
        "stages_printed_s": stages,
        "startup_offset_s": offset,
        "wall_s": wall,
        "chain_s": float(summary.group(2)) if summary else None,
        "runs": int(summary.group(1)) if summary else None,
        "load_average_1min": {"before": load_before, "after": os.getloadavg()[0]},
        "lines": [{"arrival_s": a, "printed_s": p, "text": t} for a, p, t in lines],
    }


def run(options: Options) -> Result:
    """Twice in one home: fresh (no `.federation/`), then reusing it (its Prefect database and
    deployments)."""
    result = Result(NAME)
    with bench_home(NAME, options) as home, Stack(home / "bench") as stack:
        runs = {which: one_run(stack, home, home / "demo") for which in ("fresh", "reusing")}
    result.raw = runs
    for which, measured in runs.items():
        stages, offset = measured["stages_printed_s"], measured["startup_offset_s"]
        load = measured["load_average_1min"]
        result.figures += [
            Figure(
                f"start -> first run created by an event ({which})",
                "s",
                [offset + stages["first_run_created"]],
                note=f"CLI start-up {offset:.1f}s before the demo's clock",
            ),
            Figure(
                f"start -> whole chain completed ({which})",
                "s",
                [offset + stages["chain_completed"]],
                (Target("median", "<=", 25.0 if which == "fresh" else 15.0),),
                f"load average {load['before']:.1f} -> {load['after']:.1f}",
            ),
        ]
        if measured["chain_s"] is not None:
            result.figures.append(
                Figure(
                    f"  first event -> chain completed ({which})",
                    "s",
                    [measured["chain_s"]],
                    note=f"{measured['runs']} runs",
                )
            )
        if "prefect_starting" in stages and "prefect_ready" in stages:
            result.figures.append(
                Figure(
                    f"  Prefect server start -> /api/health ({which} SQLite)",
                    "s",
                    [stages["prefect_ready"] - stages["prefect_starting"]],
                )
            )
        steps = [(k, stages[k]) for k, _ in STAGES if k in stages]
        result.notes.append(
            f"demo timeline, {which} (printed s): " + ", ".join(f"{k} {v:.1f}" for k, v in steps)
        )
        result.notes.append(f"demo ({which}): process exit after {measured['wall_s']:.1f}s")
    return result


def peers(document: dict[str, Any]) -> list[Peer]:
    rows = []
    for p in document.get("startup_s", []):
        if "values" in p:
            values = sorted(p["values"])
            rows.append(Peer(p["what"], "s", values[len(values) // 2], values[-1], len(values)))
        else:
            rows.append(Peer(p["what"], "s", p.get("median", p.get("value")), p.get("max")))
    return rows
