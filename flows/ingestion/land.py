"""Domain `ingestion`: land a day's raw customer data, then publish `ingestion.completed`."""

from __future__ import annotations

import random
import sys
from pathlib import Path

from prefect import flow, get_run_logger

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run from a checkout

from flows._files import data_dir, safe_part, write_csv
from flows.ingestion.events import IngestionCompleted
from prefect_federation import publishes

REGIONS = ["north", "south", "east", "west"]
FIELDS = ["customer_id", "name", "region", "age", "income", "open_balance", "late_payments"]


def generate_rows(snapshot_date: str, region: str, rows: int) -> list[dict[str, object]]:
    """Deterministic fake customers, with some duplicates for the master data step to remove."""
    rng = random.Random(f"{snapshot_date}:{region}")
    result = []
    for index in range(rows):
        customer = rng.randrange(int(rows * 0.9)) if index % 10 == 9 else index
        result.append(
            {
                "customer_id": f"{region[:1].upper()}{customer:06d}",
                "name": f"Customer {customer}",
                "region": region if rng.random() > 0.05 else rng.choice(REGIONS),
                "age": rng.randint(18, 90),
                "income": round(rng.lognormvariate(10.5, 0.5), 2),
                "open_balance": round(rng.expovariate(1 / 2000), 2),
                "late_payments": rng.choice([0, 0, 0, 1, 1, 2, 3, 5]),
            }
        )
    return result


@flow(name="land-raw-data", log_prints=True)
@publishes("ingestion.completed")
def land_raw_data(
    snapshot_date: str, region: str = "north", rows: int = 3000
) -> IngestionCompleted:
    """Land one region's raw extract for a day."""
    logger = get_run_logger()
    safe_part(snapshot_date, "snapshot_date")
    safe_part(region, "region")
    batch_id = f"{snapshot_date}-{region}"
    path = data_dir() / "raw" / snapshot_date / f"{region}.csv"
    count = write_csv(path, generate_rows(snapshot_date, region, rows), FIELDS)
    logger.info("landed %d rows for %s at %s", count, batch_id, path)
    return IngestionCompleted(
        batch_id=batch_id,
        snapshot_date=snapshot_date,
        region=region,
        row_count=count,
        raw_path=str(path),
    )
