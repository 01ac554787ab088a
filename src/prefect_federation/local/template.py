"""An empty, migrated SQLite database for the local Prefect servers, made once per Prefect version.

A Prefect server on a fresh SQLite database runs every migration before it answers (~7 s of its
~14 s to health on two cores, on Prefect 3.9). Those migrations give the same empty database every
time for a given Prefect version, so `make install` makes one (`ensure_template()`: `prefect
server database upgrade` in a scratch home) and
`LocalFederation.start_prefect` copies it into a new server's home before starting it; the server
finds it at the head revision and migrates nothing. Without the template (not made, another Prefect
version) a server migrates its database itself, as before. It lives in the virtual environment
(`<venv>/share/prefect-federation/`), so `make clean` takes it and a new Prefect version gets its
own.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

__all__ = ["ensure_template", "seed_database", "template_path"]

DATABASE = "prefect.db"
"""Where a Prefect server keeps its SQLite database: `$PREFECT_HOME/prefect.db` by default."""


def template_path() -> Path:
    """The template of the installed Prefect version, in this virtual environment."""
    from importlib.metadata import version

    return Path(sys.prefix) / "share" / "prefect-federation" / f"prefect-{version('prefect')}.db"


def ensure_template() -> Path:
    """Make the template unless it exists: `prefect server database upgrade -y` in a scratch
    home, moved into place whole (a half-made template is never seen)."""
    target = template_path()
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as scratch:
        env = {
            **os.environ,
            "PREFECT_HOME": scratch,
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "DO_NOT_TRACK": "1",
        }
        env.pop("PREFECT_API_DATABASE_CONNECTION_URL", None)
        env.pop("PREFECT_PROFILE", None)
        prefect = str(Path(sys.executable).with_name("prefect"))
        done = subprocess.run(
            [prefect, "server", "database", "upgrade", "-y"],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if done.returncode != 0:
            output = done.stdout + done.stderr
            raise RuntimeError(f"`prefect server database upgrade` failed:\n{output}")
        os.replace(Path(scratch) / DATABASE, target)
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
