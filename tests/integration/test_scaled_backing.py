"""The scaled profile's borrowed backing services on the real PostgreSQL and Redis of this machine:
a Redis database number is claimed once, given back flushed; a database a dead run left behind is
dropped by the next run of the same home. Skipped when PostgreSQL :5432 or Redis :6379 is absent."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from prefect_federation.local import LocalFederation
from prefect_federation.local.backing import (
    DEFAULT_POSTGRES,
    DEFAULT_REDIS,
    REDIS_MARKER,
    Borrowed,
    claim_redis_db,
    create_database,
    release_redis_db,
)
from prefect_federation.local.scaled import ScaledPrefect

pytestmark = pytest.mark.integration


def _reachable(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


if not (_reachable(5432) and _reachable(6379)):
    pytest.skip("needs PostgreSQL :5432 and Redis :6379", allow_module_level=True)


def _redis(db: int):  # type: ignore[no-untyped-def]
    import redis

    return redis.Redis(host="127.0.0.1", port=6379, db=db)


def _databases() -> set[str]:
    import asyncio

    import asyncpg

    async def names() -> set[str]:
        connection = await asyncpg.connect(host="127.0.0.1", user="postgres", database="postgres")
        try:
            return {r["datname"] for r in await connection.fetch("select datname from pg_database")}
        finally:
            await connection.close()

    return asyncio.run(names())


def test_a_claimed_redis_database_is_not_claimed_twice_and_is_flushed_when_given_back() -> None:
    first = claim_redis_db(DEFAULT_REDIS, "owner-a")
    try:
        second = claim_redis_db(DEFAULT_REDIS, "owner-b")
        try:
            assert first != second
            _redis(first).set("prefect-key", "x")
            assert not release_redis_db(DEFAULT_REDIS, first, "owner-b")  # not its owner
            assert _redis(first).get("prefect-key") == b"x"
        finally:
            release_redis_db(DEFAULT_REDIS, second, "owner-b")
    finally:
        assert release_redis_db(DEFAULT_REDIS, first, "owner-a")
    assert _redis(first).dbsize() == 0
    assert _redis(first).get(REDIS_MARKER) is None


def test_what_a_dead_run_borrowed_is_given_back_by_the_next_run_of_its_home(tmp_path: Path) -> None:
    database = create_database(DEFAULT_POSTGRES)
    db = claim_redis_db(DEFAULT_REDIS, "dead-run")
    _redis(db).set("left-behind", "1")
    Borrowed(
        owner="dead-run",
        postgres=DEFAULT_POSTGRES,
        database=database,
        redis=DEFAULT_REDIS,
        redis_db=db,
    ).save(tmp_path / "scaled.json")
    assert database in _databases()

    ScaledPrefect(LocalFederation(tmp_path)).clean_leftovers()

    assert database not in _databases()
    assert _redis(db).dbsize() == 0
    assert not (tmp_path / "scaled.json").exists()
