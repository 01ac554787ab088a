"""The contract of `customer-master.completed` (deployments/customer-master.yaml: `model:`)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class CustomerMasterCompleted(BaseModel):
    """The deduplicated customer master of a batch exists at `master_path`."""

    batch_id: str
    snapshot_date: str = Field(pattern=r"^\d{4}-\d{2}-\d{2}$")
    region: str
    master_path: str
    customer_count: int = Field(ge=0)
    duplicates_removed: int = Field(ge=0)
