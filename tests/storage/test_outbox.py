"""The outbox as the one owner of alert rows: enqueue's rules, the status moves, the audit trail."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.domain.clock import iso, parse_iso
from bot.domain.delivery_schedule import parse_quiet_hours, parse_schedule
from bot.storage import delivery_settings, items, outbox, sources, subscriptions, triage
from bot.storage.db import connect
from bot.storage.items import NewItem
from bot.storage.migrations import _TRIAGE
from bot.storage.outbox import OUTCOMES, TRANSITIONS, WAITING, Status, ToEnqueue
from bot.storage.sources import SourceConfig

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
# Real headlines (tests/data/story_headlines.json): two outlets' copies of one story, and another.
SANCTIONS = "US sanctions 12 Kaspersky Lab leaders"
SANCTIONS_AGAIN = "US Treasury sanctions 12 Kaspersky executives"
BAN = "Biden to ban Kaspersky sales over its ties to Russia - Reuters"


@pytest.fixture
def db(tmp_path):
    database = connect(tmp_path / "regwatch.db")
    yield database
    database.conn.close()


def _items(db, source_id: int, *titles: str) -> list[int]:
    """Store items with these headlines; return their ids."""
    new = [
        NewItem(f"guid:{t}", t, f"https://news.example/{n}", None, None, t, "text", NOW)
        for n, t in enumerate(titles)
    ]
    items.store_poll(db, source_id, NOW, NOW, new, [], etag=None, last_modified=None, body_hash=None)
    found = dict(db.execute("SELECT title, id FROM items WHERE source_id = ?", (source_id,)).fetchall())
    return [found[t] for t in titles]


def _alert(item_id: int, sub, title: str, key: str | None = None) -> ToEnqueue:
    return ToEnqueue(item_id, sub.id, sub.target, key or f"item:{item_id}", ("Kaspersky",), title)


def _rows(db) -> list[tuple]:
    return db.execute("SELECT id, target, status, story_of FROM outbox ORDER BY id").fetchall()


def test_enqueue_decides_pending_or_held_in_python(db):
    src = sources.add(db, SourceConfig("A", "https://a.example/feed"), NOW)
    instant = subscriptions.add(db, "kaspersky", "discord:1", NOW, guild_id=5)
    daily = subscriptions.add(db, "kaspersky", "discord:2", NOW, guild_id=5)
    quiet_here = subscriptions.add(db, "kaspersky", "discord:3", NOW, guild_id=6)
    quiet_all = subscriptions.add(db, "kaspersky", "discord:4", NOW, guild_id=7)
    delivery_settings.set_schedule(db, daily.id, parse_schedule("daily", "09:00"), NOW)
    hours = parse_quiet_hours("22:00", "07:00")
    delivery_settings.set_quiet_hours(db, 6, "discord:3", hours)
    delivery_settings.set_quiet_hours(db, 7, "*", hours)
    delivery_settings.set_quiet_hours(db, 5, "discord:3", hours)  # another server's: holds nothing here
    [item] = _items(db, src.id, SANCTIONS)
    subs = (instant, daily, quiet_here, quiet_all)
    assert outbox.enqueue(db, src.id, NOW, [_alert(item, s, SANCTIONS) for s in subs]) == 4
    assert [r[2] for r in _rows(db)] == ["pending", "held", "held", "held"]
    assert db.execute("SELECT DISTINCT created_at, next_attempt_at FROM outbox").fetchall() == [
        (iso(NOW), iso(NOW))
    ]


def test_enqueue_keeps_one_alert_per_target_and_key_and_private_sources_private(db):
    shared = sources.add(db, SourceConfig("A", "https://a.example/feed"), NOW)
    assert sources.add_for_guild(db, SourceConfig("Mine", "https://p.example/feed"), NOW, 1) is not None
    private = next(s for s in sources.list_sources(db) if not s.shared)
    owner = subscriptions.add(db, "kaspersky", "discord:1", NOW, guild_id=1)
    stranger = subscriptions.add(db, "kaspersky", "discord:2", NOW, guild_id=2)
    console = subscriptions.add(db, "kaspersky", "console", NOW)
    [a, b] = _items(db, shared.id, SANCTIONS, BAN)
    link = "news.example/sanctions"
    first = [_alert(a, console, SANCTIONS, link), _alert(b, console, BAN, link)]  # one link: one alert
    assert outbox.enqueue(db, shared.id, NOW, first) == 1
    assert outbox.enqueue(db, shared.id, NOW, [_alert(b, console, BAN, link)]) == 0  # had one already
    gone = subscriptions.add(db, "kaspersky", "console", NOW, name="gone")
    subscriptions.remove(db, gone.id)
    assert outbox.enqueue(db, shared.id, NOW, [_alert(b, gone, BAN)]) == 0  # removed meanwhile
    [p] = _items(db, private.id, SANCTIONS)
    assert (
        outbox.enqueue(db, private.id, NOW, [_alert(p, owner, SANCTIONS), _alert(p, stranger, SANCTIONS)])
        == 1
    )
    assert [r[1] for r in _rows(db)] == ["console", "discord:1"]


def test_enqueue_links_later_copies_of_a_story_stored_or_in_the_same_batch(db):
    src = sources.add(db, SourceConfig("A", "https://a.example/feed"), NOW)
    sub = subscriptions.add(db, "kaspersky", "console", NOW)
    other = subscriptions.add(db, "kaspersky", "discord:9", NOW)
    window = timedelta(hours=48)
    first, copy, ban, again = _items(db, src.id, SANCTIONS, SANCTIONS_AGAIN, BAN, f"{SANCTIONS} today")
    # In one batch: the copy adds to the first; another target's copy is its own first.
    batch = [
        _alert(first, sub, SANCTIONS),
        _alert(copy, sub, SANCTIONS_AGAIN),
        _alert(copy, other, SANCTIONS_AGAIN),
    ]
    assert outbox.enqueue(db, src.id, NOW, batch, story_window=window) == 3
    (first_id, _, _, none), (copy_id, _, _, linked), (_, _, _, own) = _rows(db)
    assert (none, linked, own) == (None, first_id, None)
    # A later poll: a copy adds to the stored first alert; a different story does not.
    later = NOW + timedelta(hours=1)
    assert (
        outbox.enqueue(
            db,
            src.id,
            later,
            [_alert(again, sub, f"{SANCTIONS} today"), _alert(ban, sub, BAN)],
            story_window=window,
        )
        == 2
    )
    assert [r[3] for r in _rows(db)[-2:]] == [first_id, None]
    # Without a window, nothing links.
    [fresh] = _items(db, src.id, f"{SANCTIONS_AGAIN} again")
    assert outbox.enqueue(db, src.id, later, [_alert(fresh, sub, f"{SANCTIONS_AGAIN} again")]) == 1
    assert _rows(db)[-1][3] is None
    assert copy_id != first_id


def test_enqueue_inserts_many_rows_in_few_statements(db):
    src = sources.add(db, SourceConfig("A", "https://a.example/feed"), NOW)
    subs = [subscriptions.add(db, "kaspersky", f"discord:{n}", NOW) for n in range(1, 1201)]
    [item] = _items(db, src.id, SANCTIONS)
    statements: list[str] = []
    db.conn.set_trace_callback(statements.append)
    try:
        assert outbox.enqueue(db, src.id, NOW, [_alert(item, s, SANCTIONS) for s in subs]) == 1200
    finally:
        db.conn.set_trace_callback(None)
    inserts = [s for s in statements if s.lstrip().upper().startswith("INSERT")]
    assert len(inserts) == 3  # 500 + 500 + 200 rows
    assert db.execute("SELECT COUNT(DISTINCT target) FROM outbox").fetchone()[0] == 1200


def test_no_trigger_remains_on_the_outbox(db):
    found = db.execute(
        "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'outbox'"
    ).fetchall()
    assert found == []


def test_statuses_and_their_moves():
    assert {s.value for s in Status} == {"pending", "held", "digest", "sent", "failed", "muted"}
    assert set(TRANSITIONS) == set(Status) and set(WAITING) | set(OUTCOMES) == set(Status)
    assert Status.HELD.may_become(Status.PENDING) and Status.HELD.may_become(Status.DIGEST)
    assert Status.PENDING.may_become(Status.SENT) and Status.DIGEST.may_become(Status.SENT)
    assert not Status.HELD.may_become(Status.SENT)  # the planner decides first
    assert not any(Status.SENT.may_become(s) or Status.FAILED.may_become(s) for s in Status)
    assert all(waiting.may_become(Status.MUTED) for waiting in WAITING)
    assert not any(s.may_become(Status.HELD) for s in Status)  # only enqueue makes a held alert
    assert Status.MUTED == "muted" and f"alert.{Status.MUTED}" == "alert.muted"


def test_every_writer_moves_rows_as_the_diagram_says(db):
    src = sources.add(db, SourceConfig("A", "https://a.example/feed"), NOW)
    digest = subscriptions.add(db, "kaspersky", "discord:1", NOW, guild_id=1)
    delivery_settings.set_schedule(db, digest.id, parse_schedule("daily", "09:00"), NOW)
    instant = subscriptions.add(db, "kaspersky", "discord:2", NOW, guild_id=1)
    ids = _items(db, src.id, *(f"{BAN} {n}" for n in range(6)))
    outbox.enqueue(
        db, src.id, NOW, [_alert(ids[0], digest, BAN)] + [_alert(i, instant, BAN) for i in ids[1:]]
    )
    moves: set[tuple[str, str]] = set()

    def step(action) -> None:
        before = dict(db.execute("SELECT id, status FROM outbox").fetchall())
        action()
        after = dict(db.execute("SELECT id, status FROM outbox").fetchall())
        moves.update((before[i], after[i]) for i in before if before[i] != after[i])

    step(lambda: outbox.plan_held(db, NOW))
    step(lambda: outbox.spill_overflow(db, NOW, {1: 3}))
    waiting = [a.id for a in outbox.due(db, NOW)]
    step(lambda: outbox.mark_sent(db, waiting[0], NOW))
    step(lambda: outbox.mark_failed(db, waiting[1], "HTTP 403"))
    step(lambda: outbox.mark_muted(db, [waiting[2]]))
    digest_ids = [a.id for a in outbox.digest_alerts(db, digest.id)[0]]
    step(lambda: outbox.finish_digest(db, digest.id, digest_ids, NOW, "m1"))
    assert moves == {
        ("held", "digest"),
        ("pending", "digest"),
        ("pending", "sent"),
        ("pending", "failed"),
        ("pending", "muted"),
        ("digest", "sent"),
    }
    assert all(Status(a).may_become(Status(b)) for a, b in moves)


# The trigger m011 made and m014 dropped: the Python audit must write what it wrote.
_OLD_TRIGGER = next(s for s in _TRIAGE if "audit_alert_outcome" in s)


def _audit(db) -> list[tuple]:
    return db.execute(
        "SELECT at, guild_id, actor, event, alert_id, subscription_id, target, title, link, detail"
        " FROM audit_log WHERE event LIKE 'alert.%' ORDER BY id"
    ).fetchall()


def _world(path):
    db = connect(path)
    src = sources.add(db, SourceConfig("A", "https://a.example/feed"), NOW)
    sub = subscriptions.add(db, "kaspersky", "discord:1", NOW, guild_id=3)
    ids = _items(db, src.id, SANCTIONS, BAN, f"{BAN} again")
    outbox.enqueue(
        db, src.id, NOW, [_alert(i, sub, t) for i, t in zip(ids, (SANCTIONS, BAN, BAN), strict=True)]
    )
    return db, [r[0] for r in _rows(db)]


def test_outcomes_are_audited_as_the_dropped_trigger_did(tmp_path):
    ours, (a, b, c) = _world(tmp_path / "ours.db")
    old, _ = _world(tmp_path / "old.db")
    old.execute(_OLD_TRIGGER)
    wall_before = iso(datetime.now(UTC))
    outbox.mark_sent(ours, a, NOW, "m1")
    outbox.mark_sent(ours, a, NOW, "m1")  # again: not a new outcome
    outbox.mark_failed(ours, b, "HTTP 403: Missing Access")
    outbox.mark_muted(ours, [c])
    for sql, params in [
        (
            "UPDATE outbox SET status = 'sent', sent_at = ?, attempts = attempts + 1, external_id = ?,"
            " last_error = NULL WHERE id = ?",
            (iso(NOW), "m1", a),
        ),
        (
            "UPDATE outbox SET status = 'sent', sent_at = ?, attempts = attempts + 1, external_id = ?,"
            " last_error = NULL WHERE id = ?",
            (iso(NOW), "m1", a),
        ),
        (
            "UPDATE outbox SET status = 'failed', attempts = attempts + 1, last_error = ? WHERE id = ?",
            ("HTTP 403: Missing Access", b),
        ),
        ("UPDATE outbox SET status = 'muted', last_error = 'muted' WHERE id = ?", (c,)),
    ]:
        old.execute(sql, params)
    wall_after = iso(datetime.now(UTC))
    mine, theirs = _audit(ours), _audit(old)
    assert [r[1:] for r in mine] == [r[1:] for r in theirs] and len(mine) == 3
    assert mine[0][0] == theirs[0][0] == iso(NOW)  # a sent alert: when it was sent
    for at in [r[0] for r in mine[1:]] + [r[0] for r in theirs[1:]]:  # others: when it was written
        assert wall_before <= at <= wall_after and parse_iso(at) is not None
    assert mine[1][3:] == (
        "alert.failed",
        b,
        ours.execute("SELECT subscription_id FROM outbox WHERE id = ?", (b,)).fetchone()[0],
        "discord:1",
        BAN,
        "https://news.example/1",
        'matched: ["Kaspersky"]; HTTP 403: Missing Access',
    )
    ours.conn.close()
    old.conn.close()


def test_mutes_go_through_the_outbox_and_are_audited(db):
    src = sources.add(db, SourceConfig("A", "https://a.example/feed"), NOW)
    sub = subscriptions.add(db, "kaspersky", "discord:1", NOW, guild_id=3)
    [item] = _items(db, src.id, SANCTIONS)
    outbox.enqueue(db, src.id, NOW, [_alert(item, sub, SANCTIONS)])
    triage.add_mute(
        db, 3, "discord:1", "subscription", str(sub.id), NOW + timedelta(days=7), "discord:5", NOW
    )
    assert triage.apply_mutes(db, NOW, lambda terms: None) == 1
    assert [r[2] for r in _rows(db)] == ["muted"]
    assert [r[3] for r in _audit(db)] == ["alert.muted"]
