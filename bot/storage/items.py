"""The items table: everything seen, by identity, and the one transaction that stores a poll."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlite_utils import Database

from bot.domain.clock import iso, parse_iso
from bot.domain.explain import Verdict
from bot.domain.prefilter import EVERY, NONE
from bot.failpoints import failpoint
from bot.storage import outbox
from bot.storage.db import transaction
from bot.storage.outbox import ToEnqueue
from bot.storage.sources import ITEM_VISIBLE, options_of, seen_name

if TYPE_CHECKING:
    from bot.storage.preview import Candidate

# Stored text is for previews and alert snippets; the full text was matched already.
MAX_STORED_TEXT = 4000
# Rows per INSERT: 15 values each, well under SQLite's limit on parameters.
_INSERT_CHUNK = 500


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
    classified: bool = True  # False: stored without running the classifier (action unknown)


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
    # Recorded by a source's first poll (nothing alerts then).
    first_poll: bool = False
    page_title: str | None = None  # a page-watch row's context
    heading: str | None = None
    source_options: dict[str, Any] = field(default_factory=dict)  # what the source declares
    # Items no subscription needed classified are stored unclassified: `action` is None whatever
    # the item says; previews and explanations classify such items when needed.
    classified: bool = True


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

    Returns (items stored, alerts enqueued). The alerts of the items stored go through
    `outbox.enqueue` (its rules: who may see the source, one alert per link per target, story
    additions within `story_window`, held or pending).
    """
    with transaction(db):
        # The new rows' ids come back from the INSERT itself (RETURNING): an identity stored
        # meanwhile, by this process or another on the same database, is ignored and never alerts.
        item_ids: list[int | None] = [None] * len(items)
        index = {it.identity: n for n, it in enumerate(items)}
        rows = [
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
                int(it.classified),
                int(not (it.title.isascii() and it.text[:MAX_STORED_TEXT].isascii())),
            )
            for it in items
        ]
        for start in range(0, len(rows), _INSERT_CHUNK):
            chunk = rows[start : start + _INSERT_CHUNK]
            values = ",".join(["(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"] * len(chunk))
            for row_id, identity in db.execute(
                "INSERT OR IGNORE INTO items (source_id, identity, guid, link, canonical_link, title, text,"
                " published, fetched_at, action, first_poll, page_title, heading, classified, non_ascii)"
                f" VALUES {values} RETURNING id, identity",
                [value for row in chunk for value in row],
            ).fetchall():
                if identity in index:
                    item_ids[index[identity]] = int(row_id)
        stored = sum(1 for i in item_ids if i is not None)
        if alerts:
            failpoint("store_before_outbox")
        enqueued = outbox.enqueue(
            db,
            source_id,
            now,
            [
                ToEnqueue(
                    item_id=item_id,
                    subscription_id=alert.subscription_id,
                    target=alert.target,
                    link_key=items[alert.item_index].link_key or f"item:{item_id}",
                    terms=alert.terms,
                    title=items[alert.item_index].title,
                    action=items[alert.item_index].action,
                    explanation=alert.explanation,
                )
                for alert in alerts
                if (item_id := item_ids[alert.item_index]) is not None
            ],
            story_window=story_window,
        )
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


def recent(
    db: Database,
    since: datetime,
    limit: int = 5000,
    *,
    guild_id: int | None = None,
    candidates: str = EVERY,
) -> list[StoredItem]:
    """Return items fetched since a time, newest first, with their source's name.

    With `guild_id`, only items of the sources that server sees (shared ones and its own), each
    source under the name that server gave it. `candidates` (domain/prefilter.py) narrows them to
    the items some query can match.
    """
    params: tuple[object, ...]
    if guild_id is None:
        name, scope, params = "s.name", "", (iso(since),)
    else:
        name, scope, params = seen_name(), f" AND {ITEM_VISIBLE}", (guild_id, iso(since), guild_id)
    if candidates == NONE:
        scope += " AND i.non_ascii = 1"
    elif candidates != EVERY:
        scope += " AND (i.non_ascii = 1 OR i.id IN (SELECT rowid FROM items_fts WHERE items_fts MATCH ?))"
        params = (*params, candidates)
    cur = db.execute(
        f"SELECT i.id, i.source_id, {name}, i.title, i.text, i.link, i.published, i.fetched_at, i.action,"
        " i.first_poll, i.page_title, i.heading, s.options, i.classified"
        " FROM items i JOIN sources s ON s.id = i.source_id"
        f" WHERE i.fetched_at >= ?{scope}"
        " ORDER BY i.fetched_at DESC, i.id DESC LIMIT ?",
        (*params, limit),
    )
    return [stored_item(r, since, options_of(r[12])) for r in cur.fetchall()]


def stored_item(r: Sequence[Any], since: datetime, options: dict[str, Any]) -> StoredItem:
    """Build a StoredItem from a row of the columns `recent` and previews select, in their order."""
    return StoredItem(
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
        source_options=options,
        classified=bool(r[13]),
    )


def preview_candidates(
    db: Database, since: datetime, max_items: int, candidates: str, *, guild_id: int | None = None
) -> tuple[list[Candidate], bool, int]:
    """Return (the newest `max_items` candidates, whether more exist, the items of the period)."""
    from bot.storage import preview  # the query shape for candidates (bot/storage/preview.py)

    stored = preview.candidates(db, since, max_items + 1, candidates, guild_id=guild_id)
    return stored[:max_items], len(stored) > max_items, count_since(db, since, guild_id=guild_id)


def count_since(db: Database, since: datetime, *, guild_id: int | None = None) -> int:
    """Return how many items were fetched since a time (of the sources `guild_id` sees)."""
    if guild_id is None:
        return int(
            db.execute("SELECT COUNT(*) FROM items WHERE fetched_at >= ?", (iso(since),)).fetchone()[0]
        )
    row = db.execute(
        "SELECT COUNT(*) FROM items i JOIN sources s ON s.id = i.source_id"
        f" WHERE i.fetched_at >= ? AND {ITEM_VISIBLE}",
        (iso(since), guild_id),
    ).fetchone()
    return int(row[0])
