"""`python -m bench`: run the benchmarks, print our figures beside the targets and the peers'.

    python -m bench                          # every benchmark, full size (~15 min on 2 cores)
    python -m bench --only e2e_latency       # one (or a comma-separated few)
    python -m bench --quick                  # small n: a smoke run
    python -m bench --events 50              # n of e2e_latency and throughput
    python -m bench --runner process         # what runs the downstream flows (bench/runners.py)
    python -m bench --only scaled            # the scaled profile: 1 vs 2 API processes, listeners
    python -m bench --readme README.md       # every benchmark, then its table into the README

Each benchmark writes its raw samples to bench/results/<name>-<timestamp>.json. Every process a
benchmark starts is stopped when it ends, on failure or on Ctrl-C.
"""

from __future__ import annotations

import os

# No internet: before anything imports Prefect.
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ["DO_NOT_TRACK"] = "1"

import argparse
import signal
import sys
import time
import traceback
from pathlib import Path
from types import ModuleType
from typing import Any

from rich.console import Console
from rich.table import Table

from . import cli_startup, demo_startup, e2e_latency, footprint, scaled, throughput
from .common import (
    DEFAULT_POSTGRES,
    PEERS_PATH,
    RESULTS_DIR,
    Options,
    Result,
    load_peers,
    machine,
    versions,
    write_result,
)
from .report import check_readme, figure_cells, fmt, write_readme
from .runners import RUNNERS

BENCHMARKS: dict[str, ModuleType] = {
    module.NAME: module
    for module in (e2e_latency, throughput, footprint, demo_startup, cli_startup, scaled)
}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description="prefect-federation benchmarks"
    )
    parser.add_argument(
        "--only",
        metavar="NAME",
        help=f"comma-separated benchmarks to run (of: {', '.join(BENCHMARKS)})",
    )
    parser.add_argument("--quick", action="store_true", help="small n: a smoke run")
    parser.add_argument(
        "--events", type=int, metavar="N", help="events per run (e2e_latency, throughput)"
    )
    parser.add_argument(
        "--runner",
        default="fork",
        choices=sorted(RUNNERS),
        help="what runs the downstream flow runs (default: fork)",
    )
    parser.add_argument(
        "--postgres",
        default=os.environ.get("PREFECT_FEDERATION_BENCH_POSTGRES", DEFAULT_POSTGRES),
        metavar="URL",
        help="PostgreSQL server for the Prefect server's database (a database is created per "
        f"run and dropped; default {DEFAULT_POSTGRES})",
    )
    parser.add_argument(
        "--window",
        type=float,
        metavar="S",
        help="e2e_latency: publish at a random point of S seconds (default the 20 s long poll)",
    )
    parser.add_argument(
        "--readme",
        type=Path,
        metavar="FILE",
        help="after a full run, write its table into FILE between the bench's markers "
        "(README.md's Measured section)",
    )
    parser.add_argument("--keep", action="store_true", help="keep each benchmark's temp dir")
    parser.add_argument(
        "--results", type=Path, default=RESULTS_DIR, help="where the JSON results go"
    )
    args = parser.parse_args(argv)
    if args.events is not None and args.events < 1:
        parser.error("--events must be at least 1")
    names = [n.strip() for n in (args.only or ",".join(BENCHMARKS)).split(",") if n.strip()]
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}")
    args.names = names
    if args.readme is not None:
        given = {
            "--only": args.only is not None,
            "--quick": args.quick,
            "--events": args.events is not None,
            "--window": args.window is not None,
        }
        partial = [flag for flag, on in given.items() if on]
        if partial:
            parser.error(
                f"--readme writes the whole table of a full run: not with {', '.join(partial)}"
            )
        try:
            check_readme(args.readme)
        except ValueError as exc:
            parser.error(str(exc))
    return args


def render(console: Console, results: list[Result], peers: dict[str, Any] | None) -> None:
    facts = machine()
    found = versions()
    console.print(
        f"machine: {facts['cores']} cores, {facts['memory_gib']} GiB ({facts['cpu']}), load "
        f"average now {facts['load_average'][1]} (5 min); "
        + ", ".join(f"{k} {v}" for k, v in found.items()),
        highlight=False,
    )
    table = Table(title="prefect-federation benchmarks", title_justify="left", show_lines=False)
    for column, justify in (
        ("benchmark", "left"),
        ("metric", "left"),
        ("median", "right"),
        ("max", "right"),
        ("n", "right"),
        ("target", "left"),
        ("met", "left"),
        ("note", "left"),
    ):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for result in results:
        if result.error:
            table.add_row(result.name, "[red]failed[/red]", "", "", "", "", "", result.error)
        for index, figure in enumerate(result.figures):
            name = result.name if index == 0 else ""
            table.add_row(*figure_cells(name, figure, "[green]yes[/green]", "[red]no[/red]"))
        for peer in result.peers:
            table.add_row(
                "",
                f"[dim]peer: {peer.what}[/dim]",
                f"[dim]{fmt(peer.median, peer.unit)}[/dim]",
                f"[dim]{fmt(peer.maximum, peer.unit)}[/dim]",
                f"[dim]{peer.n or '-'}[/dim]",
                "",
                "",
                "",
            )
        table.add_section()
    console.print(table)
    if peers is None:
        console.print(f"note: no peers' figures ({PEERS_PATH} is absent)", highlight=False)
    else:
        console.print(
            f"peers: {PEERS_PATH} (measured {peers.get('measured', '?')}): "
            f"{peers.get('about', '')}",
            highlight=False,
        )
    for result in results:
        for note in result.notes:
            console.print(f"{result.name}: {note}", highlight=False)
        if result.path is not None:
            console.print(f"{result.name}: raw samples in {result.path}", highlight=False)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    console = Console() if sys.stdout.isatty() else Console(width=220)
    options = Options(
        quick=args.quick,
        events=args.events,
        runner=args.runner,
        postgres=args.postgres,
        keep=args.keep,
        poll_window=args.window,
        results_dir=args.results,
    )

    def _stopping(signum: int, _frame: Any) -> None:
        console.print(f"{signal.Signals(signum).name}: already stopping every process started")

    def _terminate(signum: int, _frame: Any) -> None:
        # Once: a second Ctrl-C must not cut short the stopping of the processes started.
        signal.signal(signal.SIGINT, _stopping)
        signal.signal(signal.SIGTERM, _stopping)
        raise KeyboardInterrupt  # unwinds every Stack: each process started is stopped

    signal.signal(signal.SIGINT, _terminate)
    signal.signal(signal.SIGTERM, _terminate)
    peers = load_peers()
    results: list[Result] = []
    interrupted = False
    for name in args.names:
        module = BENCHMARKS[name]
        console.print(f"[bold]{name}[/bold] ...", highlight=False)
        started = time.monotonic()
        load_before = os.getloadavg()[0]
        try:
            result = module.run(options)
        except KeyboardInterrupt:
            console.print(f"{name}: interrupted; every process it started is stopped")
            interrupted = True
            break
        except Exception as exc:
            traceback.print_exc()
            result = Result(name, error=f"{type(exc).__name__}: {exc}"[:300])
        result.seconds = time.monotonic() - started
        load_after = os.getloadavg()[0]
        result.raw["load_average_1min"] = {"before": load_before, "after": load_after}
        result.notes.append(
            f"load average (1 min) before/after: {load_before:.2f}/{load_after:.2f} on "
            f"{os.cpu_count()} cores"
        )
        if peers is not None:
            result.peers = module.peers(peers)
        write_result(result, options)
        console.print(f"{name}: done in {result.seconds:.0f}s", highlight=False)
        results.append(result)
    render(console, results, peers)
    if args.readme is not None and not interrupted and not any(r.error for r in results):
        write_readme(args.readme, results)
        console.print(f"{args.readme}: its bench table regenerated from this run", highlight=False)
    if interrupted:
        return 130
    return 1 if any(r.error for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
