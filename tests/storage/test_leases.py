"""Leases on both backends: acquire, renew, takeover after expiry, holds, release; one winner at once."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlite_utils import Database

from bot.storage import leases
from bot.storage.db import connect

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def test_a_free_lease_is_taken_and_a_held_one_is_refused_to_another_owner(db: Database):
    token = leases.acquire(db, "channel", "discord:1", "a", 60, now=NOW)
    assert token is not None
    assert leases.acquire(db, "channel", "discord:1", "b", 60, now=NOW) is None
    assert leases.holds(db, token, now=NOW)
    # Another key is another lease.
    assert leases.acquire(db, "channel", "discord:2", "b", 60, now=NOW) is not None
    assert [(x.key, x.owner) for x in leases.held(db, "channel")] == [("discord:1", "a"), ("discord:2", "b")]


def test_the_holder_renews_and_keeps_its_token(db: Database):
    token = leases.acquire(db, "chore", "prune", "a", 60, now=NOW)
    again = leases.acquire(db, "chore", "prune", "a", 60, now=NOW + timedelta(seconds=30))
    assert again == token
    assert leases.renew(db, token, 60, now=NOW + timedelta(seconds=40))
    assert leases.holds(db, token, now=NOW + timedelta(seconds=50))


def test_an_expired_lease_is_taken_over_with_a_new_token_and_the_old_holder_lost_it(db: Database):
    # Acquired already expired (negative length): expiry on either clock, no waiting.
    old = leases.acquire(db, "channel", "discord:1", "a", -1, now=NOW)
    assert old is not None
    assert not leases.holds(db, old, now=NOW)
    new = leases.acquire(db, "channel", "discord:1", "b", 60, now=NOW)
    assert new is not None and new != old
    assert not leases.renew(db, old, 60, now=NOW)
    assert not leases.release(db, old)
    assert leases.holds(db, new, now=NOW)
    assert leases.acquire(db, "channel", "discord:1", "a", 60, now=NOW) is None


def test_an_owner_coming_back_after_expiry_gets_a_new_token(db: Database):
    old = leases.acquire(db, "channel", "discord:1", "a", -1, now=NOW)
    new = leases.acquire(db, "channel", "discord:1", "a", 60, now=NOW)
    assert new is not None and new != old
    assert not leases.holds(db, str(old), now=NOW)


def test_release_frees_the_lease_for_another_owner(db: Database):
    token = leases.acquire(db, "chore", "digests", "a", 60, now=NOW)
    assert token is not None
    assert leases.release(db, token)
    assert not leases.holds(db, token, now=NOW)
    other = leases.acquire(db, "chore", "digests", "b", 60, now=NOW)
    assert other is not None
    assert leases.release_owner(db, "b") == 1
    assert leases.held(db) == []


def test_on_sqlite_the_callers_clock_decides_expiry(tmp_path: Path):
    db = connect(tmp_path / "regwatch.db")
    token = leases.acquire(db, "channel", "discord:1", "a", 60, now=NOW)
    assert token is not None
    assert leases.holds(db, token, now=NOW + timedelta(seconds=59))
    assert not leases.holds(db, token, now=NOW + timedelta(seconds=61))
    assert leases.acquire(db, "channel", "discord:1", "b", 60, now=NOW + timedelta(seconds=59)) is None
    assert leases.acquire(db, "channel", "discord:1", "b", 60, now=NOW + timedelta(seconds=61)) is not None
    db.conn.close()


def test_many_connections_acquiring_at_once_make_exactly_one_holder(pg_url: str):
    start = threading.Barrier(6)
    won: list[str] = []
    errors: list[BaseException] = []

    def contend(n: int) -> None:
        conn = connect(pg_url)
        try:
            start.wait(timeout=30)
            token = leases.acquire(conn, "channel", "discord:9", f"owner-{n}", 60, now=NOW)
            if token is not None:
                won.append(token)
        except BaseException as exc:
            errors.append(exc)
        finally:
            conn.conn.close()

    threads = [threading.Thread(target=contend, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors
    assert len(won) == 1
