"""The README's "Run it without the demo" section, run as written (docs examples as tests).

Its bash blocks run in one `bash -e`, in a copy of the checkout (with `.venv` linked), on free
ports (`MOTO_PORT`, `PREFECT_PORT`), with a fresh PREFECT_HOME and none of the AWS or Prefect
settings of the environment: what a person with a fresh clone after `make install` has. Every
process it starts is in the script's own process group, killed at the end even on failure.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from prefect_federation.local import free_port, quiet_env

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
MARKER = "<!-- test: run-without-demo -->"


def section_script(readme: str) -> str:
    """The bash blocks from the marker to the next `## ` heading, in order."""
    start = readme.index(MARKER)
    end = readme.find("\n## ", start)
    blocks = re.findall(r"^```bash\n(.*?)^```", readme[start:end], re.S | re.M)
    assert blocks, "no bash block after the marker"
    return "\n".join(blocks)


def copy_checkout(target: Path) -> Path:
    """The checkout's files (tracked and new, as they are now), with `.venv` linked."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for name in filter(None, (n.decode() for n in listed)):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    (target / ".venv").symlink_to(ROOT / ".venv")
    return target


def fresh_environment(tmp_path: Path) -> dict[str, str]:
    venv_bin = str(ROOT / ".venv" / "bin")
    env = {
        key: value
        for key, value in quiet_env().items()
        if not key.startswith(("AWS_", "PREFECT_", "VIRTUAL_ENV"))
    }
    env["PATH"] = os.pathsep.join(p for p in env["PATH"].split(os.pathsep) if p != venv_bin)
    env.update(
        {
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",  # no internet here
            "PREFECT_HOME": str(tmp_path / "prefect-home"),
            "MOTO_PORT": str(free_port()),
            "PREFECT_PORT": str(free_port()),
        }
    )
    return env


def _kill_group(pgid: int) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, sig)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.killpg(pgid, 0)
            except (ProcessLookupError, PermissionError):
                return
            time.sleep(0.2)


def test_the_run_without_the_demo_section_runs_as_written(tmp_path: Path) -> None:
    script = section_script((ROOT / "README.md").read_text())
    project = copy_checkout(tmp_path / "clone")
    (tmp_path / "section.sh").write_text(script)
    log_path = tmp_path / "section.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            ["bash", "-e", str(tmp_path / "section.sh")],
            cwd=project,
            env=fresh_environment(tmp_path),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # every process the section starts is in this group
        )
        try:
            code = process.wait(timeout=600)
        finally:
            _kill_group(process.pid)
    output = log_path.read_text(errors="replace")
    logs = "\n".join(
        f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}"
        for p in sorted((project / ".federation" / "logs").glob("*.log"))
    )
    assert code == 0, f"{output[-6000:]}\n{logs}"
    assert "the chain completed: 1 run(s), all COMPLETED" in output, output[-3000:]
    assert list((project / ".federation" / "data").rglob("*.csv")), "the flow wrote no data"
