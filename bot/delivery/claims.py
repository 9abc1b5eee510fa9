"""Channel claims: with several workers on one database, each channel is delivered by one at a time.

A worker delivers an alert only while it holds the lease of the alert's target (kind
`channel`, key the target: `discord:123`, `console`, `webhook:…`), and the outbox records
"sent" only while that lease is still held (storage/outbox/write.py). Leases are taken or
renewed at each look at the outbox; one held by a worker that died expires after
`seconds` and is taken over, and the new holder re-sends what was not marked (with the same
message nonce, which Discord uses to drop the copy).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

from sqlite_utils import Database

from bot.domain.clock import Clock, utcnow
from bot.storage import leases
from bot.storage.db import AsyncDatabase
from bot.storage.outbox import PendingAlert

log = logging.getLogger(__name__)

KIND = "channel"


def _acquire_all(
    db: Database, targets: Sequence[str], owner: str, seconds: float, now: datetime
) -> dict[str, str]:
    won: dict[str, str] = {}
    for target in targets:
        token = leases.acquire(db, KIND, target, owner, seconds, now=now)
        if token is not None:
            won[target] = token
    return won


class ChannelClaims:
    """The channel leases this process holds, taken as alerts for them come due."""

    def __init__(self, adb: AsyncDatabase, owner: str, seconds: float, *, clock: Clock = utcnow) -> None:
        self._adb = adb
        self.owner = owner
        self.seconds = seconds
        self._clock = clock
        self._tokens: dict[str, str] = {}

    async def keep(self, alerts: Sequence[PendingAlert]) -> list[PendingAlert]:
        """Take or renew the leases of these alerts' targets; return the alerts of targets now held."""
        targets = sorted({a.target for a in alerts})
        if not targets:
            return []
        won = await self._adb.call(_acquire_all, targets, self.owner, self.seconds, self._clock())
        for target in targets:
            if target in won:
                self._tokens[target] = won[target]
            else:
                self._tokens.pop(target, None)
        skipped = [t for t in targets if t not in won]
        if skipped:
            log.debug("%d channels are delivered by another worker now: %s", len(skipped), skipped[:5])
        return [a for a in alerts if a.target in won]

    def token(self, target: str) -> str | None:
        """Return the token of the lease this process holds on a target, if it took one."""
        return self._tokens.get(target)

    async def release_all(self) -> int:
        """Give up every lease of this owner (a clean stop): others may take the channels at once."""
        self._tokens.clear()
        return await self._adb.call(leases.release_owner, self.owner)
