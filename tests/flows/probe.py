"""Flows the executor tests run: they write what they got, sleep, or die."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from prefect import flow


@flow(name="probe-write")
def write(path: str, value: int) -> int:
    """Record the parameters and the time of the first statement."""
    Path(path).write_text(json.dumps({"value": value, "at": time.time(), "pid": os.getpid()}))
    return value * 2


@flow(name="probe-sleep")
def sleep(seconds: float, path: str) -> None:
    Path(path).write_text("started")
    time.sleep(seconds)


@flow(name="probe-die")
def die(code: int) -> None:
    os._exit(code)


@flow(name="probe-count")
def count(path: str) -> None:
    """Append one line per execution of the flow body: how often it really ran."""
    with Path(path).open("a") as out:
        out.write(f"{os.getpid()}\n")


@flow(name="probe-tally")
def tally(path: str, key: str, seconds: float) -> None:
    """Append the event's key once per execution of the body, then take `seconds`."""
    with Path(path).open("a") as out:
        out.write(f"{key}\n")
    time.sleep(seconds)
