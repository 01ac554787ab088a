"""The scaled profile's settings: modules prefect-redis has, settings Prefect and it read."""

from __future__ import annotations

import importlib

import pytest

from prefect_federation.local.scaled import REDIS_MODULES, redis_settings


def test_every_process_gets_the_redis_modules_and_its_own_database() -> None:
    env = redis_settings("redis://127.0.0.1:6390", 7)

    assert env["PREFECT_MESSAGING_BROKER"] == "prefect_redis.messaging"
    assert env["PREFECT_SERVER_EVENTS_CAUSAL_ORDERING"] == "prefect_redis.ordering"
    assert env["PREFECT_SERVER_CONCURRENCY_LEASE_STORAGE"] == "prefect_redis.lease_storage"
    assert (env["PREFECT_REDIS_MESSAGING_HOST"], env["PREFECT_REDIS_MESSAGING_PORT"]) == (
        "127.0.0.1",
        "6390",
    )
    assert env["PREFECT_REDIS_MESSAGING_DB"] == "7"
    assert env["PREFECT_SERVER_DOCKET_URL"] == "redis://127.0.0.1:6390/7"


@pytest.mark.parametrize(
    ("setting", "attributes"),
    [
        ("PREFECT_MESSAGING_BROKER", ("Publisher", "Consumer")),
        ("PREFECT_MESSAGING_CACHE", ("Cache",)),
        ("PREFECT_SERVER_EVENTS_CAUSAL_ORDERING", ("CausalOrdering",)),
        ("PREFECT_SERVER_CONCURRENCY_LEASE_STORAGE", ("ConcurrencyLeaseStorage",)),
    ],
)
def test_the_modules_export_what_prefect_loads_from_them(
    setting: str, attributes: tuple[str, ...]
) -> None:
    module = importlib.import_module(REDIS_MODULES[setting])
    for attribute in attributes:
        assert hasattr(module, attribute), f"{module.__name__}.{attribute}"


def test_prefect_reads_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    from prefect.settings import Settings

    for name, value in redis_settings("redis://127.0.0.1:6390", 7).items():
        monkeypatch.setenv(name, value)
    settings = Settings()

    assert settings.server.events.messaging_broker == "prefect_redis.messaging"
    assert settings.server.events.messaging_cache == "prefect_redis.messaging"
    assert settings.server.events.causal_ordering == "prefect_redis.ordering"
    assert settings.server.concurrency.lease_storage == "prefect_redis.lease_storage"
    assert settings.server.docket.url == "redis://127.0.0.1:6390/7"


def test_prefect_redis_reads_its_host_port_and_database(monkeypatch: pytest.MonkeyPatch) -> None:
    from prefect_redis.client import RedisMessagingSettings

    for name, value in redis_settings("redis://127.0.0.1:6390", 7).items():
        monkeypatch.setenv(name, value)
    settings = RedisMessagingSettings()

    assert (settings.host, settings.port, settings.db) == ("127.0.0.1", 6390, 7)
