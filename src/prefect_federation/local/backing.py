"""The backing services of the scaled profile, borrowed per run: a fresh PostgreSQL database
(created, then dropped) and a Redis database number of its own (claimed with a marker key, then
flushed). Both are recorded in a state file, so a run that died before cleaning up is cleaned up
by the next run of the same home.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel

__all__ = [
    "DEFAULT_POSTGRES",
    "DEFAULT_REDIS",
    "BackingUnavailable",
    "Borrowed",
    "claim_redis_db",
    "create_database",
    "drop_database",
    "give_back",
    "release_redis_db",
]

DEFAULT_POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:5432"
DEFAULT_REDIS = "redis://127.0.0.1:6379"
REDIS_MARKER = "prefect-federation:scaled:owner"
"""The key that claims a Redis database number for one run (set only in an empty database)."""


class BackingUnavailable(RuntimeError):
    """PostgreSQL or Redis is not reachable, or has no room for one more run."""


class Borrowed(BaseModel):
    """What one run borrowed: its database (in `postgres`) and its Redis database number,
    claimed as `owner`."""

    owner: str
    postgres: str
    database: str | None = None
    redis: str
    redis_db: int | None = None

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.model_dump_json())

    @classmethod
    def load(cls, path: Path) -> Borrowed | None:
        try:
            return cls.model_validate(json.loads(path.read_text()))
        except (OSError, ValueError):
            return None


def _connect_args(base_url: str) -> dict[str, Any]:
    url = urlsplit(base_url.replace("postgresql+asyncpg://", "postgresql://"))
    return {
        "host": url.hostname or "127.0.0.1",
        "port": url.port or 5432,
        "user": url.username or "postgres",
        "password": url.password,
        "database": "postgres",
        "timeout": 5,
    }


def _admin_sql(base_url: str, sql: str) -> None:
    import asyncpg

    async def run() -> None:
        connection = await asyncpg.connect(**_connect_args(base_url))
        try:
            await connection.execute(sql)
        finally:
            await connection.close()

    asyncio.run(run())


def create_database(base_url: str, prefix: str = "prefect_federation_") -> str:
    """A fresh database on the PostgreSQL server of `base_url` (`postgresql+asyncpg://user@host:
    port`); returns its name."""
    name = f"{prefix}{secrets.token_hex(4)}"
    try:
        _admin_sql(base_url, f'CREATE DATABASE "{name}"')
    except Exception as exc:
        raise BackingUnavailable(
            f"PostgreSQL at {base_url} unavailable ({type(exc).__name__}: {exc}); the scaled "
            "profile needs a server it can create a database on"
        ) from exc
    return name


def drop_database(base_url: str, name: str) -> None:
    _admin_sql(base_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _redis(base_url: str, db: int) -> Any:
    import redis

    return redis.Redis.from_url(f"{base_url.rstrip('/')}/{db}", socket_timeout=5)


def claim_redis_db(base_url: str, owner: str, databases: range = range(1, 16)) -> int:
    """The first Redis database number in `databases` that is empty, claimed for `owner` with a
    marker key (set only if absent, and kept only if the database held nothing else)."""
    import redis

    for db in databases:
        client = _redis(base_url, db)
        try:
            if client.dbsize() == 0 and client.set(REDIS_MARKER, owner, nx=True):
                if client.dbsize() == 1:
                    return db
                client.delete(REDIS_MARKER)  # someone else wrote there at the same moment
        except redis.RedisError as exc:
            raise BackingUnavailable(
                f"Redis at {base_url} unavailable ({type(exc).__name__}: {exc})"
            ) from exc
        finally:
            client.close()
    raise BackingUnavailable(
        f"Redis at {base_url}: no empty database among {databases.start}..{databases.stop - 1}"
    )


def give_back(borrowed: Borrowed) -> None:
    """Drop the database and flush the Redis database `borrowed` names (if still its owner's)."""
    if borrowed.database:
        drop_database(borrowed.postgres, borrowed.database)
    if borrowed.redis_db is not None:
        release_redis_db(borrowed.redis, borrowed.redis_db, borrowed.owner)


def release_redis_db(base_url: str, db: int, owner: str) -> bool:
    """Flush Redis database `db` if `owner` still holds its marker; True if flushed."""
    client = _redis(base_url, db)
    try:
        marker = client.get(REDIS_MARKER)
        if marker is None or marker.decode() != owner:
            return False
        client.flushdb()
        return True
    finally:
        client.close()
