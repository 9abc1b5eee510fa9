"""Load the first alerts of stories in the window, kept between polls, for the story rule.

The rule itself is bot/domain/story.py; this module only keeps its index in step with the
outbox. Each poll reads only the alerts enqueued since the previous one (by id), so the cost of
a lookup does not grow with the number of alerts in the window.
"""

from __future__ import annotations

from collections.abc import Collection
from functools import lru_cache
from weakref import WeakKeyDictionary

from sqlite_utils import Database

from bot.domain.story import StoryIndex, story_key
from bot.storage.db import is_postgres
from bot.storage.outbox.read import rows

# Headlines come back after a restart or a prune: remember each one's key (bench_poll round C: -4 s).
_story_key = lru_cache(maxsize=20_000)(story_key)


class _Loaded:
    """A database's story index, with how far it has read the outbox."""

    def __init__(self) -> None:
        self.index = StoryIndex()
        self.last_id = 0
        self.since = ""  # the oldest created_at loaded
        self.loaded = 0  # alerts loaded since the last prune

    def refresh(self, db: Database, since: str) -> StoryIndex:
        """Read the first alerts enqueued since the last refresh; prune now and then."""
        if since < self.since:  # an earlier window than loaded (a longer setting): start over
            self.__init__()  # type: ignore[misc]
        if not self.since:
            self.since = since
        found = rows(
            db,
            "SELECT o.id AS id, o.target AS target, o.created_at AS created_at, i.title AS title,"
            " i.action AS action FROM outbox o JOIN items i ON i.id = o.item_id"
            " WHERE o.id > ? AND o.created_at >= ? AND o.story_of IS NULL ORDER BY o.id",
            (self.last_id, since),
        )
        for r in found:
            self.index.add(r["target"], r["id"], _story_key(r["title"], r["action"]), r["created_at"])
            self.last_id = max(self.last_id, r["id"])
        self.loaded += len(found)
        if self.loaded > max(1000, len(self.index) // 2):  # amortised: a prune per half a window
            self.index = self.index.prune(since)
            self.since, self.loaded = since, 0
        return self.index


_loaded: WeakKeyDictionary[Database, _Loaded] = WeakKeyDictionary()


def known_stories(db: Database, since: str, targets: Collection[str] = ()) -> StoryIndex:
    """Return the first alerts of stories enqueued since `since` (committed ones), by target.

    On PostgreSQL, where several processes enqueue, ids do not commit in order, so the index
    read by id above would miss a row committed late: there the index of `targets` is read
    whole, under the targets' locks (`lock_targets`), in the enqueuing transaction.
    """
    if is_postgres(db) and targets:
        index = StoryIndex()
        wanted = sorted(set(targets))
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for r in rows(
                db,
                "SELECT o.id AS id, o.target AS target, o.created_at AS created_at, i.title AS title,"
                " i.action AS action FROM outbox o JOIN items i ON i.id = o.item_id"
                f" WHERE o.target IN ({marks}) AND o.created_at >= ? AND o.story_of IS NULL ORDER BY o.id",
                (*chunk, since),
            ):
                index.add(r["target"], r["id"], _story_key(r["title"], r["action"]), r["created_at"])
        return index
    loaded = _loaded.get(db)
    if loaded is None:
        loaded = _loaded[db] = _Loaded()
    return loaded.refresh(db, since)


def still_first_of(db: Database, alert_ids: Collection[int]) -> set[int]:
    """Return which of these alerts are still stored as the first of their story."""
    ordered = sorted(alert_ids)
    found: set[int] = set()
    for start in range(0, len(ordered), 500):
        chunk = ordered[start : start + 500]
        marks = ",".join("?" * len(chunk))
        sql = f"SELECT id FROM outbox WHERE id IN ({marks}) AND story_of IS NULL"
        found.update(r["id"] for r in rows(db, sql, chunk))
    return found


# pg_advisory_xact_lock(class, key) class of the per-target enqueue locks.
_TARGET_LOCKS = 0x7277


def lock_targets(db: Database, targets: Collection[str]) -> None:
    """On PostgreSQL, hold each target's enqueue lock until the transaction ends (in sorted order).

    Two processes storing polls at once then decide a target's story links one after the
    other, the second seeing the first's committed alerts. SQLite has one writer: nothing to do.
    """
    if not is_postgres(db):
        return
    for target in sorted(set(targets)):
        db.execute("SELECT pg_advisory_xact_lock(?, hashtext(?))", (_TARGET_LOCKS, target))
