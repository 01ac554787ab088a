"""The contract of `ingestion.completed` (deployments/ingestion.yaml: `model:`). Imports only
pydantic: `check`, `contracts export` and `publish` import it without Prefect."""

from __future__ import annotations

from pydantic import BaseModel, Field


class IngestionCompleted(BaseModel):
    """A region's raw batch is landed; downstream can read it at `raw_path`."""

    batch_id: str = Field(description="`<snapshot_date>-<region>`.")
    snapshot_date: str = Field(pattern=r"^\d{4}-\d{2}-\d{2}$", description="The day, ISO.")
    region: str
    row_count: int = Field(ge=0, description="Rows landed.")
    raw_path: str = Field(description="Where the raw CSV is.")
