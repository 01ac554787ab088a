"""The worked example, end to end, in one command (see README)."""

from __future__ import annotations

__all__ = ["run_demo"]


def run_demo(once: bool = False, timeout: float = 300) -> int:
    """Run the demo; returns the process exit code."""
    raise NotImplementedError
