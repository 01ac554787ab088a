"""The empty, migrated Prefect database a new local server starts from (`local/template.py`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from prefect_federation.local import template
from prefect_federation.local.federation import LocalFederation


@pytest.fixture
def made(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "share" / "prefect-9.9.9.db"
    path.parent.mkdir()
    path.write_bytes(b"migrated")
    monkeypatch.setattr(template, "template_path", lambda: path)
    return path


def test_a_new_home_gets_the_template_and_an_existing_database_is_never_replaced(
    made: Path, tmp_path: Path
) -> None:
    home = tmp_path / "home"

    assert template.seed_database(home) is True
    assert (home / "prefect.db").read_bytes() == b"migrated"
    (home / "prefect.db").write_bytes(b"runs of last week")
    assert template.seed_database(home) is False
    assert (home / "prefect.db").read_bytes() == b"runs of last week"
    assert not list(home.glob("*.partial"))


def test_without_a_template_nothing_is_copied(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(template, "template_path", lambda: tmp_path / "none.db")

    assert template.seed_database(tmp_path / "home") is False
    assert not (tmp_path / "home" / "prefect.db").exists()


def test_the_template_is_per_prefect_version_in_this_environment() -> None:
    from importlib.metadata import version

    path = template.template_path()

    assert path.name == f"prefect-{version('prefect')}.db"
    assert str(path).startswith(str(Path(__import__("sys").prefix)))


@pytest.mark.parametrize("configured", [False, True])
def test_a_local_server_starts_from_the_template_unless_it_has_a_database_url(
    configured: bool, made: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PREFECT_API_DATABASE_CONNECTION_URL", raising=False)
    federation = LocalFederation(tmp_path / "fed")
    started: list[Any] = []

    def start_server(home: Path, **kwargs: Any) -> tuple[Any, str]:
        started.append((home / "prefect.db").exists())
        return object(), "http://127.0.0.1:4200/api"

    monkeypatch.setattr(federation.stack, "start_prefect_server", start_server)
    url = "postgresql+asyncpg://x/y" if configured else None

    federation.start_prefect(database_url=url)

    assert started == [not configured]


def test_the_installed_template_is_migrated_has_its_block_types_and_nothing_else() -> None:
    import sqlite3
    from contextlib import closing

    path = template.template_path()
    assert path.exists(), f"no template at {path}: `make install` makes it"
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        (revision,) = db.execute("select version_num from alembic_version").fetchone()
        block_types = {row[0] for row in db.execute("select slug from block_type")}
        runs = db.execute("select count(*) from flow_run").fetchone()[0]
        documents = db.execute("select count(*) from block_document").fetchone()[0]

    assert revision
    assert {"aws-credentials", "secret"} <= block_types
    assert (runs, documents) == (0, 0)
