"""Held alerts at enqueue, the planner and the overflow spill on a real SQLite file."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from bot.domain.delivery_schedule import parse_quiet_hours, parse_schedule
from bot.storage import delivery_settings, items, outbox, sources, subscriptions
from bot.storage.items import NewAlert, NewItem
from bot.storage.sources import SourceConfig

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def item(n: int, action: str | None = None) -> NewItem:
    link = f"https://news.example/{n}"
    return NewItem(f"guid:{n}", str(n), link, link, link, f"Item {n}", "text", NOW, action)


def enqueue(db, source_id: int, sub_id: int, target: str, new: list[NewItem], now=NOW) -> None:
    alerts = [NewAlert(i, sub_id, target, ("Kaspersky",)) for i in range(len(new))]
    items.store_poll(db, source_id, now, now, new, alerts, etag=None, last_modified=None, body_hash=None)


def statuses(db) -> list[tuple[str, str]]:
    return db.execute("SELECT status, next_attempt_at FROM outbox ORDER BY id").fetchall()


def test_instant_alerts_stay_pending_and_digest_ones_are_held_then_planned(db):
    src = sources.add(db, SourceConfig("A", "https://a.example/feed"), NOW)
    instant = subscriptions.add(db, "kaspersky", "console", NOW)
    daily = subscriptions.add(db, "kaspersky", "discord:123456789", NOW)
    delivery_settings.set_schedule(db, daily.id, parse_schedule("daily", "09:00"), NOW)
    enqueue(db, src.id, instant.id, "console", [item(1)])
    enqueue(db, src.id, daily.id, "discord:123456789", [item(2), item(3, "sanction")])
    assert [s for s, _ in statuses(db)] == ["pending", "held", "held"]
    assert outbox.plan_held(db, NOW) == 2
    assert [s for s, _ in statuses(db)] == ["pending", "digest", "pending"]  # the sanction goes at once
    alerts, spilled = outbox.digest_alerts(db, daily.id)
    assert [a.title for a in alerts] == ["Item 2"] and spilled == set()


def test_quiet_hours_set_the_release_time_in_the_server_zone(db):
    src = sources.add(db, SourceConfig("A", "https://a.example/feed"), NOW)
    sub = subscriptions.add(db, "kaspersky", "console", NOW)
    delivery_settings.set_timezone(db, None, "America/New_York")
    delivery_settings.set_quiet_hours(
        db, None, "console", parse_quiet_hours("06:00", "08:00")
    )  # 11:00-13:00 UTC
    enqueue(db, src.id, sub.id, "console", [item(1), item(2, "ban")])
    outbox.plan_held(db, NOW + timedelta(hours=5))  # planned late: judged at enqueue time
    assert statuses(db) == [
        ("pending", "2026-11-27T13:00:00+00:00"),
        ("pending", "2026-11-27T12:00:00+00:00"),
    ]
    delivery_settings.set_quiet_hours(db, None, "console", None)
    enqueue(db, src.id, sub.id, "console", [item(3)])
    assert statuses(db)[-1][0] == "pending"  # no quiet hours, no hold


def test_spill_keeps_the_oldest_up_to_the_cap_and_never_urgent_ones(db):
    src = sources.add(db, SourceConfig("A", "https://a.example/feed"), NOW)
    sub = subscriptions.add(db, "kaspersky", "discord:123456789", NOW, guild_id=42)
    enqueue(db, src.id, sub.id, "discord:123456789", [item(n, "ban" if n == 14 else None) for n in range(15)])
    delivery_settings.set_rate_cap(db, 42, replace(delivery_settings.RateCap(), overflow_cap=10))
    caps = {k: c.overflow_cap for k, c in delivery_settings.caps_by_scope(db).items()}
    assert outbox.spill_overflow(db, NOW, caps) == {"discord:123456789": 4}
    rows = db.execute("SELECT status, overflow FROM outbox ORDER BY id").fetchall()
    assert rows[:10] == [("pending", 0)] * 10
    assert rows[10:14] == [("digest", 1)] * 4 and rows[14] == ("pending", 0)
    _, spilled = outbox.digest_alerts(db, sub.id)
    assert len(spilled) == 4


def test_finish_digest_starts_the_next_period_and_cascades_on_delete(db):
    sub = subscriptions.add(db, "kaspersky", "console", NOW)
    delivery_settings.set_schedule(db, sub.id, parse_schedule("weekly", "08:00", "mon"), NOW)
    later = NOW + timedelta(days=3)
    outbox.finish_digest(db, sub.id, [], later, None)
    [state] = delivery_settings.digest_subscriptions(db)
    assert state.last_digest_at == later and state.schedule.describe() == "weekly digest on Mon at 08:00"
    subscriptions.remove(db, sub.id)
    assert db.execute("SELECT COUNT(*) FROM digest_state").fetchone()[0] == 0
