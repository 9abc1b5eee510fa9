"""Several processes on PostgreSQL: a stale planner moves nothing; one digest per period.

The planner runs in every worker at each drain, without a lease; each of its UPDATEs names the
status it moves from, so a planner that read a row before another process moved it changes
nothing. Each race is forced: connection A moves the rows in a transaction it keeps open, B's
planner reads the old rows and blocks on A's row locks (seen in pg_stat_activity), A commits,
B's UPDATE re-checks its WHERE on the committed row.
"""

from __future__ import annotations

import asyncio
import io
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from sqlite_utils import Database

from bot.delivery.console import ConsoleSink
from bot.delivery.digest import DigestRunner, _claim_period, period_key
from bot.delivery.pacing import PacedDispatcher
from bot.domain.delivery_schedule import parse_schedule
from bot.storage import delivery_settings, items, leases, outbox, sources, subscriptions
from bot.storage.db import AsyncDatabase, connect
from bot.storage.items import NewAlert, NewItem
from bot.storage.sources import SourceConfig

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def _item(n: int) -> NewItem:
    link = f"https://news.example/{n}"
    return NewItem(f"guid:{n}", str(n), link, link, link, f"Item {n}", "text", NOW)


def _enqueue(db: Database, sub_id: int, target: str, count: int, *, start: int = 0) -> None:
    src = sources.add(db, SourceConfig(f"S{start}", f"https://s{start}.example/feed"), NOW)
    new = [_item(start + n) for n in range(count)]
    alerts = [NewAlert(i, sub_id, target, ("Kaspersky",)) for i in range(count)]
    items.store_poll(db, src.id, NOW, NOW, new, alerts, etag=None, last_modified=None, body_hash=None)


def _statuses(db: Database) -> list[str]:
    return [str(r[0]) for r in db.execute("SELECT status FROM outbox ORDER BY id").fetchall()]


def _lock_waiters(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT COUNT(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock'"
        ).fetchone()
    assert row is not None
    return int(row[0])


def _race(url: str, first: Callable[[Database], Any], stale: Callable[[Database], Any]) -> Any:
    """Run `first` on A in an open transaction, start `stale` on B, wait until B blocks on A, commit A."""
    a, b = connect(url), connect(url)
    result: list[Any] = []
    errors: list[BaseException] = []

    def run_b() -> None:
        try:
            result.append(stale(b))
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=run_b)
    try:
        with a.atomic():
            first(a)
            thread.start()
            deadline = time.monotonic() + 30
            while _lock_waiters(url) == 0:  # B read the old rows and waits for A's row locks
                assert thread.is_alive(), (result, errors)
                assert time.monotonic() < deadline, "B never blocked on A's rows"
                time.sleep(0.02)
        thread.join(timeout=60)
    finally:
        a.conn.close()
        b.conn.close()
    assert not errors, errors
    return result[0]


def test_a_stale_planner_does_not_make_a_sent_alert_pending_again(pg_url: str):
    db = connect(pg_url)
    sub = subscriptions.add(db, "kaspersky", "console", NOW)
    _enqueue(db, sub.id, "console", 3)
    db.execute("UPDATE outbox SET status = 'held'")  # as a schedule or quiet hours would hold them
    ids = [int(r[0]) for r in db.execute("SELECT id FROM outbox ORDER BY id").fetchall()]

    def plan_and_send(a: Database) -> None:  # A plans them and, in the same transaction, sends them
        assert outbox.plan_held(a, NOW) == 3
        outbox.mark_all_sent(a, ids, NOW, None)

    outbox_read = _race(pg_url, plan_and_send, lambda b: outbox.plan_held(b, NOW))
    assert outbox_read == 3  # B read the three held rows, and its UPDATEs then matched none
    assert _statuses(db) == ["sent"] * 3  # without the status guard: pending again, sent twice
    db.conn.close()


def test_a_stale_spill_does_not_move_an_alert_composed_into_a_message(pg_url: str):
    db = connect(pg_url)
    sub = subscriptions.add(db, "kaspersky", "discord:123456789", NOW, guild_id=42)
    _enqueue(db, sub.id, "discord:123456789", 14)
    ids = [int(r[0]) for r in db.execute("SELECT id FROM outbox ORDER BY id").fetchall()]
    caps = {42: 10}

    def compose(a: Database) -> None:  # the channel's holder composes all 14 into messages
        outbox.set_message_nonce(a, ids, "nonce-1")

    spilled = _race(pg_url, compose, lambda b: outbox.spill_overflow(b, NOW, caps))
    assert spilled == {}  # without the guard: 4 alerts being posted moved to the digest too
    assert _statuses(db) == ["pending"] * 14
    db.conn.close()


def test_a_stale_mute_does_not_touch_an_alert_sent_meanwhile(pg_url: str):
    db = connect(pg_url)
    sub = subscriptions.add(db, "kaspersky", "console", NOW)
    _enqueue(db, sub.id, "console", 2)
    ids = [int(r[0]) for r in db.execute("SELECT id FROM outbox ORDER BY id").fetchall()]
    _race(pg_url, lambda a: outbox.mark_all_sent(a, ids, NOW, None), lambda b: outbox.mark_muted(b, ids))
    assert _statuses(db) == ["sent", "sent"]
    db.conn.close()


def _digest_setup(pg_url: str) -> int:
    db = connect(pg_url)
    sub = subscriptions.add(db, "kaspersky", "console", NOW - timedelta(days=2))
    delivery_settings.set_schedule(db, sub.id, parse_schedule("daily", "09:00"), NOW - timedelta(days=2))
    _enqueue(db, sub.id, "console", 3)
    assert outbox.plan_held(db, NOW) == 3
    db.conn.close()
    return sub.id


def _runner(pg_url: str, owner: str) -> tuple[DigestRunner, AsyncDatabase, io.StringIO]:
    adb = AsyncDatabase(connect(pg_url))
    stream = io.StringIO()
    dispatcher = PacedDispatcher(adb, {"console": ConsoleSink(stream)}, clock=lambda: NOW)
    runner = DigestRunner(adb, dispatcher, clock=lambda: NOW)
    runner.share(owner, 30)
    return runner, adb, stream


async def test_two_processes_that_both_run_digests_send_one_per_period(pg_url: str):
    sub_id = _digest_setup(pg_url)
    (a, adb_a, out_a), (b, adb_b, out_b) = _runner(pg_url, "a"), _runner(pg_url, "b")
    try:
        # B found the digest due, then A sent it: B's view is stale, it sends nothing.
        stale = await b.due()
        assert [s.id for s in stale] == [sub_id]
        assert [(s.subscription_id, s.alerts) for s in await a.run_due()] == [(sub_id, 3)]
        assert await b._send(stale[0]) is None
        # Both at once, for the next period's alerts: one of them sends it.
        db = connect(pg_url)
        _enqueue(db, sub_id, "console", 2, start=10)
        outbox.plan_held(db, NOW)
        db.execute("UPDATE digest_state SET last_digest_at = ?", ((NOW - timedelta(days=1)).isoformat(),))
        sent = await asyncio.gather(a.run_due(), b.run_due())
        assert sorted(len(s) for s in sent) == [0, 1]
        text = out_a.getvalue() + out_b.getvalue()
        assert text.count("Daily digest") == 2, text  # one per period, two periods
        assert _statuses(db) == ["sent"] * 5
        assert leases.held(db) == []  # each claim given back once its period was sent
        db.conn.close()
    finally:
        await adb_a.close()
        await adb_b.close()


async def test_a_digest_claimed_by_a_live_process_is_left_to_it_and_a_lost_claim_marks_nothing(pg_url: str):
    sub_id = _digest_setup(pg_url)
    (_, adb_a, _), (b, adb_b, out_b) = _runner(pg_url, "a"), _runner(pg_url, "b")
    db = connect(pg_url)
    try:
        [sub] = delivery_settings.digest_subscriptions(db, sub_id)
        token = _claim_period(db, sub, "a", 30, NOW)  # A claimed the period (and is posting it)
        assert token is not None
        assert [lease.key for lease in leases.held(db, "digest")] == [period_key(sub)]
        assert await b.run_due() == []  # B leaves it to A
        assert out_b.getvalue() == "" and _statuses(db) == ["digest"] * 3
        # A stalls past its claim: B takes the period over and sends it; A's "sent" would be refused.
        db.execute("UPDATE leases SET until = now() - interval '1 second'")
        assert [s.alerts for s in await b.run_due()] == [3]
        assert not leases.holds(db, token, now=NOW)
        assert out_b.getvalue().count("Daily digest") == 1
        assert _statuses(db) == ["sent"] * 3
    finally:
        db.conn.close()
        await adb_a.close()
        await adb_b.close()


def test_leases_expired_a_lease_time_ago_are_purged_and_live_ones_kept(pg_url: str):
    db = connect(pg_url)
    try:
        live = leases.acquire(db, "channel", "discord:1", "a", 30, now=NOW)
        dead = leases.acquire(db, "channel", "discord:2", "b", 30, now=NOW)
        recent = leases.acquire(db, "channel", "discord:3", "b", 30, now=NOW)
        assert live and dead and recent
        db.execute("UPDATE leases SET until = now() - interval '10 seconds' WHERE token = ?", (dead,))
        db.execute("UPDATE leases SET until = now() - interval '1 second' WHERE token = ?", (recent,))
        assert leases.purge_expired(db, 5, now=NOW) == 1
        assert [lease.key for lease in leases.held(db)] == ["discord:1", "discord:3"]
    finally:
        db.conn.close()


def test_a_batch_is_composed_only_under_the_lease_and_from_alerts_nobody_composed(pg_url: str):
    db = connect(pg_url)
    try:
        sub = subscriptions.add(db, "kaspersky", "discord:1", NOW)
        _enqueue(db, sub.id, "discord:1", 4)
        ids = [int(r[0]) for r in db.execute("SELECT id FROM outbox ORDER BY id").fetchall()]
        stalled = leases.acquire(db, "channel", "discord:1", "a", 30, now=NOW)
        assert stalled is not None
        db.execute("UPDATE leases SET until = now() - interval '1 second'")
        assert not outbox.claim_message(db, ids[:2], "n-a", NOW, lease=stalled)  # its lease passed
        holder = leases.acquire(db, "channel", "discord:1", "b", 30, now=NOW)
        assert outbox.claim_message(db, ids[1:], "n-b", NOW, lease=holder)
        # Composing differently what another message holds fails as a whole and changes nothing.
        assert not outbox.claim_message(db, ids[:2], "n-c", NOW, lease=holder)
        nonces = db.execute("SELECT message_nonce FROM outbox ORDER BY id").fetchall()
        assert [r[0] for r in nonces] == [None, "n-b", "n-b", "n-b"]
        assert outbox.claim_message(db, ids[1:], "n-b", NOW, lease=holder)  # a re-send: same message
    finally:
        db.conn.close()
