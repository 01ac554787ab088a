"""The process harness (`Stack`, used by the demo, the tests and the bench): nothing it started
outlives the process that owns it, however that process ends, and a process is ready only when
this run's process says so, never because of an earlier run's log lines."""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.console import Console

from prefect_federation.local import Stack, quiet_env
from prefect_federation.local.demo import Demo, DemoFailed
from prefect_federation.local.reaper import group_members
from prefect_federation.testing import wait_until

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]

SLEEPS = "import time; time.sleep(600)"
IGNORES_SIGTERM = (
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    "print('ignoring SIGTERM', flush=True); time.sleep(600)"
)
SPAWNS_A_CHILD = (
    "import subprocess, sys, time; "
    "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)']); time.sleep(600)"
)
OWNER = f"""
import json, signal, sys, time
from pathlib import Path
from prefect_federation.local import Stack, quiet_env

signal.signal(signal.SIGHUP, signal.SIG_DFL)  # as a terminal starts it (nohup would ignore it)
stack = Stack(Path(sys.argv[1]), grace=2)
stubborn = stack.start("stubborn", [sys.executable, "-c", {IGNORES_SIGTERM!r}], quiet_env())
tree = stack.start("tree", [sys.executable, "-c", {SPAWNS_A_CHILD!r}], quiet_env())
while "ignoring SIGTERM" not in stubborn.log_path.read_text():
    time.sleep(0.05)
(Path(sys.argv[1]) / "env").write_text("export PREFECT_API_URL=http://127.0.0.1:9/api")
stack.remove_when_reaped(Path(sys.argv[1]) / "env")  # as the demo does with its env file
print(json.dumps([stubborn.pid, tree.pid]), flush=True)
time.sleep(600)
"""
HARNESS_TEST = """
import sys, time
from pathlib import Path

import pytest

from prefect_federation.local import Stack, quiet_env

HOME = Path(__file__).parent / "home"


@pytest.fixture
def stack():
    with Stack(HOME) as stack:
        yield stack


def test_a_long_one(stack):
    process = stack.start("listener", [sys.executable, "-c", "import time; time.sleep(600)"],
                          quiet_env())
    (HOME / "started").write_text(str(process.pid))
    time.sleep(600)
"""


def reapers_of(home: Path) -> list[int]:
    """Pids of reaper processes watching this home's stack."""
    marker = str(home / "pids").encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if marker in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
    return found


@pytest.fixture
def kill_afterwards() -> Iterator[list[int]]:
    """Process groups to SIGKILL when the test ends, pass or fail."""
    groups: list[int] = []
    yield groups
    for pgid in groups:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)


@pytest.mark.parametrize(
    "signum", [signal.SIGKILL, signal.SIGTERM, signal.SIGHUP], ids=lambda s: s.name
)
def test_what_a_stack_started_dies_with_its_owner_however_the_owner_dies(
    signum: signal.Signals, tmp_path: Path, kill_afterwards: list[int]
) -> None:
    """The owner has no handlers: its finally blocks never run. The reaper stops each process
    group (SIGKILL for the one that ignores SIGTERM, after the grace) and removes the pid file,
    and the file it was told to remove (the demo's `env`, naming ports that are gone)."""
    home = tmp_path / "home"
    owner = subprocess.Popen(
        [sys.executable, "-c", OWNER, str(home)],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    kill_afterwards.append(owner.pid)
    assert owner.stdout is not None
    groups = json.loads(owner.stdout.readline())
    kill_afterwards.extend(groups)
    kill_afterwards.extend(reapers_of(home))
    wait_until(lambda: len(group_members(groups[1])) == 2, 30, "the grandchild started")
    pids = [pid for group in groups for pid in group_members(group)]
    assert len(pids) == 3
    assert (home / "env").exists()

    owner.send_signal(signum)
    owner.wait(10)

    wait_until(lambda: not any(group_members(g) for g in groups), 15, f"no survivor of {pids}")
    wait_until(lambda: not (home / "pids").exists(), 5, "the pid file removed")
    wait_until(lambda: not reapers_of(home), 5, "the reaper gone")
    assert not (home / "env").exists()


def test_a_test_run_stopped_with_sigterm_leaves_no_process_behind(
    tmp_path: Path, kill_afterwards: list[int]
) -> None:
    """A CI time-out sends SIGTERM to pytest: no fixture finalizer runs."""
    (tmp_path / "test_harness.py").write_text(HARNESS_TEST)
    home = tmp_path / "home"
    run = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_harness.py"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    kill_afterwards.append(run.pid)
    started = home / "started"
    wait_until(lambda: started.exists() or run.poll() is not None, 60, "the test started")
    assert run.poll() is None
    listener = int(started.read_text())
    kill_afterwards.append(listener)
    assert group_members(listener) == [listener]

    run.send_signal(signal.SIGTERM)
    run.wait(10)

    wait_until(lambda: not group_members(listener), 15, "the test's listener stopped")


def test_a_stack_stops_its_processes_together_within_the_grace(tmp_path: Path) -> None:
    with Stack(tmp_path, grace=2) as stack:
        for n in range(3):
            stack.start(f"stubborn-{n}", [sys.executable, "-c", IGNORES_SIGTERM], quiet_env())
        groups = [p.pid for p in stack.processes]
        for process in stack.processes:
            wait_until(lambda p=process: "ignoring" in p.output(), 10, f"{process.name} started")
        started = time.monotonic()
    took = time.monotonic() - started
    assert not any(group_members(g) for g in groups)
    assert took < 2 + 2, f"stopped one after the other: {took:.1f}s"  # not 3 x the grace
    assert not (tmp_path / "pids").exists()
    assert not reapers_of(tmp_path)


def test_a_process_is_ready_only_once_it_writes_its_own_pid(tmp_path: Path) -> None:
    go = tmp_path / "go"
    script = (
        "import os, time\n"
        "from pathlib import Path\n"
        f"while not Path({str(go)!r}).exists(): time.sleep(0.05)\n"
        "Path(os.environ['PREFECT_FEDERATION_LISTENER_READY_FILE']).write_text(str(os.getpid()))\n"
        "time.sleep(600)\n"
    )
    with Stack(tmp_path / "home", grace=2) as stack:
        stale = stack.ready_file("listener-x")
        stale.parent.mkdir(parents=True)
        stale.write_text("12345\n")  # an earlier run's
        process = stack.start(
            "listener-x", [sys.executable, "-c", script], quiet_env(), ready_file=True
        )
        assert not stale.exists()
        with pytest.raises(TimeoutError, match="listener-x"):
            stack.wait_ready([process], 1)

        go.touch()
        stack.wait_ready([process], 10)
        assert process.ready()
    assert not stale.exists()


def test_a_second_demo_is_not_ready_because_of_the_first_demos_log_lines(tmp_path: Path) -> None:
    """The listeners' logs of an earlier demo in the same home say "polling"; a listener of this
    run that has not received from its queue yet is not ready."""
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "listener-scoring.log").write_text(
        "2026-01-01 00:00:00,000 INFO prefect_federation.listener: listener for domain "
        "'scoring' polling http://127.0.0.1:1/123456789012/federation-scoring-inbox\n"
    )
    demo = Demo(ROOT, tmp_path, Console(file=io.StringIO()), "north")
    try:
        demo.stack.start("listener-scoring", [sys.executable, "-c", SLEEPS], quiet_env())
        started = time.monotonic()
        with pytest.raises(DemoFailed, match="did not start polling"):
            demo.wait_for_listeners(timeout=1.5)
        assert time.monotonic() - started >= 1.5
    finally:
        demo.stack.stop()
