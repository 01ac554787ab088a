"""An empty, migrated SQLite database for the local Prefect servers, made once per Prefect version.

A Prefect server on a fresh SQLite database runs every migration before it answers and registers
every block type it knows (~9 s of its ~14 s to health on two cores, on Prefect 3.9). That gives
the same database every time for a given Prefect version and installed packages, so `make
install` makes one (`ensure_template()`: a server started once in a scratch home) and
`LocalFederation.start_prefect` copies it into a new server's home before starting it; the server
finds it at the head revision with its block types, and migrates nothing. Without the template
(not made, another Prefect version) a server migrates its database itself, as before. It lives
in the virtual environment (`<venv>/share/prefect-federation/`), so `make clean` takes it and a
new Prefect version gets its own.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import sys
import tempfile
from contextlib import closing
from pathlib import Path

__all__ = ["ensure_template", "seed_database", "template_path"]

DATABASE = "prefect.db"
"""Where a Prefect server keeps its SQLite database: `$PREFECT_HOME/prefect.db` by default."""


def template_path() -> Path:
    """The template of the installed Prefect version, in this virtual environment."""
    from importlib.metadata import version

    return Path(sys.prefix) / "share" / "prefect-federation" / f"prefect-{version('prefect')}.db"


def ensure_template() -> Path:
    """Make the template unless it exists: a Prefect server started once on a new database in a
    scratch home (its migrations, and the block types it registers on its first start), stopped,
    and a consistent copy of its database moved into place whole."""
    from prefect_federation.local.federation import LocalFederation

    target = template_path()
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as scratch:
        database = Path(scratch) / "prefect" / DATABASE
        with LocalFederation(Path(scratch) / "stack") as federation:
            federation.start_prefect(
                home=database.parent,
                extra_env={
                    "PREFECT_API_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{database}"
                },
            )
        partial = target.with_suffix(".partial")
        with (
            closing(sqlite3.connect(database)) as source,
            closing(sqlite3.connect(partial)) as copy,
        ):
            source.backup(copy)  # what the write-ahead log still holds included
        os.replace(partial, target)
    return target


def seed_database(prefect_home: Path) -> bool:
    """Copy the template into a new server's home (`prefect_home/prefect.db`) unless it has a
    database already or there is no template; True if it copied."""
    database = prefect_home / DATABASE
    template = template_path()
    if database.exists() or not template.exists():
        return False
    prefect_home.mkdir(parents=True, exist_ok=True)
    partial = database.with_suffix(".db.partial")
    shutil.copyfile(template, partial)
    os.replace(partial, database)
    return True
