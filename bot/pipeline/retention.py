"""The daily clean-up: forget old delivered alerts and old items (rules in bot/storage/retention.py)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.storage import retention
from bot.storage.db import AsyncDatabase

log = logging.getLogger(__name__)

# A feed rarely shows more than a few hundred entries; their identities always stay.
KEEP_PER_SOURCE = 1000
_CHUNK = 500


@dataclass(frozen=True)
class Pruned:
    """How many alerts and items one clean-up removed."""

    alerts: int
    items: int


async def prune(
    adb: AsyncDatabase, now: datetime, *, days: int, keep_per_source: int = KEEP_PER_SOURCE
) -> Pruned:
    """Remove what is older than `days`, a small transaction at a time so polls keep storing."""
    cutoff = now - timedelta(days=days)
    alerts = 0
    while removed := await adb.call(retention.prune_alerts, cutoff, _CHUNK):
        alerts += removed
    candidates = await adb.call(retention.old_item_ids, cutoff, keep_per_source)
    items = 0
    for start in range(0, len(candidates), _CHUNK):
        items += await adb.call(retention.delete_items, candidates[start : start + _CHUNK])
    if alerts or items:
        log.info("retention: removed %d alerts and %d items older than %d days", alerts, items, days)
    return Pruned(alerts, items)
