"""`python -m bench.soak`: the reliability scenarios at full size, with the counts.

    python -m bench.soak                       # all four, full size (~15 min on 2 cores)
    python -m bench.soak --only crash          # one (or a comma-separated few)
    python -m bench.soak --events 200 --kills 5 --outage 20

Starts its own moto server and `prefect server start` (SQLite, in a temporary home), and for each
scenario its own domains and listener processes (see bench/chaos/):

- crash:          1,000 events at a steady pace, the listener SIGKILLed 20 times and restarted;
- prefect-outage: the Prefect server stopped for a minute mid-stream, started on the same port;
- aws-outage:     the listener's AWS endpoint (a TCP proxy to moto) closed for a minute;
- scale-out:      two listener processes on one queue, 1,000 events, every 4th published twice.

Each prints events, deliveries, expected runs, runs, lost, duplicates and the queue/DLQ depths;
the exit code is 0 when every scenario lost nothing and made nothing twice. Every process is
stopped at the end, on failure or Ctrl-C.
"""

from __future__ import annotations

import os

os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ["DO_NOT_TRACK"] = "1"

import argparse
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path

from bench.chaos import (
    Tally,
    aws_outage_scenario,
    crash_scenario,
    prefect_outage_scenario,
    scale_out_scenario,
    start_prefect_server,
)
from prefect_federation.local import LocalFederation

SCENARIOS = ("crash", "prefect-outage", "aws-outage", "scale-out")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.soak", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--only", default=",".join(SCENARIOS), help="comma-separated scenarios")
    parser.add_argument("--events", type=int, default=1000, help="events (crash, scale-out)")
    parser.add_argument("--kills", type=int, default=20, help="SIGKILLs (crash)")
    parser.add_argument("--rate", type=float, default=8.0, help="events per second (crash)")
    parser.add_argument("--outage", type=float, default=60.0, help="outage seconds")
    parser.add_argument("--outage-events", type=int, default=300, help="events (outages)")
    parser.add_argument("--seed", type=int, default=None, help="seed of the kill moments")
    parser.add_argument(
        "--prefect-client-retries",
        type=int,
        default=None,
        help="PREFECT_CLIENT_MAX_RETRIES of the prefect-outage listener (default: Prefect's, 5, "
        "which absorbs ~60 s of outage inside the client; 0 tests the listener's own back-off)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs)")
    args = parser.parse_args(argv)
    chosen = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = sorted(set(chosen) - set(SCENARIOS))
    if unknown:
        parser.error(f"unknown scenario(s) {unknown}; choose from {', '.join(SCENARIOS)}")

    workdir = Path(tempfile.mkdtemp(prefix="prefect-federation-soak-"))
    began = time.monotonic()

    def log(message: str) -> None:
        print(f"{time.monotonic() - began:7.1f}s {message}", flush=True)

    tallies: list[Tally] = []
    failures: list[str] = []
    try:
        with LocalFederation(workdir / "stack") as federation:
            aws = federation.start_aws()
            log(f"moto server at {aws}")
            api = start_prefect_server(federation, workdir / "prefect-home")
            log(f"Prefect server at {api}")
            outage_rate = max(1.0, args.outage_events / (args.outage + 30))
            runs = {
                "crash": lambda: crash_scenario(
                    federation,
                    workdir,
                    events=args.events,
                    kills=args.kills,
                    rate=args.rate,
                    seed=args.seed,
                    log=log,
                ),
                "prefect-outage": lambda: prefect_outage_scenario(
                    federation,
                    workdir,
                    events=args.outage_events,
                    rate=outage_rate,
                    outage_after=10,
                    outage_seconds=args.outage,
                    client_retries=args.prefect_client_retries,
                    log=log,
                ),
                "aws-outage": lambda: aws_outage_scenario(
                    federation,
                    workdir,
                    events=args.outage_events,
                    rate=outage_rate,
                    outage_after=10,
                    outage_seconds=args.outage,
                    log=log,
                ),
                "scale-out": lambda: scale_out_scenario(
                    federation, workdir, events=args.events, log=log
                ),
            }
            for name in chosen:
                log(f"--- {name}")
                try:
                    tally = runs[name]()
                except Exception:
                    failures.append(name)
                    log(f"{name} failed:\n{traceback.format_exc()}")
                    continue
                tallies.append(tally)
                log(tally.line())
                if not tally.exact:
                    failures.append(name)
    except KeyboardInterrupt:
        log("interrupted; stopping every process")
        return 130
    finally:
        if args.keep:
            log(f"work directory kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)

    print()
    header = (
        f"{'scenario':<15} {'events':>6} {'deliv.':>6} {'expected':>8} {'runs':>6} "
        f"{'lost':>5} {'dupl.':>5} {'queue':>7} {'dlq':>7} {'seconds':>8}  notes"
    )
    print(header)
    print("-" * len(header))
    for t in tallies:
        notes = ", ".join(f"{k}={v}" for k, v in t.notes.items())
        print(
            f"{t.scenario:<15} {t.events:>6} {t.published:>6} {t.expected_runs:>8} {t.runs:>6} "
            f"{t.lost:>5} {t.duplicates:>5} {t.queue!s:>7} {t.dlq!s:>7} "
            f"{t.seconds:>8.1f}  {notes}"
        )
    print(f"\ntotal {time.monotonic() - began:.0f}s; ", end="")
    print("every event became its runs exactly once" if not failures else f"FAILED: {failures}")
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
