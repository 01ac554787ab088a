"""What a listener process imports: building one (the objects `listen` builds, with no AWS
credentials block) and handling an event must import neither prefect-aws (only a named block
needs it) nor SQLAlchemy (Prefect's server side; its schema validator pulls it in, and the
server validates an enforced parameter schema anyway). Each costs the listener ~16-21 MiB.
Nor boto3 (its clients come from botocore's session, which a boto3 session wraps: ~1.6 MiB).
Nor does it parse S3's model: the listener's S3 client (for `skip` records) is made when it
first records one; the model costs ~7 MiB. Nor does it keep botocore's whole endpoints.json
(another ~7 MiB): its clients share one `LeanEndpointResolver`.

Run in a fresh interpreter (the test process has both imported), checked through sys.modules."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from prefect.client.orchestration import get_client

from prefect_federation.chain import chain_runs
from prefect_federation.declarations import load_federation
from prefect_federation.local import quiet_env
from prefect_federation.provision import provision
from prefect_federation.publisher import SnsPublisher
from prefect_federation.settings import FederationSettings
from prefect_federation.testing import make_event

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("prefect_aws", "sqlalchemy", "boto3")

SCRIPT = """
import json, sys
from pathlib import Path
from prefect_federation import aws
from prefect_federation.listener.service import run_listener
from prefect_federation.settings import FederationSettings

declarations, prefix, execute = Path(sys.argv[1]), sys.argv[2], sys.argv[3] == "execute"
settings = FederationSettings(name_prefix=prefix, declarations=declarations)
code = run_listener("scoring", settings, once=True, wait_time=2, execute=execute)
cache = aws._loader.load_service_model.__self__._cache  # botocore's instance_cache
models = sorted({key[1] for key in cache if key[0] == "load_service_model"})
models += [key[1] for key in cache if key[1] == "endpoints"]  # the whole file: ~7 MiB
imported = [m for m in HEAVY if m in sys.modules]
print(json.dumps({"code": code, "imported": imported, "models": models}))
""".replace("HEAVY", repr(HEAVY))


@pytest.mark.parametrize("mode", ["listen", "execute"])
def test_a_listener_without_a_block_imports_neither_prefect_aws_nor_sqlalchemy(
    mode: str,
    aws_env: str,
    sns: Any,
    sqs: Any,
    name_prefix: str,
    prefect_api: str,
    scoring_domain_dir: Path,
) -> None:
    settings = FederationSettings(name_prefix=name_prefix)
    report = provision(load_federation(scoring_domain_dir), sns, sqs, settings)
    envelope = make_event("customer-master.completed", {"snapshot_date": "2026-12-02"})
    SnsPublisher(sns, report.resources["customer-master"].topic_arn).publish(envelope)

    completed = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(scoring_domain_dir), name_prefix, mode],
        env=quiet_env({"PREFECT_API_URL": prefect_api}),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )

    assert completed.returncode == 0, completed.stderr
    found = json.loads(completed.stdout.strip().splitlines()[-1])
    assert found == {"code": 0, "imported": [], "models": ["sqs"]}, completed.stderr
    with get_client(sync_client=True) as client:  # it did handle the event
        assert len(chain_runs(client, envelope.correlationid)) == 1
