"""The demo's `<home>/env` file and the `explain` line that points at it: a shell that sources
the file has the demo's environment, values with spaces and quotes included."""

from __future__ import annotations

import subprocess
from pathlib import Path
from uuid import uuid4

import pytest

from prefect_federation.local.report import env_file_text, explain_line


def test_sourcing_the_env_file_gives_the_demos_environment_and_its_venv(tmp_path: Path) -> None:
    bin_dir = tmp_path / "my venv" / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "prefect-federation").write_text("#!/bin/sh\necho from-the-venv\n")
    (bin_dir / "prefect-federation").chmod(0o755)
    env_file = tmp_path / "home dir" / "env"
    env_file.parent.mkdir()
    variables = {
        "PREFECT_API_URL": "http://127.0.0.1:4301/api",
        "PREFECT_FEDERATION_DECLARATIONS": str(tmp_path / "it's here" / "deployments"),
    }
    env_file.write_text(env_file_text(variables, bin_dir))
    event_id = uuid4()
    line = explain_line(event_id, env_file)
    command = line.split("runs: ", 1)[1]
    assert command.endswith(f"prefect-federation explain {event_id}")

    shown = subprocess.run(
        [
            "bash",
            "-c",
            command.replace(f"explain {event_id}", "")
            + ' && echo "$PREFECT_API_URL|$PREFECT_FEDERATION_DECLARATIONS"',
        ],
        env={"PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()

    assert shown[0] == "from-the-venv"  # the venv's `prefect-federation` is on PATH
    assert " ".join(shown[1:]) == (f"http://127.0.0.1:4301/api|{tmp_path}/it's here/deployments")


def test_a_bad_demo_listeners_setting_is_refused_naming_it_and_starts_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rich.console import Console

    from prefect_federation.local.demo import Demo, DemoFailed

    monkeypatch.setenv("PREFECT_FEDERATION_DEMO_LISTENERS", "forked")
    demo = Demo(tmp_path, tmp_path / "home", Console(file=None), "north")

    with pytest.raises(DemoFailed, match=r"PREFECT_FEDERATION_DEMO_LISTENERS must be .*'forked'"):
        demo.start_zygote()
    assert demo.zygote is None
    assert demo.stack.processes == []
