"""The items table: everything seen, by identity, and the one transaction that stores a poll."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any
from weakref import WeakKeyDictionary

from sqlite_utils import Database

from bot.domain.clock import iso, parse_iso
from bot.domain.explain import Verdict
from bot.domain.prefilter import EVERY, NONE
from bot.domain.story import MIN_SHARED, StoryKey, same_story, story_key
from bot.failpoints import failpoint
from bot.storage.sources import ITEM_VISIBLE, VISIBLE, options_of, seen_name

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
            " published, fetched_at, action, first_poll, page_title, heading, classified, non_ascii)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
                    int(it.classified),
                    int(not (it.title.isascii() and it.text[:MAX_STORED_TEXT].isascii())),
                )
                for it in items
            ],
        )
        item_ids: list[int | None] = [None] * len(items)
        if items:
            index = {it.identity: n for n, it in enumerate(items)}
            for row_id, identity in db.execute(
                # A rowid range: `+source_id` keeps SQLite off the (source_id, ...) index, which
                # would walk every item the source ever stored.
                "SELECT id, identity FROM items WHERE id > ? AND +source_id = ?",
                (before, source_id),
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


class _TargetStories:
    """One target's first alerts of stories: keys by alert id, and alert ids by headline stem."""

    __slots__ = ("by_stem", "keys")

    def __init__(self) -> None:
        self.keys: dict[int, tuple[StoryKey, str]] = {}  # alert id -> (key, created_at)
        self.by_stem: dict[str, list[int]] = {}

    def add(self, alert_id: int, key: StoryKey, created_at: str) -> None:
        if alert_id in self.keys:
            return
        self.keys[alert_id] = (key, created_at)
        for stem in key.stems:
            self.by_stem.setdefault(stem, []).append(alert_id)

    def candidates(self, key: StoryKey) -> set[int]:
        """Return the alerts that can share MIN_SHARED stems with `key` (a superset, to verify).

        An alert sharing at least MIN_SHARED stems appears in one of the stem lists left after
        dropping the MIN_SHARED - 1 longest, so the commonest words are never walked.
        """
        lists = sorted((self.by_stem.get(stem, ()) for stem in key.stems), key=len)
        keep = len(lists) - (MIN_SHARED - 1)
        out: set[int] = set()
        for ids in lists[: max(keep, 0)]:
            out.update(ids)
        return out


class _StoryIndex:
    """First alerts of stories within the window, per target, kept between polls.

    Each poll reads only the alerts enqueued since the previous one (by id), so the cost of a
    lookup does not grow with the number of alerts in the window; a found alert is confirmed
    in the database before it is used (it may have been deleted meanwhile).
    """

    def __init__(self) -> None:
        self.last_id = 0
        self.since = ""  # the oldest created_at loaded
        self.targets: dict[str, _TargetStories] = {}
        self.size = 0  # alerts held
        self.loaded = 0  # alerts loaded since the last prune

    def refresh(self, db: Database, since: str) -> None:
        if since < self.since:  # an earlier window than loaded (a longer setting): start over
            self.__init__()  # type: ignore[misc]
        if not self.since:
            self.since = since
        rows = db.execute(
            "SELECT o.id, o.target, o.created_at, i.title, i.action"
            " FROM outbox o JOIN items i ON i.id = o.item_id"
            " WHERE o.id > ? AND o.created_at >= ? AND o.story_of IS NULL ORDER BY o.id",
            (self.last_id, since),
        ).fetchall()
        for alert_id, target, created_at, title, action in rows:
            self.target(target).add(alert_id, _story_key(title, action), created_at)
            self.last_id = max(self.last_id, alert_id)
        self.size += len(rows)
        self.loaded += len(rows)
        if self.loaded > max(1000, self.size // 2):  # amortised: a prune per half a window of alerts
            self.prune(since)

    def prune(self, since: str) -> None:
        """Drop alerts older than the window (rebuilding the stem lists)."""
        kept = {
            target: [(i, k, c) for i, (k, c) in t.keys.items() if c >= since]
            for target, t in self.targets.items()
        }
        self.targets = {}
        self.since = since
        self.size = self.loaded = 0
        for target, entries in kept.items():
            stories = self.target(target)
            for alert_id, key, created_at in entries:
                stories.add(alert_id, key, created_at)
            self.size += len(entries)

    def target(self, target: str) -> _TargetStories:
        found = self.targets.get(target)
        if found is None:
            found = self.targets[target] = _TargetStories()
        return found


_indexes: WeakKeyDictionary[Database, _StoryIndex] = WeakKeyDictionary()


class _StoryFinder:
    """The first alerts of stories per target within the window, to attach later copies to."""

    def __init__(self, db: Database, since: datetime) -> None:
        self._db = db
        self._since = iso(since)
        index = _indexes.get(db)
        if index is None:
            index = _indexes[db] = _StoryIndex()
        index.refresh(db, self._since)
        self._index = index
        self._added = _StoryIndex()  # this poll's own first alerts, not committed yet

    def first_alert(self, target: str, key: StoryKey) -> int | None:
        """Return the id of the earliest alert to `target` reporting the same story, if any."""
        found: list[int] = []
        for index in (self._index, self._added):
            stories = index.targets.get(target)
            if stories is None:
                continue
            for alert_id in stories.candidates(key):
                other, created_at = stories.keys[alert_id]
                if created_at >= self._since and same_story(key, other):
                    found.append(alert_id)
        for alert_id in sorted(found):
            if self._added.targets.get(target) is not None and alert_id in self._added.targets[target].keys:
                return alert_id
            row = self._db.execute(
                "SELECT 1 FROM outbox WHERE id = ? AND story_of IS NULL", (alert_id,)
            ).fetchone()
            if row is not None:
                return alert_id
        return None

    def add(self, target: str, alert_id: int, key: StoryKey) -> None:
        """Remember an alert just enqueued as the first of its story."""
        self._added.target(target).add(alert_id, key, self._since)


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
            source_options=options_of(r[12]),
            classified=bool(r[13]),
        )
        for r in cur.fetchall()
    ]


def preview_candidates(
    db: Database, since: datetime, max_items: int, candidates: str, *, guild_id: int | None = None
) -> tuple[list[StoredItem], bool, int]:
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
