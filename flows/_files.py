"""Small helpers the example flows share: where data lives, CSV in and out."""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

DATA_DIR_ENV = "PREFECT_FEDERATION_DEMO_DATA"
_SAFE_PART = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def data_dir() -> Path:
    """Root of the example's data (env PREFECT_FEDERATION_DEMO_DATA, default ./.federation/data)."""
    return Path(os.environ.get(DATA_DIR_ENV, ".federation/data")).resolve()


def safe_part(value: str, what: str) -> str:
    """A path component from event data, checked: no separators, no `..`, no surprises."""
    if not _SAFE_PART.match(value) or ".." in value:
        raise ValueError(f"{what} {value!r} is not a safe file name component")
    return value


def inside_data_dir(path: str | Path) -> Path:
    """A path from an event, resolved and checked to stay inside the data directory."""
    root = data_dir()
    resolved = Path(path).resolve()
    if root != resolved and root not in resolved.parents:
        raise ValueError(f"path {str(path)!r} is outside the data directory {root}")
    return resolved


def write_csv(path: Path, rows: Iterable[dict[str, Any]], fields: list[str]) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        for row in rows:
            writer.writerow(row)
            count += 1
    return count


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))
