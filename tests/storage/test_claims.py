"""Several processes on one database: sources claimed once, new rows by RETURNING, sent under a lease."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlite_utils import Database

from bot.storage import items, leases, outbox, sources, subscriptions
from bot.storage.db import connect
from bot.storage.items import NewAlert, NewItem
from bot.storage.outbox import Status
from bot.storage.sources import SourceConfig

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _sources(db: Database, n: int) -> list[int]:
    return [sources.add(db, SourceConfig(f"S{i}", f"https://s{i}.example/feed"), NOW).id for i in range(n)]


def _new(n: int, prefix: str = "a") -> list[NewItem]:
    return [
        NewItem(f"guid:{prefix}{i}", None, f"https://x.example/{prefix}{i}", None, None, f"T {i}", "x", NOW)
        for i in range(n)
    ]


def _together(count: int, url: str, work: Callable[[Database, int], Any]) -> list[Any]:
    """Run work(own connection, n) in `count` threads released at once; return the results in order."""
    start = threading.Barrier(count)
    results: list[Any] = [None] * count
    errors: list[BaseException] = []

    def run(n: int) -> None:
        conn = connect(url)
        try:
            start.wait(timeout=30)
            results[n] = work(conn, n)
        except BaseException as exc:
            errors.append(exc)
        finally:
            conn.conn.close()

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    return results


def test_a_claimed_source_is_not_due_again_until_its_hold_has_passed(db: Database):
    ids = _sources(db, 3)
    first = sources.claim_due(db, NOW, 600, limit=2)
    second = sources.claim_due(db, NOW, 600)
    assert len(first) == 2 and len(second) == 1
    assert {s.id for s in first} | {s.id for s in second} == set(ids)
    assert sources.claim_due(db, NOW + timedelta(seconds=599), 600) == []
    # The claimer died without an outcome: after the hold the sources are due again.
    assert {s.id for s in sources.claim_due(db, NOW + timedelta(seconds=600), 600)} == set(ids)


def test_a_polls_outcome_replaces_the_claims_hold(db: Database):
    (sid,) = _sources(db, 1)
    (claimed,) = sources.claim_due(db, NOW, 600)
    items.store_poll(
        db, claimed.id, NOW, NOW + timedelta(seconds=60), _new(1), [],
        etag=None, last_modified=None, body_hash=None,
    )  # fmt: skip
    assert [s.id for s in sources.claim_due(db, NOW + timedelta(seconds=60), 600)] == [sid]


def test_store_poll_returns_the_new_rows_ids_by_identity(db: Database):
    (sid,) = _sources(db, 1)
    sub = subscriptions.add(db, "x", "console", NOW, name="x")
    new = _new(3)
    items.store_poll(db, sid, NOW, NOW, new[:1], [], etag=None, last_modified=None, body_hash=None)
    alerts = [NewAlert(i, sub.id, "console", ("x",)) for i in range(3)]
    stored, enqueued = items.store_poll(
        db, sid, NOW, NOW, new, alerts, etag=None, last_modified=None, body_hash=None
    )
    assert (stored, enqueued) == (2, 2)  # the first identity was stored before: no alert
    rows = db.execute(
        "SELECT i.identity FROM outbox o JOIN items i ON i.id = o.item_id ORDER BY i.identity"
    ).fetchall()
    assert [r[0] for r in rows] == ["guid:a1", "guid:a2"]


def test_many_processes_claiming_at_once_share_the_due_sources_without_overlap(pg_url: str):
    setup = connect(pg_url)
    ids = _sources(setup, 40)
    setup.conn.close()

    def claim(conn: Database, n: int) -> list[int]:
        got: list[int] = []
        while batch := sources.claim_due(conn, NOW, 600, limit=3):
            got += [s.id for s in batch]
        return got

    claimed = _together(4, pg_url, claim)
    every = [i for got in claimed for i in got]
    assert sorted(every) == sorted(ids)  # each claimed once, none twice


def test_two_processes_storing_the_same_items_at_once_alert_each_once(pg_url: str):
    setup = connect(pg_url)
    (sid,) = _sources(setup, 1)
    sub = subscriptions.add(setup, "x", "console", NOW, name="x")
    setup.conn.close()
    new = _new(50)
    alerts = [NewAlert(i, sub.id, "console", ("x",)) for i in range(50)]

    def store(conn: Database, n: int) -> tuple[int, int]:
        return items.store_poll(
            conn, sid, NOW, NOW, new, alerts, etag=None, last_modified=None, body_hash=None
        )

    results = _together(2, pg_url, store)
    assert sum(r[0] for r in results) == 50
    assert sum(r[1] for r in results) == 50
    check = connect(pg_url)
    assert check.execute("SELECT COUNT(*), COUNT(DISTINCT item_id) FROM outbox").fetchone() == (50, 50)
    check.conn.close()


def test_sent_is_recorded_only_under_the_channels_current_lease(db: Database):
    (sid,) = _sources(db, 1)
    sub = subscriptions.add(db, "x", "discord:7", NOW, name="x")
    items.store_poll(
        db, sid, NOW, NOW, _new(2), [NewAlert(i, sub.id, "discord:7", ("x",)) for i in range(2)],
        etag=None, last_modified=None, body_hash=None,
    )  # fmt: skip
    first, second = (r[0] for r in db.execute("SELECT id FROM outbox ORDER BY id").fetchall())
    token = leases.acquire(db, "channel", "discord:7", "a", 60, now=NOW)
    assert token is not None
    assert outbox.mark_sent(db, first, NOW, "m1", lease=token)
    # The lease expires and another worker takes the channel: the old holder records nothing.
    expired = leases.acquire(db, "channel", "discord:7", "a", -1, now=NOW)
    assert expired == token
    assert leases.acquire(db, "channel", "discord:7", "b", 60, now=NOW) is not None
    assert not outbox.mark_sent(db, second, NOW, "m2", lease=token)
    statuses = dict(db.execute("SELECT id, status FROM outbox").fetchall())
    assert statuses == {first: Status.SENT, second: Status.PENDING}


def test_two_processes_storing_one_story_at_once_make_one_first_alert(pg_url: str):
    setup = connect(pg_url)
    first_source, second_source = _sources(setup, 2)
    sub = subscriptions.add(setup, "x", "discord:5", NOW, name="x")
    setup.conn.close()
    # Real headlines (tests/data/story_headlines.json): two outlets' copies of one story.
    titles = ("US sanctions 12 Kaspersky Lab leaders", "US Treasury sanctions 12 Kaspersky executives")
    rounds = 5
    for r in range(rounds):

        def store(conn: Database, n: int, r: int = r) -> tuple[int, int]:
            title = titles[n]
            link = f"https://outlet{n}.example/{r}"
            item = NewItem(f"guid:{n}:{r}", None, link, link, link, title, "x", NOW)
            return items.store_poll(
                conn, (first_source, second_source)[n], NOW, NOW, [item],
                [NewAlert(0, sub.id, "discord:5", ("x",))],
                etag=None, last_modified=None, body_hash=None, story_window=timedelta(hours=48),
            )  # fmt: skip

        assert [res[1] for res in _together(2, pg_url, store)] == [1, 1]
        # Each round's two copies: the later-decided one adds to the story already told.
    check = connect(pg_url)
    firsts = check.execute("SELECT COUNT(*) FROM outbox WHERE story_of IS NULL").fetchone()[0]
    check.conn.close()
    assert firsts == 1  # one story, told once; every later copy (9 of them) adds to it
