"""Giving freed heap back to the kernel: `malloc_trim(0)` where the C library is glibc.

glibc keeps memory that Python and its C extensions freed in its arenas instead of returning it,
and each thread that allocates gets an arena of its own. Start-up leaves megabytes of such free
chunks behind (imports' temporaries; the warm fork child's observer thread leaves ~7 MiB), all
of it resident and, after a fork, private to whichever process wrote it. `release_free_memory`
asks glibc to return the free pages of every arena (a few milliseconds); elsewhere it does
nothing. The listener calls it once it is serving and with every heartbeat, the fork server once
it is warm, and a spare fork child once it has warmed up.
"""

from __future__ import annotations

import ctypes
import sys

__all__ = ["release_free_memory"]

_trim: object = None  # the C function once looked up; False where there is none


def release_free_memory() -> bool:
    """Return the free pages of glibc's arenas to the kernel; False where that is not possible."""
    global _trim
    if _trim is None:
        _trim = False
        if sys.platform.startswith("linux"):
            try:
                trim = ctypes.CDLL(None).malloc_trim
                trim.argtypes = [ctypes.c_size_t]
                trim.restype = ctypes.c_int
                _trim = trim
            except (OSError, AttributeError):  # musl and others have no malloc_trim
                pass
    if _trim is False:
        return False
    _trim(0)  # type: ignore[operator]
    return True
