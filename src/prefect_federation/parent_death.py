"""Linux's parent-death signal: a process that must not outlive its parent asks for it itself.

`die_with_parent()` sets `prctl(PR_SET_PDEATHSIG)` on the calling process: the fork server and
its forked flow runs die with their listener, a demo's helper with its test. The kernel sends it
when the *thread* that forked the process exits, so only processes started from a long-lived
thread (the main thread) may ask for it. A module of its own (the standard library only), so a
fork server does not import the local stack to use it.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

__all__ = ["die_with_parent"]

PR_SET_PDEATHSIG = 1
_libc: ctypes.CDLL | None = None


def die_with_parent(parent: int | None = None, signum: int = signal.SIGTERM) -> bool:
    """Ask the kernel to send `signum` to this process when its parent dies (Linux only).

    `parent` is the pid the parent had: if it is already gone (it died before this call), the
    signal is sent at once. Returns False where the platform has no parent-death signal.
    """
    global _libc
    if not sys.platform.startswith("linux"):
        return False
    try:
        if _libc is None:
            _libc = ctypes.CDLL(None, use_errno=True)
        if _libc.prctl(PR_SET_PDEATHSIG, signum, 0, 0, 0) != 0:
            return False
    except (OSError, AttributeError):
        return False
    if parent is not None and os.getppid() != parent:
        os.kill(os.getpid(), signum)
    return True
