import sqlite3
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from bot.storage import items, outbox, sources, subscriptions
from bot.storage.db import connect
from bot.storage.items import NewAlert, NewItem
from bot.storage.migrations import latest_version, schema_version
from bot.storage.sources import SourceConfig

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def new_item(n, link=None):
    return NewItem(
        identity=f"guid:{n}",
        guid=str(n),
        link=link,
        canonical_link=link,
        link_key=link.split("://")[1] if link else None,
        title=f"Item {n}",
        text="text",
        published=NOW,
    )


def test_migrations_apply_once_and_use_wal(tmp_path):
    path = tmp_path / "x.db"
    first = connect(path)
    assert schema_version(first) == latest_version()
    first.conn.close()
    again = connect(path)  # re-opening applies nothing twice
    assert schema_version(again) == latest_version()
    assert again.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert set(again.table_names()) >= {"sources", "items", "subscriptions", "outbox"}


def test_store_poll_enqueues_once_per_target_and_link(db):
    a = sources.add(db, SourceConfig("A", "https://a.example/feed"), NOW)
    b = sources.add(db, SourceConfig("B", "https://b.example/feed"), NOW)
    sub = subscriptions.add(db, "kaspersky", "console", NOW)
    link = "https://news.example/story"
    stored, enqueued = items.store_poll(
        db,
        a.id,
        NOW,
        NOW,
        [new_item(1, link)],
        [NewAlert(0, sub.id, "console", ("Kaspersky",))],
        etag=None,
        last_modified=None,
        body_hash="h",
    )
    assert (stored, enqueued) == (1, 1)
    # The same story from another source: stored as its item, but no second alert for the target.
    stored, enqueued = items.store_poll(
        db,
        b.id,
        NOW,
        NOW,
        [new_item(2, link)],
        [NewAlert(0, sub.id, "console", ("Kaspersky",))],
        etag=None,
        last_modified=None,
        body_hash="h",
    )
    assert (stored, enqueued) == (1, 0)
    assert outbox.counts(db) == {"pending": 1, "sent": 0, "failed": 0}
    assert sources.get(db, a.id).primed and sources.get(db, a.id).item_count == 1


def _poll_one(db, source_id, sub_id, n, title, now, window=timedelta(hours=48)):
    item = replace(new_item(n, f"https://news.example/{n}"), title=title)
    items.store_poll(
        db,
        source_id,
        now,
        now,
        [item],
        [NewAlert(0, sub_id, "console", ("Kaspersky",))],
        etag=None,
        last_modified=None,
        body_hash=None,
        story_window=window,
    )
    return db.execute("SELECT id, story_of FROM outbox ORDER BY id DESC LIMIT 1").fetchone()


def test_story_lookup_across_polls_among_many_alerts(db):
    src = sources.add(db, SourceConfig("A", "https://a.example/feed"), NOW)
    sub = subscriptions.add(db, "kaspersky", "console", NOW)
    first, story_of = _poll_one(db, src.id, sub.id, 1, "US sanctions 12 Kaspersky Lab leaders", NOW)
    assert story_of is None
    # Many unrelated alerts in the window, each sharing a common word with the story.
    for n in range(2, 60):
        _, unrelated = _poll_one(
            db, src.id, sub.id, n, f"Kaspersky quarterly report number {n} on growth", NOW
        )
        assert unrelated is None or unrelated != first
    later = NOW + timedelta(hours=1)
    _, story_of = _poll_one(
        db, src.id, sub.id, 100, "US Treasury sanctions 12 Kaspersky Lab executives", later
    )
    assert story_of == first
    # Outside the window: a new first alert.
    _, story_of = _poll_one(
        db, src.id, sub.id, 101, "US sanctions 12 Kaspersky Lab leaders", NOW + timedelta(days=3)
    )
    assert story_of is None
    # The first alert deleted: a later copy is not attached to it.
    db.execute("DELETE FROM outbox WHERE id = ?", (first,))
    _, story_of = _poll_one(db, src.id, sub.id, 102, "US sanctions 12 Kaspersky Lab executives", later)
    assert story_of != first


def test_store_poll_is_one_transaction(db, backend):
    src = sources.add(db, SourceConfig("A", "https://a.example/feed"), NOW)
    sub = subscriptions.add(db, "a", "console", NOW)
    # Enqueueing the alert fails (after the item was inserted): nothing of the poll must remain.
    if backend == "sqlite":
        db.execute("CREATE TEMP TRIGGER refuse BEFORE INSERT ON outbox BEGIN SELECT RAISE(ABORT, 'no'); END")
        refused: type[Exception] = sqlite3.IntegrityError
    else:
        db.execute(
            "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql"
            " AS $$ BEGIN RAISE EXCEPTION 'no'; END $$"
        )
        db.execute("CREATE TRIGGER refuse BEFORE INSERT ON outbox FOR EACH ROW EXECUTE FUNCTION refuse()")
        refused = sqlite3.Error  # RAISE EXCEPTION, raised as a sqlite3 class (bot/storage/pg.py)
    with pytest.raises(refused):
        items.store_poll(
            db,
            src.id,
            NOW,
            NOW,
            [new_item(1)],
            [NewAlert(0, sub.id, "console", ())],
            etag="e",
            last_modified=None,
            body_hash="h",
        )
    assert db.execute("SELECT COUNT(*) FROM items").fetchone()[0] == 0
    assert sources.get(db, src.id).primed is False


def test_outbox_due_retry_and_sent(db):
    src = sources.add(db, SourceConfig("A", "https://a.example/feed"), NOW)
    sub = subscriptions.add(db, "x", "console", NOW, name="x")
    items.store_poll(
        db,
        src.id,
        NOW,
        NOW,
        [new_item(1, "https://n/1")],
        [NewAlert(0, sub.id, "console", ("x",))],
        etag=None,
        last_modified=None,
        body_hash=None,
    )
    [alert] = outbox.due(db, NOW)
    assert alert.subscription_label == "x" and alert.terms == ("x",) and alert.source_name == "A"
    outbox.mark_retry(db, alert.id, "boom", NOW + timedelta(minutes=5))
    assert outbox.due(db, NOW) == []
    [again] = outbox.due(db, NOW + timedelta(minutes=5))
    assert again.attempts == 1
    outbox.mark_sent(db, again.id, NOW)
    assert outbox.due(db, NOW + timedelta(days=1)) == []
    assert outbox.counts(db)["sent"] == 1


def test_paused_subscription_holds_its_alerts(db):
    src = sources.add(db, SourceConfig("A", "https://a.example/feed"), NOW)
    sub = subscriptions.add(db, "x", "discord:123456789012", NOW)
    items.store_poll(
        db,
        src.id,
        NOW,
        NOW,
        [new_item(1)],
        [NewAlert(0, sub.id, sub.target, ())],
        etag=None,
        last_modified=None,
        body_hash=None,
    )
    subscriptions.set_paused(db, sub.id, "missing permission")
    assert outbox.due(db, NOW) == []
    subscriptions.set_paused(db, sub.id, None)
    assert len(outbox.due(db, NOW, kinds=("discord",))) == 1
    assert outbox.due(db, NOW, kinds=("console",)) == []


def test_a_subscription_read_back_equals_one_built_by_hand(db):
    # Rows are read back by setting each field directly (bot/storage/subscriptions.py): every
    # field must come back, typed as the dataclass says, equal and hashing like a built one.
    made = subscriptions.add(
        db, "kaspersky", "discord:123", NOW, name="k", guild_id=9, created_by="u1", origin="discord",
        mention_role_id=5, origin_channel_id=7,
    )  # fmt: skip
    subscriptions.set_paused(db, made.id, "missing permission", NOW + timedelta(hours=1))
    read = subscriptions.get(db, made.id)
    by_hand = subscriptions.Subscription(
        made.id, "k", "kaspersky", "discord:123", 9, "u1", "discord", 5, True, "missing permission",
        origin_channel_id=7, paused_until=NOW + timedelta(hours=1), created_at=NOW,
    )  # fmt: skip
    assert read == by_hand and hash(read) == hash(by_hand) and read.paused is True
    with pytest.raises(AttributeError):
        read.query = "other"  # type: ignore[misc]  # still frozen


def test_sync_config_replaces_config_sources_but_keeps_user_sources(db):
    sources.add(db, SourceConfig("mine", "https://mine.example/feed"), NOW, origin="cli")
    sources.sync_config(db, [SourceConfig("a", "https://a/feed"), SourceConfig("b", "https://b/feed")], NOW)
    added, disabled = sources.sync_config(db, [SourceConfig("b", "https://b/feed")], NOW)
    assert (added, disabled) == (0, 1)
    enabled = {s.url for s in sources.list_sources(db, enabled_only=True)}
    assert enabled == {"https://mine.example/feed", "https://b/feed"}


def test_subscription_version_moves_on_every_change(db):
    v0 = subscriptions.version(db)
    sub = subscriptions.add(db, "a", "console", NOW)
    v1 = subscriptions.version(db)
    subscriptions.remove(db, sub.id)
    assert v0 < v1 < subscriptions.version(db)


def test_sync_file_trusts_its_digest_only_while_no_subscription_changed(db):
    # An unchanged file at start is recognised by its digest and the version the last sync left;
    # any change to the subscriptions since (here a file row edited by hand) makes it compare
    # the rows again, and put the file's back.
    entries = [("kaspersky", "vendor:Kaspersky"), ("huawei", "vendor:Huawei")]
    assert subscriptions.sync_file(db, entries, NOW) == (2, 0)
    assert subscriptions.sync_file(db, entries, NOW) == (0, 0)
    db.execute("UPDATE subscriptions SET query = 'zte', target = 'discord:1' WHERE name = 'huawei'")
    assert subscriptions.sync_file(db, entries, NOW) == (0, 0)
    stored = {s.name: (s.query, s.target) for s in subscriptions.list_subscriptions(db)}
    assert stored == {"kaspersky": ("vendor:Kaspersky", "console"), "huawei": ("vendor:Huawei", "console")}
    db.execute("DELETE FROM subscriptions WHERE name = 'kaspersky'")
    assert subscriptions.sync_file(db, entries, NOW) == (1, 0)
    assert subscriptions.sync_file(db, entries[:1], NOW) == (0, 1)
    digests = db.execute("SELECT count(*) FROM meta WHERE key LIKE 'subscriptions file:%'").fetchone()[0]
    assert digests == 1


def test_sync_file_writes_only_what_changed(db):
    entries = [("kaspersky", "vendor:Kaspersky"), ("huawei", "vendor:Huawei"), ("zte", "vendor:ZTE")]
    assert subscriptions.sync_file(db, entries, NOW) == (3, 0)
    ids = {s.name: s.id for s in subscriptions.list_subscriptions(db)}
    before = subscriptions.version(db)
    changes = db.conn.total_changes

    assert subscriptions.sync_file(db, entries, NOW) == (0, 0)  # a restart with the same file
    assert subscriptions.version(db) == before
    assert db.conn.total_changes == changes  # not one row written

    subscriptions.add(db, "vendor:Huawei", "console", NOW, name="mine")  # the CLI's, not the file's
    edited = [("kaspersky", "vendor:Kaspersky action:any"), ("zte", "vendor:ZTE"), ("new", "sanctions")]
    assert subscriptions.sync_file(db, edited, NOW) == (1, 1)
    stored = {(s.name, s.origin): s for s in subscriptions.list_subscriptions(db)}
    assert stored[("kaspersky", "file")].query == "vendor:Kaspersky action:any"
    assert stored[("kaspersky", "file")].id == ids["kaspersky"]
    assert stored[("zte", "file")].id == ids["zte"]
    assert ("huawei", "file") not in stored and ("mine", "cli") in stored
    assert stored[("new", "file")].target == "console"
    assert subscriptions.version(db) > before


def test_remove_respects_guild_scope(db):
    sub = subscriptions.add(db, "a", "discord:111111111111", NOW, guild_id=1)
    assert subscriptions.remove(db, sub.id, guild_id=2) is False
    assert subscriptions.get(db, sub.id) is not None
    assert subscriptions.remove(db, sub.id, guild_id=1) is True


def test_source_due_and_backoff(db):
    src = sources.add(db, SourceConfig("A", "https://a.example/feed", interval_seconds=60), NOW)
    assert [s.id for s in sources.due(db, NOW)] == [src.id]
    wait = sources.backoff(3, 60, 3600)
    sources.record_failure(db, src.id, NOW, "HTTP 500", NOW + wait)
    assert sources.due(db, NOW) == []
    failed = sources.get(db, src.id)
    assert failed.failures == 1 and failed.last_error == "HTTP 500" and failed.failing_since == NOW
    assert wait == timedelta(seconds=480)
    assert sources.backoff(50, 60, 3600) == timedelta(seconds=3600)
