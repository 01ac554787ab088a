"""The contracts of `scoring.completed` and `scoring.scores-written` (deployments/scoring.yaml)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class ScoringCompleted(BaseModel):
    """Every customer of a batch is scored; `high_risk` of `scored` are above `threshold`."""

    batch_id: str
    snapshot_date: str = Field(pattern=r"^\d{4}-\d{2}-\d{2}$")
    region: str
    scores_path: str
    scored: int = Field(ge=0)
    high_risk: int = Field(ge=0)
    threshold: float = Field(ge=0, le=1)
    model_version: str


class ScoresWritten(BaseModel):
    """The scores file exists (published mid-flow, before the run completes)."""

    batch_id: str
    scores_path: str
