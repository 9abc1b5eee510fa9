"""Private sources in storage: one row per URL, one owner row per server (bot/storage/sources.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.storage import items, sources
from bot.storage.db import connect
from bot.storage.migrations import migrations
from bot.storage.sources import SourceConfig

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
URL = "https://vendor.example/feed.xml"


def test_servers_share_one_row_with_their_own_ids_names_and_health(db) -> None:
    a = sources.add_for_guild(db, SourceConfig("A name", URL, interval_seconds=600), NOW, 1)
    assert a is not None and a.name == "A name" and a.guild_id == 1
    sources.record_failure(db, a.id, NOW + timedelta(minutes=1), "HTTP 500", NOW + timedelta(minutes=5))
    b = sources.add_for_guild(
        db, SourceConfig("B name", URL, interval_seconds=3600), NOW + timedelta(hours=1), 2
    )
    assert b is not None and b.id != a.id and b.name == "B name"
    assert b.state == "new" and b.last_error is None  # A's failure happened before B added it
    for minutes in (61, 62):
        sources.record_failure(db, a.id, NOW + timedelta(minutes=minutes), "HTTP 500", NOW)
    [b] = sources.guild_sources(db, 2)
    assert (b.failures, b.failing_since) == (1, NOW + timedelta(hours=1))  # not A's three, not A's start
    [row] = sources.list_sources(db)
    assert row.shared is False and row.interval_seconds == 600  # the most eager owner's interval
    assert [o.name for o in sources.owners(db, row.id)] == ["A name", "B name"]
    assert row.next_check_at <= NOW + timedelta(hours=1)  # B's add makes it due, as a new source
    # Ids come from one sequence: a new row or owner never reuses one a server already sees.
    c = sources.add_for_guild(db, SourceConfig("C", "https://other.example/f"), NOW, 2)
    assert c is not None and c.id == b.id + 1
    assert [s.name for s in sources.guild_sources(db, 2)] == ["B name", "C"]
    assert sources.guild_sources(db, 3) == []

    assert sources.remove_for_guild(db, a.id, 2) is None  # not B's id
    assert sources.remove_for_guild(db, b.id, 2) is not None
    assert sources.get(db, row.id) is not None and sources.list_sources(db)[0].interval_seconds == 600
    assert sources.remove_for_guild(db, a.id, 1) is not None
    assert [s.url for s in sources.list_sources(db)] == ["https://other.example/f"]  # nobody left


def test_catalog_and_command_line_sources_stay_shared(db) -> None:
    sources.sync_config(db, [SourceConfig("Catalog", URL)], NOW)
    assert sources.add_for_guild(db, SourceConfig("Mine", URL), NOW, 1) is None  # everyone sees it
    private = sources.add_for_guild(db, SourceConfig("Mine", "https://p.example/f"), NOW, 1)
    assert private is not None
    shared = sources.add(db, SourceConfig("Operator", "https://p.example/f"), NOW)
    assert shared.shared is True and shared.name == "Operator"  # the operator published it
    assert sources.guild_sources(db, 1)[0].name == "Mine"  # the server keeps its name


def test_a_catalog_url_a_server_watches_stays_the_servers_when_it_leaves_the_catalog(db) -> None:
    sources.add_for_guild(db, SourceConfig("Mine", URL), NOW, 1)
    sources.sync_config(db, [SourceConfig("Catalog", URL)], NOW)
    [row] = sources.list_sources(db)
    assert row.shared and row.origin == "config" and row.name == "Catalog"
    sources.sync_config(db, [], NOW)
    [row] = sources.list_sources(db)
    assert not row.shared and row.enabled and row.origin == "discord"


def test_migration_makes_existing_server_sources_private_with_the_ids_they_knew(tmp_path) -> None:
    db = connect(tmp_path / "old.db", migrate=False)
    migrations.apply(db, stop_before="m010_private_sources")
    stamp = NOW.isoformat()
    db.execute(
        "INSERT INTO sources (id, name, url, origin, guild_id, created_at, next_check_at)"
        " VALUES (7, 'Theirs', ?, 'discord', 42, ?, ?),"
        " (8, 'Cat', 'https://c.example/f', 'config', NULL, ?, ?)",
        (URL, stamp, stamp, stamp, stamp),
    )
    migrations.apply(db)
    theirs, catalog = sources.list_sources(db)
    assert not theirs.shared and catalog.shared
    [view] = sources.guild_sources(db, 42)
    assert (view.id, view.name) == (7, "Theirs")


def _store(db, source_id: int, when: datetime, *names: str) -> None:
    new = [
        items.NewItem(n, n, f"https://vendor.example/{n}", f"https://vendor.example/{n}", None, n, "", when)
        for n in names
    ]
    items.store_poll(
        db, source_id, when, when + timedelta(hours=1), new, [], etag=None, last_modified=None, body_hash=None
    )


def test_a_server_adding_a_watched_url_sees_only_what_came_after(db) -> None:
    a = sources.add_for_guild(db, SourceConfig("A's feed", URL), NOW, 1)
    assert a is not None
    _store(db, a.id, NOW + timedelta(minutes=5), "held-before-b")
    b = sources.add_for_guild(db, SourceConfig("B's feed", URL), NOW + timedelta(hours=1), 2)
    assert b is not None
    _store(db, a.id, NOW + timedelta(hours=2), "after-b")
    since = NOW - timedelta(days=1)

    def titles(guild_id: int) -> list[str]:
        return [it.title for it in items.recent(db, since, guild_id=guild_id)]

    assert titles(1) == ["after-b", "held-before-b"]
    assert titles(2) == ["after-b"]  # nothing tells B that A watched the URL before
    assert items.count_since(db, since, guild_id=2) == 1
    assert titles(3) == []
