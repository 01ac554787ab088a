"""The benchmarks' entry point runs end to end: `python -m bench --only throughput --quick` starts
its own moto server, Prefect server (SQLite) and listener, prints the table and writes the raw
samples. Behaviour only: the figures themselves are the benchmark's business, not the test's."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from prefect_federation.local import quiet_env

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def test_quick_throughput_prints_the_table_and_writes_the_raw_samples(tmp_path: Path) -> None:
    results = tmp_path / "results"
    env = quiet_env()
    env.pop("PREFECT_API_URL", None)
    # as `make bench` runs: the listener's defaults (the tests turn backpressure off), so the
    # bench must say itself that nothing runs its runs, or its backlog would be held
    env.pop("PREFECT_FEDERATION_LISTENER_BACKPRESSURE", None)
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "--only",
            "throughput",
            "--quick",
            "--events",
            "5",
            "--results",
            str(results),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "prefect-federation benchmarks" in completed.stdout
    assert "runs created/s, SQLite, 1 listener" in completed.stdout
    assert "machine: " in completed.stdout

    written = list(results.glob("throughput-*.json"))
    assert len(written) == 1, completed.stdout
    document = json.loads(written[0].read_text())
    assert document["benchmark"] == "throughput"
    assert document["error"] is None
    assert document["versions"]["prefect"]
    [configuration] = document["raw"]["configurations"]
    assert configuration["database"] == "sqlite"
    assert configuration["events"] == 5
    assert configuration["runs"] == 5  # every event became exactly one run
    assert len(configuration["created"]) == 5
    rate = next(f for f in document["figures"] if f["metric"].startswith("runs created/s"))
    assert rate["samples"]
    assert rate["n"] == 5


def test_quick_cli_startup_times_publish_beside_import_boto3_and_import_prefect(
    tmp_path: Path,
) -> None:
    results = tmp_path / "results"
    env = quiet_env()
    env.pop("PREFECT_API_URL", None)
    completed = subprocess.run(
        [sys.executable, "-m", "bench", "--only", "cli_startup", "--quick", "--results", results],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "`prefect-federation publish` (AWS environment, archive on), wall" in completed.stdout
    assert 'python -c "import boto3", wall' in completed.stdout
    assert 'python -c "import prefect", wall' in completed.stdout

    [written] = list(results.glob("cli_startup-*.json"))
    document = json.loads(written.read_text())
    assert document["error"] is None
    assert document["raw"]["publish_imported_heavy"] == []  # no prefect, prefect_aws, sqlalchemy
    assert document["raw"]["archived"] is True
    assert document["raw"]["delivered"] == 4  # the warm-up call and the 3 timed ones
    assert [len(f["samples"]) for f in document["figures"]] == [3, 3, 3]
