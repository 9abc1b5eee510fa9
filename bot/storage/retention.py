"""Retention: forget delivered alerts and old items, in small transactions.

Rules, in this order:
1. Sent and failed alerts older than the cutoff go (pending ones always stay).
2. Items go when fetched before the cutoff, published before it (or undated), not among their
   source's newest `keep_per_source`, and not referenced by any remaining alert.
The newest items of a source are kept because a feed may still carry them: forgetting an
identity the feed still shows would make the item look new and alert again.
"""

from __future__ import annotations

from datetime import datetime

from sqlite_utils import Database

from bot.domain.clock import iso
from bot.storage import outbox


def prune_alerts(db: Database, cutoff: datetime, limit: int = 1000) -> int:
    """Delete up to `limit` sent or failed alerts older than the cutoff; return how many."""
    return outbox.prune(db, cutoff, limit)


def old_item_ids(db: Database, cutoff: datetime, keep_per_source: int) -> list[int]:
    """Return the ids of items old enough to forget (rule 2, without the alert check)."""
    cur = db.execute(
        "SELECT id FROM (SELECT id, fetched_at, published,"
        " ROW_NUMBER() OVER (PARTITION BY source_id ORDER BY id DESC) AS newest FROM items) AS ranked"
        " WHERE newest > ? AND fetched_at < ? AND (published IS NULL OR published < ?) ORDER BY id",
        (keep_per_source, iso(cutoff), iso(cutoff)),
    )
    return [r[0] for r in cur.fetchall()]


def delete_items(db: Database, item_ids: list[int]) -> int:
    """Delete these items unless an alert still refers to them; return how many went."""
    if not item_ids:
        return 0
    marks = ",".join("?" * len(item_ids))
    with db.atomic():
        doomed = db.execute(
            f"SELECT id, source_id FROM items WHERE id IN ({marks})"
            " AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.item_id = items.id)",
            tuple(item_ids),
        ).fetchall()
        per_source: dict[int, int] = {}
        for _, source_id in doomed:
            per_source[source_id] = per_source.get(source_id, 0) + 1
        ids = [r[0] for r in doomed]
        db.execute(f"DELETE FROM items WHERE id IN ({','.join('?' * len(ids))})", tuple(ids))
        for source_id, gone in per_source.items():
            db.execute("UPDATE sources SET item_count = item_count - ? WHERE id = ?", (gone, source_id))
    return len(ids)
