"""The benchmark's downstream flow: its first statement records when it started.

`marker` is the path of a file to write; the flow writes `time.time()` there (atomically: a
temporary file, then a rename), so the bench reads the moment the flow's body began, on the same
host clock as the moment it published the event.
"""

import os
import time

from prefect import flow


@flow(name="first-line", log_prints=False, persist_result=False)
def first_line(marker: str) -> None:
    started = time.time()  # the first statement: everything before it is latency
    partial = f"{marker}.partial"
    with open(partial, "w") as handle:
        handle.write(repr(started))
    os.replace(partial, marker)
