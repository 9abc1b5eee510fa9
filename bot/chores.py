"""Chores (pruning, source notices, digests): every process runs them alone, one process with several.

`regwatch run` is the only process on its database and runs every chore. Workers share one
database: there each chore runs under a lease (kind `chore`, key its name, storage/leases.py),
so one worker at a time does it; the holder keeps it by renewing at each run, and when it dies
the lease expires and another worker takes the chore over. The holder of any chore also deletes
leases that expired a full lease time ago (left by a worker that died), so none lingers.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bot.domain.clock import Clock
from bot.storage import leases
from bot.storage.db import AsyncDatabase

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Shared:
    adb: AsyncDatabase
    owner: str
    seconds: float
    clock: Clock


class Chores:
    """Run chores: all of them (one process), or those whose lease this process holds (workers)."""

    def __init__(self) -> None:
        self._shared: _Shared | None = None

    def share(self, adb: AsyncDatabase, owner: str, seconds: float, clock: Clock) -> None:
        """From now on, run a chore only under its lease, as `owner`, for `seconds` at a time."""
        self._shared = _Shared(adb, owner, seconds, clock)

    @property
    def shared(self) -> bool:
        """Tell whether chores are shared among workers (run under leases)."""
        return self._shared is not None

    async def run(self, name: str, job: Callable[[], Awaitable[object]]) -> bool:
        """Run the chore if this process may; tell whether it ran."""
        shared = self._shared
        if shared is not None:
            token = await shared.adb.call(
                leases.acquire, "chore", name, shared.owner, shared.seconds, now=shared.clock()
            )
            if token is None:
                log.debug("chore %s: another worker holds it", name)
                return False
            await shared.adb.call(leases.purge_expired, shared.seconds, now=shared.clock())
        await job()
        return True
