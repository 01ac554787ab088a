"""Domain `scoring`: score the customer master with the model version the event names."""

from __future__ import annotations

import math
import sys
from pathlib import Path

from prefect import flow, get_run_logger

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from flows._files import data_dir, inside_data_dir, read_csv, safe_part, write_csv
from flows.scoring.events import ScoresWritten, ScoringCompleted
from prefect_federation import publish_event, publishes

WEIGHTS = {
    "v1": {"late_payments": 0.55, "balance_to_income": 2.0, "young": 0.3, "bias": -2.2},
    "v2": {"late_payments": 0.65, "balance_to_income": 2.5, "young": 0.2, "bias": -2.5},
}


def risk_score(row: dict[str, str], weights: dict[str, float]) -> float:
    """Logistic score of default risk from a few features."""
    income = max(float(row["income"]), 1.0)
    z = (
        weights["bias"]
        + weights["late_payments"] * int(row["late_payments"])
        + weights["balance_to_income"] * float(row["open_balance"]) / income * 10
        + weights["young"] * (int(row["age"]) < 25)
    )
    return 1 / (1 + math.exp(-z))


@flow(name="score-customers", log_prints=True)
@publishes("scoring.completed")
def score_customers(
    batch_id: str,
    snapshot_date: str,
    region: str,
    master_path: str,
    model_version: str = "v1",
    threshold: float = 0.5,
) -> ScoringCompleted:
    """Score every customer; count the high-risk ones."""
    logger = get_run_logger()
    if model_version not in WEIGHTS:
        raise ValueError(f"unknown model_version {model_version!r}; known: {sorted(WEIGHTS)}")
    weights = WEIGHTS[model_version]
    scored = []
    for row in read_csv(inside_data_dir(master_path)):
        score = risk_score(row, weights)
        scored.append(
            {
                "customer_id": row["customer_id"],
                "score": round(score, 4),
                "high_risk": score >= threshold,
            }
        )
    high_risk = sum(1 for row in scored if row["high_risk"])
    path = data_dir() / "scores" / safe_part(snapshot_date, "snapshot_date") / f"{region}.csv"
    write_csv(path, scored, ["customer_id", "score", "high_risk"])
    publish_event(  # a material step, published mid-flow: the scores file exists
        "scoring.scores-written", ScoresWritten(batch_id=batch_id, scores_path=str(path))
    )
    logger.info(
        "scored %d customers of %s with %s: %d high risk",
        len(scored),
        batch_id,
        model_version,
        high_risk,
    )
    return ScoringCompleted(
        batch_id=batch_id,
        snapshot_date=snapshot_date,
        region=region,
        scores_path=str(path),
        scored=len(scored),
        high_risk=high_risk,
        threshold=threshold,
        model_version=model_version,
    )
