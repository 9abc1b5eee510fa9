"""The items table: everything seen, by identity, and the one transaction that stores a poll."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlite_utils import Database

from bot.domain.clock import iso, parse_iso

# Stored text is for previews and alert snippets; the full text was matched already.
MAX_STORED_TEXT = 4000


@dataclass(frozen=True, slots=True)
class NewItem:
    """An item to store, with its identity and canonical link already decided."""

    identity: str
    guid: str | None
    link: str | None
    canonical_link: str | None
    link_key: str | None
    title: str
    text: str
    published: datetime | None
    action: str | None = None


@dataclass(frozen=True, slots=True)
class NewAlert:
    """An alert to enqueue for the item at `item_index` of the poll's new items."""

    item_index: int
    subscription_id: int
    target: str
    terms: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class StoredItem:
    """An item read back for previews and explanations."""

    id: int
    source_id: int
    source_name: str
    title: str
    text: str
    link: str | None
    published: datetime | None
    fetched_at: datetime
    action: str | None


def known_identities(db: Database, source_id: int, identities: Sequence[str]) -> set[str]:
    """Return which of these identities the source has stored already."""
    known: set[str] = set()
    ids = list(identities)
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        marks = ",".join("?" * len(chunk))
        cur = db.execute(
            f"SELECT identity FROM items WHERE source_id = ? AND identity IN ({marks})", (source_id, *chunk)
        )
        known.update(r[0] for r in cur.fetchall())
    return known


def store_poll(
    db: Database,
    source_id: int,
    now: datetime,
    next_check_at: datetime,
    items: Sequence[NewItem],
    alerts: Sequence[NewAlert],
    *,
    etag: str | None,
    last_modified: str | None,
    body_hash: str | None,
    first_poll: bool = False,
) -> tuple[int, int]:
    """Store new items, enqueue their alerts and update the source, in one transaction.

    Returns (items stored, alerts enqueued). An alert whose target already has (or had) an
    alert for the same canonical link is skipped: one alert per link per target.
    """
    stored = enqueued = 0
    with db.atomic():
        # One executemany for the whole poll; rows above the previous maximum id are the ones
        # this statement inserted (an identity stored meanwhile is ignored and never alerts).
        before = db.execute("SELECT COALESCE(MAX(id), 0) FROM items").fetchone()[0]
        db.conn.executemany(
            "INSERT OR IGNORE INTO items (source_id, identity, guid, link, canonical_link, title, text,"
            " published, fetched_at, action, first_poll) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    source_id,
                    it.identity,
                    it.guid,
                    it.link,
                    it.canonical_link,
                    it.title,
                    it.text[:MAX_STORED_TEXT],
                    iso(it.published) if it.published else None,
                    iso(now),
                    it.action,
                    int(first_poll),
                )
                for it in items
            ],
        )
        item_ids: list[int | None] = [None] * len(items)
        if items:
            index = {it.identity: n for n, it in enumerate(items)}
            for row_id, identity in db.execute(
                "SELECT id, identity FROM items WHERE source_id = ? AND id > ?", (source_id, before)
            ).fetchall():
                if identity in index:
                    item_ids[index[identity]] = row_id
        stored = sum(1 for i in item_ids if i is not None)
        for alert in alerts:
            item_id = item_ids[alert.item_index]
            if item_id is None:
                continue
            key = items[alert.item_index].link_key or f"item:{item_id}"
            cur = db.execute(
                "INSERT OR IGNORE INTO outbox (subscription_id, item_id, target, link_key, terms, status,"
                " next_attempt_at, created_at) VALUES (?, ?, ?, ?, ?, 'pending', ?, ?)",
                (
                    alert.subscription_id,
                    item_id,
                    alert.target,
                    key,
                    json.dumps(alert.terms),
                    iso(now),
                    iso(now),
                ),
            )
            enqueued += cur.rowcount
        db.execute(
            "UPDATE sources SET etag = ?, last_modified = ?, body_hash = COALESCE(?, body_hash),"
            " next_check_at = ?, failures = 0, last_error = NULL, failing_since = NULL, last_polled_at = ?,"
            " last_ok_at = ?, primed = 1, item_count = item_count + ?,"
            " last_new_item_at = CASE WHEN ? > 0 THEN ? ELSE last_new_item_at END WHERE id = ?",
            (
                etag,
                last_modified,
                body_hash,
                iso(next_check_at),
                iso(now),
                iso(now),
                stored,
                stored,
                iso(now),
                source_id,
            ),
        )
    return stored, enqueued


def recent(db: Database, since: datetime, limit: int = 5000) -> list[StoredItem]:
    """Return items fetched since a time, newest first, with their source's name."""
    cur = db.execute(
        "SELECT i.id, i.source_id, s.name, i.title, i.text, i.link, i.published, i.fetched_at, i.action"
        " FROM items i JOIN sources s ON s.id = i.source_id WHERE i.fetched_at >= ?"
        " ORDER BY i.fetched_at DESC, i.id DESC LIMIT ?",
        (iso(since), limit),
    )
    return [
        StoredItem(
            id=r[0],
            source_id=r[1],
            source_name=r[2],
            title=r[3],
            text=r[4],
            link=r[5],
            published=parse_iso(r[6]),
            fetched_at=parse_iso(r[7]) or since,
            action=r[8],
        )
        for r in cur.fetchall()
    ]
