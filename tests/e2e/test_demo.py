"""End to end: real `prefect server start`, real workers and listeners, moto server: the demo.

A flow of one domain publishes on completion; the downstream domains' flows actually run, with the
parameters the declarations render from the events.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import select
import signal
import subprocess
import sys
import termios
import time
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID

import pytest

from prefect_federation.labels import correlation_tag
from prefect_federation.local import LocalFederation, quiet_env
from prefect_federation.local.demo import DEMO_CHAIN
from prefect_federation.local.reaper import die_with_parent, group_members

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def prefect_server(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A real `prefect server start` process, stopped after the module even on failure."""
    with LocalFederation(tmp_path_factory.mktemp("prefect-e2e")) as federation:
        yield federation.start_prefect()


def run_demo(home: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    cli = str(Path(sys.executable).with_name("prefect-federation"))
    return subprocess.run(
        [cli, "demo", "--once", "--timeout", "240", "--home", str(home), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=480,
    )


def test_federated_demo_with_process_workers_runs_the_chain_with_the_events_parameters(
    prefect_server: str, tmp_path: Path
) -> None:
    """Real `prefect server start` (configured: the upstream domains' server) and an embedded one
    for the downstream domains; real `prefect worker start --type process` per domain. The chain
    crosses the two servers through SNS/SQS only, each run with the parameters its declarations
    render from the events."""
    from prefect.client.orchestration import SyncPrefectClient

    from prefect_federation.chain import chain_runs

    env = quiet_env({"PREFECT_API_URL": prefect_server})
    for name in ("AWS_ENDPOINT_URL", "PREFECT_FEDERATION_AWS_CREDENTIALS_BLOCK"):
        env.pop(name, None)  # embedded moto server

    result = run_demo(tmp_path, env, "--runner", "process", "--federated")

    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    servers = re.findall(
        r"Prefect API \((upstream|downstream)\): (configured, |embedded server at )(\S+)", output
    )
    assert [(name, how) for name, how, _ in servers] == [
        ("upstream", "configured, "),
        ("downstream", "embedded server at "),
    ]
    upstream, downstream = (url.rstrip("/") for _, _, url in servers)
    assert upstream == prefect_server.rstrip("/")
    assert upstream != downstream
    # the runs of each domain are on its own server
    up_ui, down_ui = upstream.removesuffix("/api"), downstream.removesuffix("/api")
    assert re.search(rf"ingestion .* created by vendor\.file-delivered\s+{up_ui}/runs/", output)
    assert re.search(rf"notifications .* created by scoring\.completed\s+{down_ui}/runs/", output)
    assert "the whole chain completed: 5 runs" in output
    for server in (up_ui, down_ui):  # the feed of each server, heartbeats left out
        assert f"{server}/events?events=prefect-federation.event.received" in output
    assert "a Prefect process worker and a listener per domain" in output
    # reporting's join: customer-master's event waits for scoring's, then the one run starts
    waiting = output.find("customer-master.completed arrived; waiting for scoring.completed")
    started = output.find("its one run is started")
    assert 0 <= waiting < started, output[-4000:]
    event_id = re.search(r"published vendor\.file-delivered (\S+)", output)
    assert event_id, output[-2000:]
    today = datetime.now(UTC).date().isoformat()

    # the upstream runs, on the configured server (the embedded one stopped with the demo)
    with SyncPrefectClient(upstream) as client:
        runs = chain_runs(client, UUID(event_id.group(1)))
        by_flow = {client.read_flow(r.flow_id).name: r for r in runs}
    assert set(by_flow) == {"land-raw-data", "build-customer-master"}
    assert all(r.state is not None and r.state.is_completed() for r in runs)
    for run in runs:  # every run after the first carries the chain: the same correlation id
        assert correlation_tag(event_id.group(1)) in run.tags
    data = tmp_path / "data"
    assert by_flow["build-customer-master"].parameters == {
        "batch_id": f"{today}-north",
        "snapshot_date": today,
        "region": "north",
        "raw_path": str(data / "raw" / today / "north.csv"),
        "expected_rows": 3000,
    }
    # the downstream runs, by what their parameters made them do: scoring read the master
    # file the event named, the joined report both joined events' files, notify its channel
    assert (data / "scores" / today / "north.csv").exists()
    report = (data / "reports" / today / "north.md").read_text()
    assert f"# Risk report north {today}" in report
    assert f"batch `{today}-north`" in report  # from scores_path (scoring.completed)
    assert "customer master: " in report  # from master_path (customer-master.completed)
    outbox = json.loads((data / "outbox" / f"{today}-north.json").read_text())
    assert outbox["channel"] == "#risk-north"
    assert re.match(rf"north {today}: \d+ of \d+ customers high risk", outbox["text"])
    assert not (tmp_path / "pids").exists()  # the stack recorded no process left running
    assert processes_using(tmp_path) == []


def processes_using(home: Path) -> list[int]:
    """Pids of live processes whose environment points at this demo home."""
    marker = f"PREFECT_FEDERATION_DEMO_DATA={home / 'data'}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if marker in (entry / "environ").read_bytes().split(b"\0"):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


# -- stopped the ways people stop it ------------------------------------------------------------


def live_members(groups: list[int]) -> list[int]:
    return [pid for group in groups for pid in group_members(group)]


def start_in_a_terminal(home: Path, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], int]:
    """`prefect-federation demo` as a terminal's session leader (a pty: closing its master side
    is closing the terminal window); it also dies with this test process."""
    master, slave = os.openpty()

    def as_terminal_session() -> None:  # in the child, after setsid (start_new_session)
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)
        die_with_parent()

    cli = str(Path(sys.executable).with_name("prefect-federation"))
    process = subprocess.Popen(
        [cli, "demo", "--home", str(home)],
        cwd=ROOT,
        env=env,
        stdin=slave,
        stdout=slave,
        stderr=slave,
        start_new_session=True,
        preexec_fn=as_terminal_session,  # a test, started from the main thread
    )
    os.close(slave)
    return process, master


def read_until(master: int, text: str, timeout: float, process: subprocess.Popen[bytes]) -> str:
    seen = b""
    deadline = time.monotonic() + timeout
    while text.encode() not in seen:
        assert process.poll() is None, seen.decode(errors="replace")[-3000:]
        assert time.monotonic() < deadline, seen.decode(errors="replace")[-3000:]
        readable, _, _ = select.select([master], [], [], 0.5)
        if readable:
            try:
                seen += os.read(master, 65536)
            except OSError:
                break
    return seen.decode(errors="replace")


def explain_from_another_terminal(output: str) -> None:
    """The `explain` command the demo prints works as written in a shell that has nothing of
    the demo's (not even the venv on PATH): every run of the chain ran, joins included."""
    match = re.search(r"runs: (\. \S+ && prefect-federation explain \S+)", output)
    assert match, output[-3000:]
    shell = {"PATH": "/usr/bin:/bin", "HOME": os.environ.get("HOME", "/tmp"), "COLUMNS": "300"}
    result = subprocess.run(
        ["bash", "-c", match[1]], env=shell, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "6 matching subscription(s): 6 ran, 0 did not" in result.stdout, result.stdout
    for deployment in DEMO_CHAIN:  # the join's run is reached from both of its events
        assert re.search(rf"{deployment}( \(\S+\))?: run .* Completed", result.stdout), (
            result.stdout
        )


@pytest.mark.parametrize("how", ["terminal closed", "SIGKILL"])
def test_a_demo_stopped_by_closing_its_terminal_or_sigkill_leaves_no_process_behind(
    how: str, tmp_path: Path
) -> None:
    """Closing the terminal (SIGHUP) stops every process as Ctrl-C does; a demo killed outright
    takes them with it too (its stack's reaper). Checked once every listener is ready: moto, the
    Prefect server, 5 listeners and their 5 fork servers are running."""
    env = quiet_env()
    for name in ("AWS_ENDPOINT_URL", "PREFECT_API_URL", "PREFECT_FEDERATION_AWS_CREDENTIALS_BLOCK"):
        env.pop(name, None)
    process, master = start_in_a_terminal(tmp_path, env)
    groups: list[int] = []
    try:
        read_until(master, "per domain (logs in", 400, process)
        groups = [int(pid) for pid in (tmp_path / "pids").read_text().split()]
        running = live_members(groups)
        assert len(running) >= 12, running  # moto, Prefect, 5 listeners, 5 fork servers
        if how == "terminal closed":
            explain_from_another_terminal(read_until(master, "stays up", 240, process))

        signalled = time.monotonic()
        if how == "SIGKILL":
            process.kill()
        else:
            os.close(master)
            master = -1
        process.wait(60)

        deadline = time.monotonic() + 60
        while live_members(groups) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert live_members(groups) == [], f"{how}: still running"
        print(f"{how}: {len(running)} processes gone {time.monotonic() - signalled:.1f}s after")
        if how == "terminal closed":
            assert process.returncode == 0  # stopped, not killed by SIGHUP
        deadline = time.monotonic() + 10
        while (tmp_path / "pids").exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not (tmp_path / "pids").exists()
        assert not (tmp_path / "env").exists()  # its ports are gone with it
        assert processes_using(tmp_path) == []
    finally:
        if process.poll() is None:
            process.kill()
        for group in groups:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(group, signal.SIGKILL)
        if master >= 0:
            os.close(master)
