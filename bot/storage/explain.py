"""What `why` reads: the items stored under a link, and a channel's alert for it (bot/services/insight.py)."""

from __future__ import annotations

from typing import Any

from sqlite_utils import Database

from bot.storage.sources import ITEM_VISIBLE, seen_name


def items_at_link(
    db: Database, canonical: str | None, *, guild_id: int | None = None
) -> list[tuple[Any, ...]]:
    """Return every stored item with this canonical link, oldest first (those `guild_id` may see).

    Each row: id, title, text, published, fetched_at, action, first_poll, source name (the one
    `guild_id` gave it), page_title, heading, source options (JSON text), classified.
    """
    name = "s.name" if guild_id is None else seen_name()
    scope = "" if guild_id is None else f" AND {ITEM_VISIBLE}"
    return db.execute(
        f"SELECT i.id, i.title, i.text, i.published, i.fetched_at, i.action, i.first_poll, {name},"
        " i.page_title, i.heading, s.options, i.classified FROM items i JOIN sources s ON s.id = i.source_id"
        f" WHERE i.canonical_link = ?{scope} ORDER BY i.id",
        (canonical,) if guild_id is None else (guild_id, canonical, guild_id),
    ).fetchall()


def alert_for_link(db: Database, target: str, link_key: str | None) -> tuple[Any, ...] | None:
    """Return the target's alert for a link (one per target and link), or None.

    The row: id, status, sent_at, created_at, last_error, subscription_id, item_id, explanation
    (JSON text), story_of, and the source's name as the subscription's server sees it.
    """
    row = db.execute(
        "SELECT o.id, o.status, o.sent_at, o.created_at, o.last_error, o.subscription_id, o.item_id,"
        f" o.explanation, o.story_of, {seen_name(guild='sub.guild_id')} FROM outbox o"
        " JOIN items i ON i.id = o.item_id JOIN sources s ON s.id = i.source_id"
        " JOIN subscriptions sub ON sub.id = o.subscription_id WHERE o.target = ? AND o.link_key = ?",
        (target, link_key),
    ).fetchone()
    return tuple(row) if row is not None else None


def alert_headline(db: Database, alert_id: int) -> tuple[str, str, str | None] | None:
    """Return an alert's item title, source name (as its server sees it) and sent time, or None."""
    row = db.execute(
        f"SELECT i.title, {seen_name(guild='sub.guild_id')}, o.sent_at FROM outbox o"
        " JOIN items i ON i.id = o.item_id JOIN sources s ON s.id = i.source_id"
        " JOIN subscriptions sub ON sub.id = o.subscription_id WHERE o.id = ?",
        (alert_id,),
    ).fetchone()
    return (row[0], row[1], row[2]) if row is not None else None
