"""Domain `reporting`: the daily risk report of a region, once both its scores
(`scoring.completed`) and its customer master (`customer-master.completed`) are there (a join)."""

from __future__ import annotations

import sys
from pathlib import Path

from prefect import flow, get_run_logger

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from flows._files import data_dir, inside_data_dir, read_csv, safe_part


@flow(name="write-risk-report", log_prints=True)
def write_risk_report(
    batch_id: str,
    snapshot_date: str,
    region: str,
    scores_path: str,
    high_risk: int,
    master_path: str | None = None,
) -> str:
    """A small Markdown report: score distribution and the top risks."""
    logger = get_run_logger()
    rows = read_csv(inside_data_dir(scores_path))
    scores = sorted((float(r["score"]), r["customer_id"]) for r in rows)
    buckets = [0] * 10
    for score, _ in scores:
        buckets[min(9, int(score * 10))] += 1
    lines = [
        f"# Risk report {region} {snapshot_date}",
        "",
        f"batch `{batch_id}`: {len(rows)} customers, {high_risk} high risk",
        *(
            [f"customer master: {len(read_csv(inside_data_dir(master_path)))} customers"]
            if master_path
            else []
        ),
        "",
        "| score | customers |",
        "|---|---|",
        *[f"| {i / 10:.1f}-{(i + 1) / 10:.1f} | {n} |" for i, n in enumerate(buckets)],
        "",
        "Top 5: " + ", ".join(f"{cid} ({score:.2f})" for score, cid in scores[-5:][::-1]),
    ]
    path = data_dir() / "reports" / safe_part(snapshot_date, "snapshot_date") / f"{region}.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    logger.info("report written to %s", path)
    return str(path)
