"""The items table: everything seen, by identity, and the one transaction that stores a poll."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlite_utils import Database

from bot.domain.clock import iso, parse_iso
from bot.domain.explain import Verdict
from bot.domain.story import StoryKey, same_story, story_key
from bot.failpoints import failpoint
from bot.storage.sources import VISIBLE, seen_name

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
    verdict: Verdict | None = None  # the classifier's, kept with each alert's explanation
    page_title: str | None = None  # a page-watch row's context
    heading: str | None = None
    body_url: str | None = None  # the document's full text, fetched for new items (not stored)


@dataclass(frozen=True, slots=True)
class NewAlert:
    """An alert to enqueue for the item at `item_index` of the poll's new items."""

    item_index: int
    subscription_id: int
    target: str
    terms: tuple[str, ...]
    explanation: dict[str, Any] = field(default_factory=dict)  # see bot.domain.explain


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
    # Recorded by a source's first poll: not classified then (nothing alerts), so `action` is
    # None whatever the item says; previews and explanations classify such items when needed.
    first_poll: bool = False
    page_title: str | None = None  # a page-watch row's context
    heading: str | None = None
    source_options: dict[str, Any] = field(default_factory=dict)  # what the source declares


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
    story_window: timedelta | None = None,
) -> tuple[int, int]:
    """Store new items, enqueue their alerts and update the source, in one transaction.

    Returns (items stored, alerts enqueued). An alert whose target already has (or had) an
    alert for the same canonical link is skipped: one alert per link per target. With a story
    window, an alert whose item reports the same story as an alert made for the same target
    within the window becomes an addition to it (`story_of`), not a new alert.
    """
    stories = _StoryFinder(db, now - story_window) if story_window else None
    stored = enqueued = 0
    with db.atomic():
        # One executemany for the whole poll; rows above the previous maximum id are the ones
        # this statement inserted (an identity stored meanwhile is ignored and never alerts).
        before = db.execute("SELECT COALESCE(MAX(id), 0) FROM items").fetchone()[0]
        db.conn.executemany(
            "INSERT OR IGNORE INTO items (source_id, identity, guid, link, canonical_link, title, text,"
            " published, fetched_at, action, first_poll, page_title, heading)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
                    it.page_title,
                    it.heading,
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
        if alerts:
            failpoint("store_before_outbox")
        for alert in alerts:
            item_id = item_ids[alert.item_index]
            if item_id is None:
                continue
            item = items[alert.item_index]
            key = item.link_key or f"item:{item_id}"
            story_of = (
                stories.first_alert(alert.target, story_key(item.title, item.action)) if stories else None
            )
            # Only a subscription that may see the source gets an alert: everyone for a shared
            # source, the servers that added it for a private one (bot/storage/sources.py).
            cur = db.execute(
                "INSERT OR IGNORE INTO outbox (subscription_id, item_id, target, link_key, terms, status,"
                " next_attempt_at, created_at, explanation, story_of)"
                " SELECT ?, ?, ?, ?, ?, 'pending', ?, ?, ?, ? FROM sources s, subscriptions sub"
                f" WHERE s.id = ? AND sub.id = ? AND {VISIBLE.replace('?', 'sub.guild_id')}",
                (
                    alert.subscription_id,
                    item_id,
                    alert.target,
                    key,
                    json.dumps(alert.terms),
                    iso(now),
                    iso(now),
                    json.dumps(alert.explanation, ensure_ascii=False),
                    story_of,
                    source_id,
                    alert.subscription_id,
                ),
            )
            enqueued += cur.rowcount
            if stories is not None and cur.rowcount and story_of is None and cur.lastrowid is not None:
                stories.add(alert.target, cur.lastrowid, story_key(item.title, item.action))
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


# Every poll with alerts reads the window's alerts per target again: remembering each headline's
# key makes that a table read, not a re-fold of every headline (bench_poll round C: -4 s).
_story_key = lru_cache(maxsize=20_000)(story_key)


class _StoryFinder:
    """The first alerts of stories per target within the window, to attach later copies to."""

    def __init__(self, db: Database, since: datetime) -> None:
        self._db = db
        self._since = since
        self._by_target: dict[str, list[tuple[int, StoryKey]]] = {}

    def _load(self, target: str) -> list[tuple[int, StoryKey]]:
        known = self._by_target.get(target)
        if known is None:
            rows = self._db.execute(
                "SELECT o.id, i.title, i.action FROM outbox o JOIN items i ON i.id = o.item_id"
                " WHERE o.target = ? AND o.created_at >= ? AND o.story_of IS NULL ORDER BY o.id",
                (target, iso(self._since)),
            ).fetchall()
            known = self._by_target[target] = [(r[0], _story_key(r[1], r[2])) for r in rows]
        return known

    def first_alert(self, target: str, key: StoryKey) -> int | None:
        """Return the id of the earliest alert to `target` reporting the same story, if any."""
        return next((alert_id for alert_id, other in self._load(target) if same_story(key, other)), None)

    def add(self, target: str, alert_id: int, key: StoryKey) -> None:
        """Remember an alert just enqueued as the first of its story."""
        self._load(target).append((alert_id, key))


def recent(
    db: Database, since: datetime, limit: int = 5000, *, guild_id: int | None = None
) -> list[StoredItem]:
    """Return items fetched since a time, newest first, with their source's name.

    With `guild_id`, only items of the sources that server sees (shared ones and its own), each
    source under the name that server gave it.
    """
    params: tuple[object, ...]
    if guild_id is None:
        name, scope, params = "s.name", "", (iso(since),)
    else:
        name, scope, params = seen_name(), f" AND {VISIBLE}", (guild_id, iso(since), guild_id)
    cur = db.execute(
        f"SELECT i.id, i.source_id, {name}, i.title, i.text, i.link, i.published, i.fetched_at, i.action,"
        " i.first_poll, i.page_title, i.heading, s.options FROM items i JOIN sources s ON s.id = i.source_id"
        f" WHERE i.fetched_at >= ?{scope}"
        " ORDER BY i.fetched_at DESC, i.id DESC LIMIT ?",
        (*params, limit),
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
            first_poll=bool(r[9]),
            page_title=r[10],
            heading=r[11],
            source_options=_options(r[12]),
        )
        for r in cur.fetchall()
    ]


def _options(raw: object) -> dict[str, Any]:
    try:
        value = json.loads(str(raw or "{}"))
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
