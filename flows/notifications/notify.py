"""Domain `notifications`: tell the on-call of a region about its high-risk customers."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from prefect import flow, get_run_logger

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from flows._files import data_dir, safe_part


@flow(name="notify-on-call", log_prints=True)
def notify_on_call(
    region: str, snapshot_date: str, high_risk: int, scored: int, channel: str = "#risk"
) -> str:
    """Write the message that would go to chat (a file in the outbox)."""
    logger = get_run_logger()
    share = high_risk / scored if scored else 0.0
    message = {
        "channel": channel,
        "text": f"{region} {snapshot_date}: {high_risk} of {scored} customers high risk "
        f"({share:.1%})",
    }
    path = data_dir() / "outbox" / f"{safe_part(snapshot_date, 'snapshot_date')}-{region}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(message) + "\n")
    logger.info("notified %s: %s", channel, message["text"])
    return str(path)
