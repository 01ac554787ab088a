"""End to end on the scaled profile (docs/scaling.md): `prefect-federation demo --once --profile
scaled` runs the whole chain on Prefect's own scaled topology: two API processes started with
`--no-services`, one services process, a fresh PostgreSQL database and a Redis database of its
own; each domain has two listeners, one on each API process, competing for its one queue.

Needs PostgreSQL on 127.0.0.1:5432 (trust, user postgres) and Redis on 127.0.0.1:6379; skipped
when either is not there.
"""

from __future__ import annotations

import ast
import re
import socket
import subprocess
from pathlib import Path

import pytest
from test_demo import processes_using, run_demo  # tests/e2e is on sys.path (rootdir-relative)

from prefect_federation.local import quiet_env
from prefect_federation.local.demo import DEMO_CHAIN

pytestmark = pytest.mark.e2e


def _reachable(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


needs_backing = pytest.mark.skipif(
    not (_reachable(5432) and _reachable(6379)), reason="needs PostgreSQL :5432 and Redis :6379"
)


def _stats(log: Path) -> dict[str, int]:
    """The counters the listener logged when it stopped (this run's: the home is fresh)."""
    found = re.findall(r"stats: (\{.*\})", log.read_text())
    assert found, f"{log.name} logged no stats"
    return dict(ast.literal_eval(found[-1]))


def _database_exists(name: str) -> bool:
    out = subprocess.run(
        ["psql", "-h", "127.0.0.1", "-U", "postgres", "-Atc", "select datname from pg_database"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return name in out.split()


def _redis_keys(db: int) -> int:
    import redis

    client = redis.Redis(host="127.0.0.1", port=6379, db=db)
    try:
        return int(client.dbsize())
    finally:
        client.close()


@needs_backing
def test_the_chain_runs_on_two_api_processes_with_competing_listeners(tmp_path: Path) -> None:
    env = quiet_env()
    for name in ("AWS_ENDPOINT_URL", "PREFECT_API_URL", "PREFECT_FEDERATION_AWS_CREDENTIALS_BLOCK"):
        env.pop(name, None)

    result = run_demo(tmp_path, env, "--profile", "scaled")

    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert "the whole chain completed: 5 runs" in output
    apis = re.search(r"Prefect API \(main\): (http://\S+/api), (http://\S+/api)", output)
    assert apis, output[-3000:]
    assert apis.group(1) != apis.group(2)
    borrowed = re.search(r"database (prefect_federation_\w+), Redis database (\d+)", output)
    assert borrowed, output[-3000:]

    logs = tmp_path / "logs"
    assert "Starting services" in (logs / "prefect-services.log").read_text()
    for domain in sorted(set(DEMO_CHAIN.values())):
        first, second = logs / f"listener-{domain}.log", logs / f"listener-{domain}-2.log"
        for log in (first, second):  # both polled the domain's one queue
            assert f"listener for domain '{domain}' polling" in log.read_text(), log.name
            assert f"federation-{domain}-inbox" in log.read_text()
        # the domain's one run was created once, by one of its two listeners
        created = [_stats(log)["runs_created"] for log in (first, second)]
        assert sum(created) == 1, (domain, created)

    # given back: the database dropped, the Redis database flushed, no process left
    assert not _database_exists(borrowed.group(1))
    assert _redis_keys(int(borrowed.group(2))) == 0
    assert not (tmp_path / "scaled.json").exists()
    assert processes_using(tmp_path) == []
