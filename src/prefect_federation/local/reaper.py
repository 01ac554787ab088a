"""Processes that must not outlive the process that started them.

Two mechanisms, because either alone leaves a gap:

- **the reaper**: a `Stack` starts a small watchdog process first (`python -m
  prefect_federation.local.reaper`) and tells it the process group of every process it starts. Its
  stdin is a pipe from the stack's process; when that pipe closes without a `release`, the
  stack's process is gone however it died (SIGKILL, a closed terminal, a test run stopped with
  SIGTERM), and the reaper stops every group it was told about: SIGTERM, SIGKILL after a grace
  period, then it removes the stack's pid file. It sits in its own session, so neither Ctrl-C nor a
  closed terminal reaches it, and it reaches the grandchildren too (a group is the whole tree).
- **`die_with_parent()`** (in `prefect_federation.parent_death`, re-exported here): Linux's
  parent-death signal (`prctl(PR_SET_PDEATHSIG)`), set by a process on itself: the fork server and
  its forked flow runs die with their listener. The kernel sends it when the *thread* that forked
  the process exits, so only processes started from a long-lived thread (the main thread) may ask
  for it.

Protocol on the reaper's stdin, one line each: `<pgid>` watch a group, `-<pgid>` forget it (the
stack stopped it), `remove <path>` a file to remove along with the pid file (the demo's
`<home>/env`, whose ports are gone with the stack), `release` exit without stopping anything.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from prefect_federation.parent_death import die_with_parent

__all__ = [
    "Reaper",
    "die_with_parent",
    "group_alive",
    "group_members",
    "live_processes",
    "main",
    "stop_groups",
]


def live_processes() -> Iterator[tuple[int, int, int]]:
    """(pid, parent pid, process group) of each live process (zombies do not count); Linux
    (/proc) only."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] not in ("Z", "X"):
            yield int(entry.name), int(fields[1]), int(fields[2])


def group_members(pgid: int) -> list[int]:
    """The live processes of group `pgid` (zombies do not count); Linux (/proc) only."""
    return [pid for pid, _, group in live_processes() if group == pgid]


def group_alive(pgid: int) -> bool:
    """True while a process of group `pgid` is alive (zombies do not count)."""
    if Path("/proc").is_dir():
        return bool(group_members(pgid))
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def stop_groups(groups: list[int], grace: float) -> None:
    """SIGTERM every group; SIGKILL the ones still alive after `grace` seconds."""
    for pgid in groups:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    alive = [g for g in groups if group_alive(g)]
    while alive and time.monotonic() < deadline:
        time.sleep(0.1)
        alive = [g for g in alive if group_alive(g)]
    for pgid in alive:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)


class Reaper:
    """The stack's side of the reaper process: tell it the groups; `release()` on a clean stop."""

    def __init__(self, pid_file: Path, log_path: Path, grace: float) -> None:
        with log_path.open("ab") as log:
            self._process: subprocess.Popen[str] | None = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "prefect_federation.local.reaper",
                    str(pid_file),
                    str(grace),
                ],
                stdin=subprocess.PIPE,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                text=True,
            )

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def _send(self, line: str) -> None:
        if self._process is None or self._process.stdin is None:
            return
        with contextlib.suppress(OSError, ValueError):
            self._process.stdin.write(line + "\n")
            self._process.stdin.flush()

    def watch(self, pgid: int) -> None:
        self._send(str(pgid))

    def forget(self, pgid: int) -> None:
        self._send(f"-{pgid}")

    def remove_when_reaping(self, path: Path) -> None:
        """Remove `path` too if the reaper has to stop the stack (its process died)."""
        self._send(f"remove {path}")

    def release(self) -> None:
        """Everything is stopped: let the reaper exit without touching anything."""
        if self._process is None:
            return
        self._send("release")
        with contextlib.suppress(OSError, ValueError):
            self._process.stdin.close()  # type: ignore[union-attr]
        try:
            self._process.wait(5)
        except subprocess.TimeoutExpired:
            self._process.kill()
        self._process = None


class _Reap(Exception):
    """SIGTERM to the reaper itself: reap now."""


def _on_term(_signum: int, _frame: object) -> None:
    raise _Reap


def main(argv: list[str] | None = None) -> int:
    """Watch the groups named on stdin; stop them when stdin closes without `release`."""
    args = list(argv if argv is not None else sys.argv[1:])
    pid_file = Path(args[0]) if args else None
    grace = float(args[1]) if len(args) > 1 else 10.0
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _on_term)
    groups: list[int] = []
    forgotten: set[int] = set()  # stopped by the stack: still ours in the pid file
    files: list[Path] = []
    stdin: IO[str] = sys.stdin
    try:
        for line in stdin:
            word = line.strip()
            if word == "release":
                return 0
            if word.startswith("remove "):
                files.append(Path(word.removeprefix("remove ")))
                continue
            with contextlib.suppress(ValueError):
                pgid = int(word)
                if pgid > 0:
                    groups.append(pgid)
                elif -pgid in groups:
                    groups.remove(-pgid)
                    forgotten.add(-pgid)
    except _Reap:
        pass
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    live = [g for g in groups if group_alive(g)]
    if live:
        print(f"the stack's process is gone: stopping process groups {live}", flush=True)
        stop_groups(live, grace)
    if pid_file is not None and _only_ours(pid_file, [*groups, *forgotten]):
        pid_file.unlink(missing_ok=True)
        for path in files:  # not a newer stack's: the pid file was ours
            path.unlink(missing_ok=True)
    return 0


def _only_ours(pid_file: Path, groups: list[int]) -> bool:
    """True if the pid file names only groups we watched (not a newer stack's)."""
    try:
        recorded = {int(word) for word in pid_file.read_text().split()}
    except (OSError, ValueError):
        return False
    return recorded <= set(groups)


if __name__ == "__main__":  # pragma: no cover - run as a process
    sys.exit(main())
