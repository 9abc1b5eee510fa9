"""Crash points for fault-injection tests: REGWATCH_FAILPOINTS kills the process at named points.

The value is a comma-separated list of `name` (kill at the first time the point is reached) or
`name@N` (kill at the N-th time, counted in this process). This is how the tests prove that a
process killed at the worst moment loses no alert and sends none twice. It is inert unless the
variable is set; never set it in production.

Points: `store_before_outbox` (a poll's new items written, its outbox rows not yet, inside the
poll's transaction), `after_enqueue` (the poll committed, nothing sent yet), `after_send` (a
message accepted by the sink, its alerts not yet marked sent), `after_digest_post` (a digest
message accepted, the digest not yet marked sent), `backup_before_rename` (a backup written, not
yet moved into place).
"""

from __future__ import annotations

import os
import signal
from collections import Counter

_hits: Counter[str] = Counter()


def _armed(name: str) -> int | None:
    """Return at which hit the named point kills (1 = the first), or None when it is not armed."""
    for spec in os.environ.get("REGWATCH_FAILPOINTS", "").split(","):
        point, _, nth = spec.strip().partition("@")
        if point == name:
            return int(nth) if nth.isdigit() else 1
    return None


def failpoint(name: str) -> None:
    """Kill this process with SIGKILL if the named failpoint is armed for this hit."""
    if "REGWATCH_FAILPOINTS" not in os.environ:
        return
    at = _armed(name)
    if at is None:
        return
    _hits[name] += 1
    if _hits[name] >= at:
        os.kill(os.getpid(), signal.SIGKILL)
