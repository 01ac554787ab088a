"""cli_startup: the wall time of `prefect-federation publish`, beside bare `import boto3` and
`import prefect`.

Publishing by hand is how people trigger flows, so a call must cost about what boto3 costs, not
what Prefect costs. Each call is a new process against a moto server (started here), with the
AWS environment's credentials (no credentials block) and the archive bucket in place, so the
call archives to S3 and publishes to SNS, as `publish` does by default. The three commands run
round-robin, so they share the machine's load alike; one warm-up call of each is not counted and
fills a bytecode cache (PYTHONPYCACHEPREFIX in the bench's temporary directory), as an installed
package has one. The warm-up publish also records its imports (`-X importtime`): the note says
whether Prefect, prefect-aws or SQLAlchemy was among them.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from prefect_federation.local import Stack, quiet_env
from prefect_federation.naming import queue_name
from prefect_federation.queue_admin import SqsQueueAdmin

from .common import (
    DECLARATIONS,
    DOWNSTREAM,
    EVENT_TYPE,
    NAME_PREFIX,
    Figure,
    Options,
    Peer,
    Result,
    bench_home,
)

NAME = "cli_startup"
Completed = subprocess.CompletedProcess[str]
HEAVY = ("prefect", "prefect_aws", "sqlalchemy")


def provision_with_archive(home: Path, aws_url: str) -> Any:
    """The bench's two domains and the event archive on moto; returns an SQS client."""
    import boto3

    from prefect_federation.declarations import load_federation
    from prefect_federation.provision import provision
    from prefect_federation.settings import FederationSettings

    declarations = home / "declarations"
    declarations.mkdir(parents=True, exist_ok=True)
    for name, declaration in DECLARATIONS.items():
        (declarations / f"{name}.yaml").write_text(yaml.safe_dump(declaration))
    kwargs = {
        "endpoint_url": aws_url,
        "region_name": "us-east-1",
        "aws_access_key_id": "bench",
        "aws_secret_access_key": "bench",
    }
    provision(
        load_federation(declarations),
        boto3.client("sns", **kwargs),
        boto3.client("sqs", **kwargs),
        FederationSettings(declarations=declarations, name_prefix=NAME_PREFIX),
        s3=boto3.client("s3", **kwargs),
    )
    return boto3.client("sqs", **kwargs)


def child_env(home: Path, aws_url: str) -> dict[str, str]:
    env = quiet_env(
        {
            "AWS_ENDPOINT_URL": aws_url,
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_DEFAULT_REGION": "us-east-1",
            "PREFECT_FEDERATION_NAME_PREFIX": NAME_PREFIX,
            "PYTHONPYCACHEPREFIX": str(home / "pycache"),
        }
    )
    for name in ("PREFECT_FEDERATION_AWS_CREDENTIALS_BLOCK", "PYTHONDONTWRITEBYTECODE"):
        env.pop(name, None)
    return env


def timed(command: list[str], env: dict[str, str]) -> tuple[float, Completed]:
    """(wall seconds, the finished process) of one call; raises unless it exited 0."""
    started = time.perf_counter()
    completed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    elapsed = time.perf_counter() - started
    if completed.returncode != 0:
        raise RuntimeError(f"{' '.join(command)}: exit {completed.returncode}\n{completed.stderr}")
    return elapsed, completed


def imported(importtime_stderr: str) -> set[str]:
    """Top-level packages named in `-X importtime` lines."""
    return {
        line.rsplit("|", 1)[-1].strip().split(".")[0]
        for line in importtime_stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }


def run(options: Options) -> Result:
    calls = 3 if options.quick else 7
    result = Result(NAME)
    cli = str(Path(sys.executable).with_name("prefect-federation"))
    publish = [cli, "publish", EVENT_TYPE, "--data", '{"marker": "cli-startup"}']
    commands = {
        "publish": publish,
        "boto3": [sys.executable, "-c", "import boto3"],
        "prefect": [sys.executable, "-c", "import prefect"],
    }
    with bench_home(NAME, options) as home, Stack(home) as stack:
        _, aws_url = stack.start_moto()
        sqs = provision_with_archive(home, aws_url)
        env = child_env(home, aws_url)
        warm_up = {  # fills the bytecode cache; not counted
            key: timed(command, {**env, "PYTHONPROFILEIMPORTTIME": "1"})[1].stderr
            for key, command in commands.items()
        }
        heavy = sorted(set(HEAVY) & imported(warm_up["publish"]))
        archived = "archived in s3://" in " ".join(warm_up["publish"].split())
        samples: dict[str, list[float]] = {key: [] for key in commands}
        for _ in range(calls):
            for key, command in commands.items():
                samples[key].append(timed(command, env)[0])
        queue_url = sqs.get_queue_url(QueueName=queue_name(NAME_PREFIX, DOWNSTREAM))["QueueUrl"]
        delivered = SqsQueueAdmin(sqs).counts(queue_url).visible
    if delivered != calls + 1:
        raise RuntimeError(f"{calls + 1} events published, {delivered} in the subscriber's queue")
    result.raw = {"samples_s": samples, "calls": calls, "publish_imported_heavy": heavy}
    result.raw.update({"delivered": delivered, "archived": archived})
    boto3_median = sorted(samples["boto3"])[len(samples["boto3"]) // 2]
    publish_median = sorted(samples["publish"])[len(samples["publish"]) // 2]
    result.figures += [
        Figure(
            "`prefect-federation publish` (AWS environment, archive on), wall",
            "s",
            samples["publish"],
            note=f"{publish_median / boto3_median:.1f}x import boto3; imports "
            + (", ".join(heavy) if heavy else "no prefect/prefect_aws/sqlalchemy"),
        ),
        Figure('  python -c "import boto3", wall', "s", samples["boto3"]),
        Figure('  python -c "import prefect", wall', "s", samples["prefect"]),
    ]
    result.notes.append(
        f"{calls} calls each, round-robin, after one warm-up; every event archived "
        f"({archived}) and delivered ({delivered} in {DOWNSTREAM}'s queue)"
    )
    return result


def peers(document: dict[str, Any]) -> list[Peer]:
    return []
