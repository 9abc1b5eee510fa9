"""Crash points for fault-injection tests: REGWATCH_FAILPOINTS=name[,name] kills the process there.

This is how the tests prove that a process killed at the worst moment loses no alert and
sends none twice. It is inert unless the variable is set; never set it in production.
"""

from __future__ import annotations

import os
import signal


def failpoint(name: str) -> None:
    """Kill this process with SIGKILL if the named failpoint is armed."""
    armed = os.environ.get("REGWATCH_FAILPOINTS", "")
    if armed and name in armed.split(","):
        os.kill(os.getpid(), signal.SIGKILL)
