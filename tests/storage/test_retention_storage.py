"""Which stored items are old enough to forget: the same answer on SQLite and PostgreSQL."""

from datetime import UTC, datetime, timedelta

from bot.storage import items, retention, sources
from bot.storage.items import NewItem
from bot.storage.sources import SourceConfig

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def test_old_items_beyond_the_newest_kept_per_source(db):
    src = sources.add(db, SourceConfig("A", "https://a.example/feed"), NOW - timedelta(days=400))
    for n in range(5):
        when = NOW - timedelta(days=400 - n)
        link = f"https://a.example/{n}"
        new = [NewItem(f"guid:{n}", str(n), link, link, link, f"T{n}", "x", when)]
        items.store_poll(db, src.id, when, when, new, [], etag=None, last_modified=None, body_hash=None)
    ids = [r[0] for r in db.execute("SELECT id FROM items ORDER BY id").fetchall()]
    # Keep the newest 2 of the source; the 3 older ones are past the cutoff: forgettable.
    assert retention.old_item_ids(db, NOW - timedelta(days=30), 2) == ids[:3]
    assert retention.old_item_ids(db, NOW - timedelta(days=500), 2) == []
