"""Domain `customer-master`: build the deduplicated customer master from a landed batch."""

from __future__ import annotations

import sys
from pathlib import Path

from prefect import flow, get_run_logger

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from flows._files import data_dir, inside_data_dir, read_csv, safe_part, write_csv
from flows.customer_master.events import CustomerMasterCompleted
from prefect_federation import publishes

FIELDS = ["customer_id", "name", "region", "age", "income", "open_balance", "late_payments"]


@flow(name="build-customer-master", log_prints=True)
@publishes("customer-master.completed")
def build_customer_master(
    batch_id: str, snapshot_date: str, region: str, raw_path: str, expected_rows: int
) -> CustomerMasterCompleted:
    """Deduplicate and normalise the batch's customers."""
    logger = get_run_logger()
    rows = read_csv(inside_data_dir(raw_path))
    if len(rows) != expected_rows:
        raise ValueError(f"batch {batch_id}: expected {expected_rows} rows, found {len(rows)}")
    master: dict[str, dict[str, str]] = {}
    for row in rows:
        row["name"] = row["name"].strip().title()
        master[row["customer_id"]] = row  # the last record of a customer wins
    path = data_dir() / "master" / safe_part(snapshot_date, "snapshot_date") / f"{region}.csv"
    write_csv(path, master.values(), FIELDS)
    logger.info(
        "customer master for %s: %d customers (%d duplicates removed)",
        batch_id,
        len(master),
        len(rows) - len(master),
    )
    return CustomerMasterCompleted(
        batch_id=batch_id,
        snapshot_date=snapshot_date,
        region=region,
        master_path=str(path),
        customer_count=len(master),
        duplicates_removed=len(rows) - len(master),
    )
