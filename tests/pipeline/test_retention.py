"""Retention: old delivered alerts and old items go, everything that can still matter stays."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.app import build_services
from bot.pipeline.retention import KEEP_PER_SOURCE, Pruned, prune
from bot.settings import load_settings
from bot.storage import items, outbox, sources, subscriptions
from bot.storage.db import AsyncDatabase, connect
from bot.storage.items import NewAlert, NewItem
from bot.storage.sources import SourceConfig

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
OLD = NOW - timedelta(days=500)
RECENT = NOW - timedelta(days=10)


@pytest.fixture
async def adb(tmp_path):
    database = AsyncDatabase(connect(tmp_path / "regwatch.db"))
    yield database
    await database.close()


def item(name: str, published: datetime | None) -> NewItem:
    link = f"https://news.example/{name}"
    return NewItem(name, name, link, link, link, f"Item {name}", "text", published)


def store(db, source_id: int, when: datetime, new: list[NewItem], alert_for: dict[int, int]) -> None:
    """Store items fetched at `when`, with an alert to subscription alert_for[index] for some."""
    alerts = [NewAlert(i, sub, "console", ("x",)) for i, sub in alert_for.items()]
    items.store_poll(db, source_id, when, when, new, alerts, etag=None, last_modified=None, body_hash=None)


def alert_id(db, name: str) -> int:
    return db.execute(
        "SELECT o.id FROM outbox o JOIN items i ON i.id = o.item_id WHERE i.identity = ?", (name,)
    ).fetchone()[0]


def identities(db) -> set[str]:
    return {r[0] for r in db.execute("SELECT identity FROM items")}


def consistent_counts(db) -> bool:
    rows = db.execute(
        "SELECT s.item_count, (SELECT COUNT(*) FROM items i WHERE i.source_id = s.id) FROM sources s"
    ).fetchall()
    return all(a == b for a, b in rows)


async def test_prune_removes_only_old_delivered_alerts_and_old_unreferenced_items(adb):
    def setup(db) -> None:
        src = sources.add(db, SourceConfig("A", "https://a.example/feed"), OLD)
        sub = subscriptions.add(db, "x", "console", OLD).id
        store(
            db,
            src.id,
            OLD,
            [
                item("old", OLD),
                item("old-undated", None),
                item("old-fetch-new-date", RECENT),  # dated inside the window: kept
                item("old-pending", OLD),
                item("old-sent", OLD),
                item("old-failed", OLD),
            ],
            {3: sub, 4: sub, 5: sub},
        )
        outbox.mark_sent(db, alert_id(db, "old-sent"), OLD + timedelta(minutes=1))
        outbox.mark_failed(db, alert_id(db, "old-failed"), "400 from the sink")
        store(db, src.id, RECENT, [item("recent-sent", RECENT), item("recent", RECENT)], {0: sub})
        outbox.mark_sent(db, alert_id(db, "recent-sent"), RECENT)

    await adb.call(setup)
    result = await prune(adb, NOW, days=400, keep_per_source=0)
    assert result == Pruned(alerts=2, items=4)

    db = adb.db
    assert identities(db) == {"old-fetch-new-date", "old-pending", "recent-sent", "recent"}
    statuses = db.execute("SELECT status FROM outbox ORDER BY id").fetchall()
    assert statuses == [("pending",), ("sent",)]  # the pending old one and the recent delivery
    assert consistent_counts(db)
    # Nothing more to do the second time.
    assert await prune(adb, NOW, days=400, keep_per_source=0) == Pruned(0, 0)


async def test_prune_keeps_each_sources_newest_items_and_at_least_the_window(adb):
    def setup(db) -> None:
        for name in ("A", "B"):
            src = sources.add(db, SourceConfig(name, f"https://{name.lower()}.example/feed"), OLD)
            store(db, src.id, OLD, [item(f"{name}{n}", None) for n in range(5)], {})

    await adb.call(setup)
    # 399 days: everything is inside the window.
    assert await prune(adb, OLD + timedelta(days=399), days=400, keep_per_source=2) == Pruned(0, 0)
    assert await prune(adb, NOW, days=400, keep_per_source=2) == Pruned(alerts=0, items=6)
    # A feed may still show its latest entries: forgetting them would make them alert again.
    assert identities(adb.db) == {"A3", "A4", "B3", "B4"}
    assert consistent_counts(adb.db)


async def test_the_service_prunes_when_its_daily_job_starts(tmp_path):
    (tmp_path / "sources.toml").write_text("")
    (tmp_path / "subs.toml").write_text("")
    settings = load_settings(
        database_path=tmp_path / "regwatch.db",
        sources_file=tmp_path / "sources.toml",
        subscriptions_file=tmp_path / "subs.toml",
        retention_days=365,
    )
    async with build_services(settings) as services:

        def setup(db) -> None:
            src = sources.add(db, SourceConfig("A", "https://a.example/feed"), OLD)
            ancient = [item(f"ancient-{n}", None) for n in range(KEEP_PER_SOURCE + 1)]
            store(db, src.id, datetime.now(UTC) - timedelta(days=2000), ancient, {})

        await services.adb.call(setup)
        started = datetime.now(UTC)
        services.scheduler.start()
        try:
            daily = services.scheduler.job("daily")
            assert daily is not None and daily.trigger.interval == timedelta(days=1)
            # Its first run is at start (APScheduler may have run it already; then the next is a
            # day later). Run what APScheduler runs rather than wait for its thread to get to it.
            assert daily.next_run_time <= started + timedelta(days=1, minutes=1)
            await daily.func()
            await services.scheduler.chores_done()
        finally:
            await services.scheduler.stop(grace=1)
        assert len(await services.adb.call(identities)) == KEEP_PER_SOURCE
