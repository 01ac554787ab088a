"""Starting the fork server: forked from a single-threaded listener, the engine's modules
imported before the fork (shared, not dirtied by the server importing them afterwards); a fresh
interpreter where forking would not be safe. Each case in a fresh interpreter: this one has
threads, so it would always take the fresh-interpreter path."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from prefect_federation.local import quiet_env

SCRIPT = """
import json, sys, threading, time
from prefect_federation import forkserver, forkserver_start

if sys.argv[1] == "an import starts a thread":
    def engine_imports():
        threading.Thread(target=time.sleep, args=(60,), daemon=True).start()
    forkserver.engine_imports = engine_imports

server = forkserver_start.start_fork_server([], sys.argv[2], None, False)
ready = json.loads(server.stdout.readline())
server.stdin.write(json.dumps({"op": "stop", "kill_after": 1}) + "\\n")
server.stdin.close()
code = server.wait(60)
print(json.dumps({
    "server": type(server).__name__,
    "engine imported here": "prefect.flow_engine" in sys.modules,
    "ready": ready["event"],
    "code": code,
}))
"""


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("single-threaded", {"server": "ForkedServer", "engine imported here": True}),
        ("an import starts a thread", {"server": "Popen", "engine imported here": False}),
    ],
)
def test_the_server_is_forked_after_the_engine_imports_unless_a_thread_appeared(
    case: str, expected: dict[str, object]
) -> None:
    api = "http://127.0.0.1:9/api"  # nothing listens: the server and its spare do not need it
    completed = subprocess.run(
        [sys.executable, "-c", SCRIPT, case, api],
        env=quiet_env({"PREFECT_API_URL": api}),  # as the listener has it: one API, no other
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert completed.returncode == 0, completed.stderr
    found = json.loads(completed.stdout.strip().splitlines()[-1])
    assert found == {**expected, "ready": "ready", "code": 0}, completed.stderr


@pytest.mark.parametrize("value", ["soon", "-5", "inf", "nan"])
def test_a_bad_spare_idle_setting_is_refused_before_the_server_starts(
    value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prefect_federation.errors import ConfigError
    from prefect_federation.forkserver import SPARE_IDLE_ENV
    from prefect_federation.forkserver_start import start_fork_server

    monkeypatch.setenv(SPARE_IDLE_ENV, value)

    with pytest.raises(ConfigError, match=f"{SPARE_IDLE_ENV} must be a number.*{value!r}"):
        start_fork_server([], "http://127.0.0.1:9/api", None, False)


@pytest.mark.parametrize(("value", "seconds"), [("", 20.0), ("0", 0.0), (" 45.5 ", 45.5)])
def test_the_spare_idle_setting_is_read_as_seconds(
    value: str, seconds: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prefect_federation.forkserver import SPARE_IDLE_ENV, spare_idle_seconds

    monkeypatch.setenv(SPARE_IDLE_ENV, value)

    assert spare_idle_seconds() == seconds
