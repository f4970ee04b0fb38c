"""Fault-injection points for the crash tests, inert unless the environment asks for them.

`RETENTION_TEST_PAUSE=<stage>:<batch>:<marker file>` makes a run stop inside its
<batch>-th batch transaction (counted over the whole process) at <stage>, write the marker
file and wait until the test removes it (at most five minutes), so that a test can kill the
process, or its database session, exactly there:

- `changed`: the batch's rows are changed, its audit record is not written yet;
- `audited`: the audit record is written, the transaction is not committed yet.

Nothing in normal operation sets the variable; the check costs one dictionary lookup per
batch.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

STAGES = ("changed", "audited")
_batches = {stage: 0 for stage in STAGES}


def pause(stage: str) -> None:
    spec = os.environ.get("RETENTION_TEST_PAUSE")
    if not spec:
        return
    wanted, number, marker = spec.split(":", 2)
    if wanted != stage:
        return
    _batches[stage] += 1
    if _batches[stage] != int(number):
        return
    path = Path(marker)
    path.write_text(f"{stage} {number}\n", encoding="utf-8")
    deadline = time.monotonic() + 300
    while path.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
