"""Recent send times per channel: the history a channel's rate cap counts, kept in the database.

A channel's messages are posted by whichever process holds its lease (and a digest by the
holder of the digests chore), so the count of messages in the cap's sliding window cannot live
in one process's memory: a new holder would start from an empty window and up to twice the cap
could go out. Each message's time is written here before its POST, and read back by the
process about to post to the channel. Times are on the posting process's clock (machines'
clocks must agree to well within a cap's window), stored as ISO-8601 UTC text with
microseconds and compared as text. A channel's times older than its window are deleted as it
posts, so the table holds at most about a cap's worth of rows per channel.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlite_utils import Database


def _stamp(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def since(db: Database, target: str, start: datetime) -> list[datetime]:
    """Return the times messages were posted to a channel after `start`, oldest first."""
    found = db.execute(
        "SELECT sent_at FROM channel_sends WHERE target = ? AND sent_at > ? ORDER BY sent_at",
        (target, _stamp(start)),
    ).fetchall()
    return [datetime.fromisoformat(str(r[0])) for r in found]


def record(db: Database, target: str, at: datetime, *, forget_before: datetime) -> None:
    """Note a message posted to a channel at `at`; forget its times before `forget_before`."""
    with db.atomic():
        db.execute(
            "DELETE FROM channel_sends WHERE target = ? AND sent_at <= ?", (target, _stamp(forget_before))
        )
        db.execute("INSERT INTO channel_sends (target, sent_at) VALUES (?, ?)", (target, _stamp(at)))
