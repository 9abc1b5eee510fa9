"""Moving alerts between statuses, each outcome written to the audit log in the same transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlite_utils import Database

from bot.domain.clock import iso
from bot.storage import leases
from bot.storage.delivery_settings import start_period
from bot.storage.outbox.status import Status

_CHUNK = 500  # ids per statement, under SQLite's limit on parameters

# One audit row per alert reaching an outcome from another status, with the item's title and
# link so that it outlives retention and a removed subscription (bot/storage/triage.py reads it).
_AUDIT_OUTCOME = (
    "INSERT INTO audit_log (at, guild_id, actor, event, alert_id, subscription_id, target, title, link,"
    " detail) SELECT COALESCE(?, o.sent_at, ?), s.guild_id, 'regwatch', ?, o.id, o.subscription_id,"
    " o.target, i.title, i.link, 'matched: ' || o.terms || COALESCE('; ' || ?, '')"
    " FROM outbox o JOIN subscriptions s ON s.id = o.subscription_id JOIN items i ON i.id = o.item_id"
    " WHERE o.id = ? AND o.status != ?"
)


def _wall_clock() -> str:
    # Failures and mutes carry no time of their own: the audit row has the time it was written.
    return iso(datetime.now(UTC))


def _audit(
    db: Database, alert_ids: Sequence[int], status: Status, sent_at: str | None, error: str | None
) -> None:
    """Log each alert moving to an outcome; call before the UPDATE, inside its transaction."""
    wall = _wall_clock()
    db.conn.executemany(
        _AUDIT_OUTCOME, [(sent_at, wall, f"alert.{status}", error, i, status) for i in alert_ids]
    )


def _chunks(ids: Sequence[int]) -> list[Sequence[int]]:
    return [ids[start : start + _CHUNK] for start in range(0, len(ids), _CHUNK)]


def _marks(ids: Sequence[int]) -> str:
    return ",".join("?" * len(ids))


def mark_all_sent(
    db: Database,
    alert_ids: Sequence[int],
    now: datetime,
    external_id: str | None,
    *,
    lease: str | None = None,
) -> bool:
    """Mark the alerts of one message delivered (after the sink confirmed it), in one transaction.

    With `lease` (the token of the channel's lease, storage/leases.py) they are marked only if
    the lease is still held, checked in the same transaction; False when it was lost: the new
    holder re-sends the message with the same nonce and marks it.
    """
    with db.atomic():
        if lease is not None and not leases.holds(db, lease, now=now):
            return False
        _audit(db, alert_ids, Status.SENT, iso(now), None)
        for chunk in _chunks(alert_ids):
            db.execute(
                "UPDATE outbox SET status = ?, sent_at = ?, attempts = attempts + 1, external_id = ?,"
                f" last_error = NULL WHERE id IN ({_marks(chunk)})",
                (Status.SENT, iso(now), external_id, *chunk),
            )
    return True


def mark_sent(
    db: Database, alert_id: int, now: datetime, external_id: str | None = None, *, lease: str | None = None
) -> bool:
    """Mark an alert delivered (after the sink confirmed it); with `lease`, only while it is held."""
    return mark_all_sent(db, [alert_id], now, external_id, lease=lease)


def mark_retry(db: Database, alert_id: int, error: str, next_attempt_at: datetime) -> None:
    """Record a failed attempt and when to try again; the alert stays pending."""
    db.execute(
        "UPDATE outbox SET attempts = attempts + 1, last_error = ?, next_attempt_at = ? WHERE id = ?",
        (error[:500], iso(next_attempt_at), alert_id),
    )


def mark_failed(db: Database, alert_id: int, error: str) -> None:
    """Give up on an alert that can never be delivered as it stands (kept for inspection)."""
    with db.atomic():
        _audit(db, [alert_id], Status.FAILED, None, error[:500])
        db.execute(
            "UPDATE outbox SET status = ?, attempts = attempts + 1, last_error = ? WHERE id = ?",
            (Status.FAILED, error[:500], alert_id),
        )


def mark_muted(db: Database, alert_ids: Sequence[int]) -> None:
    """Hold back waiting alerts that a mute covers, for good (kept for the audit trail)."""
    with db.atomic():
        _audit(db, alert_ids, Status.MUTED, None, "muted")
        db.conn.executemany(
            "UPDATE outbox SET status = ?, last_error = 'muted' WHERE id = ?"
            " AND status IN ('pending', 'held', 'digest')",  # not one another process sent meanwhile
            [(Status.MUTED, i) for i in alert_ids],
        )


def set_message_nonce(db: Database, alert_ids: list[int], nonce: str | None) -> None:
    """Record which message these alerts were composed into, before it is posted (None: forget it)."""
    with db.atomic():
        db.conn.executemany(
            "UPDATE outbox SET message_nonce = ? WHERE id = ?", [(nonce, i) for i in alert_ids]
        )


class _Taken(Exception):
    """Raised inside a transaction to roll a message claim back."""


def claim_message(
    db: Database, alert_ids: list[int], nonce: str, now: datetime, *, lease: str | None = None
) -> bool:
    """Compose these pending alerts into the message `nonce` before it is posted; False if not all could be.

    All or nothing: each alert must still be pending and not composed into another message, and
    with `lease` the channel's lease must still be held (checked in this transaction). A worker
    that stalled past its lease, while the new holder composed the same alerts differently,
    thus posts nothing; the holder's message is the only one.
    """
    try:
        with db.atomic():
            if lease is not None and not leases.holds(db, lease, now=now):
                return False
            for chunk in _chunks(alert_ids):
                cur = db.execute(
                    "UPDATE outbox SET message_nonce = ? WHERE status = ?"
                    " AND (message_nonce IS NULL OR message_nonce = ?)"
                    f" AND id IN ({_marks(chunk)})",
                    (nonce, Status.PENDING, nonce, *chunk),
                )
                if cur.rowcount != len(chunk):
                    raise _Taken
    except _Taken:
        return False
    return True


def defer(db: Database, alert_ids: list[int], when: datetime) -> None:
    """Move alerts' next attempt to `when` without counting an attempt (a rate cap is full)."""
    with db.atomic():
        for chunk in _chunks(alert_ids):
            db.execute(
                f"UPDATE outbox SET next_attempt_at = ? WHERE id IN ({_marks(chunk)})", (iso(when), *chunk)
            )


def finish_digest(
    db: Database, sub_id: int, alert_ids: list[int], now: datetime, external_id: str | None
) -> None:
    """Mark a digest's alerts sent and start the subscription's next period, in one transaction."""
    with db.atomic():
        mark_all_sent(db, alert_ids, now, external_id)
        start_period(db, sub_id, now)


def prune(db: Database, cutoff: datetime, limit: int = 1000) -> int:
    """Delete up to `limit` sent or failed alerts older than the cutoff; return how many."""
    with db.atomic():
        cur = db.execute(
            "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox WHERE status IN (?, ?)"
            " AND COALESCE(sent_at, created_at) < ? LIMIT ?)",
            (Status.SENT, Status.FAILED, iso(cutoff), limit),
        )
    return cur.rowcount
