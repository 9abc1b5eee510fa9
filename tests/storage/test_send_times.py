"""A channel's recent send times, kept in the database for its rate cap (on both backends)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlite_utils import Database

from bot.storage import send_times

T0 = datetime(2026, 3, 1, 12, 0, 0, 250_000, tzinfo=UTC)


def test_send_times_are_read_back_within_the_window_and_old_ones_forgotten(db: Database) -> None:
    for n in range(4):
        at = T0 + timedelta(seconds=n)
        send_times.record(db, "discord:1", at, forget_before=at - timedelta(seconds=2))
    send_times.record(db, "discord:2", T0, forget_before=T0 - timedelta(seconds=2))

    # Recording at T0+3 s forgot what was 2 s older or more: T0 and T0+1 s are gone.
    assert send_times.since(db, "discord:1", T0) == [T0 + timedelta(seconds=n) for n in (2, 3)]
    # Microseconds kept: a window's end is exact, not rounded to the second.
    two = T0 + timedelta(seconds=2)
    assert send_times.since(db, "discord:1", two - timedelta(microseconds=1))[0] == two
    assert send_times.since(db, "discord:1", two) == [T0 + timedelta(seconds=3)]
    assert send_times.since(db, "discord:2", T0 - timedelta(seconds=1)) == [T0]  # each channel its own
    kept = db.execute("SELECT COUNT(*) FROM channel_sends WHERE target = 'discord:1'").fetchone()[0]
    assert kept == 2
