"""The scaled profile: Prefect's own scaled topology of a self-hosted server, on this machine.

- N API processes (`prefect server start --no-services`), each on a free port;
- one services process (`prefect server services start`): scheduler, event persister, triggers,
  and the other loop services;
- PostgreSQL (a fresh database per run, dropped on stop) shared by all of them;
- Redis (a database number of its own per run, flushed on stop) for Prefect's messaging broker
  and cache, causal ordering, concurrency lease storage and Docket (`prefect-redis`).

Listeners of one domain then run as competing consumers of its one queue, each on its own API
process (`api_for(i)`). See docs/scaling.md for what scales how.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from prefect_federation.local.backing import (
    DEFAULT_POSTGRES,
    DEFAULT_REDIS,
    BackingUnavailable,
    Borrowed,
    claim_redis_db,
    create_database,
    give_back,
)
from prefect_federation.local.federation import LocalFederation
from prefect_federation.local.process import ManagedProcess, quiet_env, wait_for_http

__all__ = [
    "REDIS_MODULES",
    "BackingUnavailable",
    "ScaledPrefect",
    "redis_settings",
    "scaled_summary",
]

REDIS_MODULES = {
    "PREFECT_MESSAGING_BROKER": "prefect_redis.messaging",
    "PREFECT_MESSAGING_CACHE": "prefect_redis.messaging",
    "PREFECT_SERVER_EVENTS_CAUSAL_ORDERING": "prefect_redis.ordering",
    "PREFECT_SERVER_CONCURRENCY_LEASE_STORAGE": "prefect_redis.lease_storage",
}
"""Prefect's settings that move messaging, ordering and leases from memory to Redis."""
SERVICES_READY = "Starting services"


def redis_settings(redis_url: str, db: int) -> dict[str, str]:
    """The environment of every Prefect server process of the topology, for Redis database `db`
    on `redis_url` (`redis://host:port`)."""
    host_port = redis_url.removeprefix("redis://").rstrip("/")
    host, _, port = host_port.partition(":")
    return {
        **REDIS_MODULES,
        "PREFECT_REDIS_MESSAGING_HOST": host,
        "PREFECT_REDIS_MESSAGING_PORT": port or "6379",
        "PREFECT_REDIS_MESSAGING_DB": str(db),
        "PREFECT_SERVER_DOCKET_URL": f"{redis_url.rstrip('/')}/{db}",
    }


def scaled_summary(scaled: ScaledPrefect) -> str:
    """What the topology is, in one line."""
    return (
        f"{scaled.api_processes} API processes, "
        f"{'one services process, ' if scaled.services else ''}"
        f"PostgreSQL at {scaled.postgres.split('@')[-1]}, Redis at {scaled.redis.split('@')[-1]}"
    )


class ScaledPrefect:
    """Start the topology in `federation`'s stack; it stops (and gives back its database and
    Redis database) with the federation.

    The first API process is registered as the federation's server `name`, the others are in
    `api_urls`; all of them serve the same database.
    """

    def __init__(
        self,
        federation: LocalFederation,
        *,
        api_processes: int = 2,
        services: bool = True,
        postgres: str | None = None,
        redis: str | None = None,
        name: str = "main",
        timeout: float = 180,
    ) -> None:
        if api_processes < 1:
            raise ValueError(f"api_processes must be at least 1, not {api_processes}")
        self.federation = federation
        self.api_processes = api_processes
        self.services = services
        self.postgres = postgres or os.environ.get("PREFECT_FEDERATION_POSTGRES", DEFAULT_POSTGRES)
        self.redis = redis or os.environ.get("PREFECT_FEDERATION_REDIS", DEFAULT_REDIS)
        self.name = name
        self.timeout = timeout
        self.home = federation.home / "prefect-scaled"
        self.state_file = federation.home / "scaled.json"
        self.borrowed = Borrowed(
            owner=f"{os.getpid()}-{time.time_ns()}", postgres=self.postgres, redis=self.redis
        )
        self.api_urls: list[str] = []
        self.processes: list[ManagedProcess] = []
        self.timings: dict[str, float] = {}

    def api_for(self, index: int) -> str:
        """The API process listener `index` talks to (round robin)."""
        return self.api_urls[index % len(self.api_urls)]

    def server_env(self) -> dict[str, str]:
        assert self.borrowed.redis_db is not None
        env = quiet_env(
            {
                "PREFECT_HOME": str(self.home),
                "PREFECT_API_DATABASE_CONNECTION_URL": self.database_url,
                **redis_settings(self.redis, self.borrowed.redis_db),
            }
        )
        env.pop("PREFECT_API_URL", None)
        return env

    def start(self) -> list[str]:
        """Borrow the database and the Redis database, start the API processes (the first one
        migrates the fresh database, the others start once it answers) and the services
        process. Returns the API URLs."""
        started = time.monotonic()
        self.clean_leftovers()
        self.federation.on_stop(self.release)
        self.borrowed.database = create_database(self.postgres)
        self.borrowed.save(self.state_file)
        self.borrowed.redis_db = claim_redis_db(self.redis, self.borrowed.owner)
        self.borrowed.save(self.state_file)
        self.home.mkdir(parents=True, exist_ok=True)
        env = self.server_env()
        stack = self.federation.stack
        first, api = stack.start_prefect_server(
            self.home,
            name="prefect-api-1",
            timeout=self.timeout,
            extra_env=env,
            args=["--no-services"],
        )
        self.processes.append(first)
        self.api_urls.append(api)
        self.timings["first_api_s"] = time.monotonic() - started
        no_migration = {**env, "PREFECT_API_DATABASE_MIGRATE_ON_START": "false"}
        waiting: list[tuple[ManagedProcess, str]] = []
        for index in range(2, self.api_processes + 1):
            process, api = stack.start_prefect_server(
                self.home,
                name=f"prefect-api-{index}",
                extra_env=no_migration,
                args=["--no-services"],
                wait=False,
            )
            self.processes.append(process)
            self.api_urls.append(api)
            waiting.append((process, api))
        if self.services:
            prefect = str(Path(sys.executable).with_name("prefect"))
            services = stack.start(
                "prefect-services",
                [prefect, "server", "services", "start"],
                no_migration,
                infrastructure=True,
            )
            self.processes.append(services)
        for process, api in waiting:
            wait_for_http(f"{api}/health", self.timeout, process.popen)
        if self.services:
            self._wait_for_services(services)
        self.federation.start_prefect(self.name, api_url=self.api_urls[0])
        self.timings["topology_s"] = time.monotonic() - started
        return self.api_urls

    def _wait_for_services(self, process: ManagedProcess) -> None:
        deadline = time.monotonic() + self.timeout
        while SERVICES_READY not in process.output():
            if not process.alive():
                raise RuntimeError(
                    f"{process.name} exited with {process.popen.returncode}:\n{process.tail()}"
                )
            if time.monotonic() > deadline:
                raise TimeoutError(f"{process.name} did not start within {self.timeout:.0f}s")
            time.sleep(0.2)

    @property
    def database_url(self) -> str:
        return f"{self.postgres.rstrip('/')}/{self.borrowed.database}"

    def release(self) -> None:
        """Drop the database and flush the Redis database (after the processes stopped)."""
        give_back(self.borrowed)
        self.state_file.unlink(missing_ok=True)

    def clean_leftovers(self) -> None:
        """What a run of this home that died before `release()` borrowed: give it back."""
        left = Borrowed.load(self.state_file)
        if left is not None:
            give_back(left)
        self.state_file.unlink(missing_ok=True)
