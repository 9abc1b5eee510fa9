"""Which term sets each search source has fetched (a term set's first answer primes it)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlite_utils import Database

from bot.domain.clock import iso


def searched(db: Database, source_id: int) -> set[str]:
    """Return the keys of the term sets this source has fetched at least once."""
    rows = db.execute("SELECT terms FROM search_queries WHERE source_id = ?", (source_id,)).fetchall()
    return {row[0] for row in rows}


def mark_searched(db: Database, source_id: int, keys: Iterable[str], now: datetime) -> None:
    """Record that these term sets were fetched now."""
    stamp = iso(now)
    with db.atomic():
        db.conn.executemany(
            "INSERT INTO search_queries (source_id, terms, first_polled_at, last_polled_at)"
            " VALUES (?, ?, ?, ?)"
            " ON CONFLICT (source_id, terms) DO UPDATE SET last_polled_at = excluded.last_polled_at",
            [(source_id, key, stamp, stamp) for key in keys],
        )
