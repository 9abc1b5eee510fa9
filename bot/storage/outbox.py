"""The outbox: alerts persisted before they are sent, marked sent only after a sink confirmed."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlite_utils import Database

from bot.domain.clock import iso, parse_iso
from bot.storage.sources import seen_name


@dataclass(frozen=True, slots=True)
class PendingAlert:
    """Everything a sink needs to render and send one alert."""

    id: int
    target: str
    attempts: int
    subscription_id: int
    subscription_label: str
    query: str
    mention_role_id: int | None
    item_id: int
    title: str
    text: str
    link: str | None
    published: datetime | None
    action: str | None
    source_name: str
    source_url: str
    terms: tuple[str, ...]
    created_at: datetime
    guild_id: int | None = None
    origin_channel_id: int | None = None
    subscription_paused: bool = False
    explanation: dict[str, Any] = field(default_factory=dict)  # why it alerted (bot.domain.explain)
    story_of: int | None = None  # the alert of the same story this one adds to
    story: Story | None = None  # filled by `due` for additions
    message_nonce: str | None = None  # the message it was composed into before a POST, if any


@dataclass(frozen=True, slots=True)
class StoryCopy:
    """One later copy of a story: who carried it and where."""

    source_name: str
    title: str
    link: str | None


@dataclass(frozen=True, slots=True)
class Story:
    """The first alert of a story and its copies so far (this addition included, last)."""

    first: PendingAlert
    first_status: str  # pending | sent | failed
    first_external_id: str | None
    copies: tuple[StoryCopy, ...]


# The source's name is the one the subscription's server gave it, when it added the source itself.
_SELECT = (
    "SELECT o.id, o.target, o.attempts, o.subscription_id, COALESCE(sub.name, '#' || sub.id), sub.query,"
    f" sub.mention_role_id, i.id, i.title, i.text, i.link, i.published, i.action,"
    f" {seen_name(guild='sub.guild_id')}, s.url, o.terms,"
    " o.created_at, sub.guild_id, sub.origin_channel_id, sub.paused, o.explanation, o.story_of,"
    " o.message_nonce"
    " FROM outbox o JOIN subscriptions sub ON sub.id = o.subscription_id"
    " JOIN items i ON i.id = o.item_id JOIN sources s ON s.id = i.source_id"
)


def _alert(r: tuple[object, ...]) -> PendingAlert:
    return PendingAlert(
        id=int(r[0]),  # type: ignore[call-overload]
        target=str(r[1]),
        attempts=int(r[2]),  # type: ignore[call-overload]
        subscription_id=int(r[3]),  # type: ignore[call-overload]
        subscription_label=str(r[4]),
        query=str(r[5]),
        mention_role_id=r[6] if isinstance(r[6], int) else None,
        item_id=int(r[7]),  # type: ignore[call-overload]
        title=str(r[8]),
        text=str(r[9]),
        link=r[10] if isinstance(r[10], str) else None,
        published=parse_iso(r[11] if isinstance(r[11], str) else None),
        action=r[12] if isinstance(r[12], str) else None,
        source_name=str(r[13]),
        source_url=str(r[14]),
        terms=tuple(json.loads(str(r[15]))),
        created_at=parse_iso(str(r[16])) or datetime.min,
        guild_id=r[17] if isinstance(r[17], int) else None,
        origin_channel_id=r[18] if isinstance(r[18], int) else None,
        subscription_paused=bool(r[19]),
        explanation=json.loads(str(r[20] or "{}")),
        story_of=r[21] if isinstance(r[21], int) else None,
        message_nonce=r[22] if isinstance(r[22], str) else None,
    )


def _with_story(db: Database, alert: PendingAlert) -> PendingAlert:
    """Attach the story's first alert and its copies so far to an addition."""
    if alert.story_of is None:
        return alert
    row = db.execute(
        f"{_SELECT.replace('SELECT o.id', 'SELECT o.status, o.external_id, o.id')} WHERE o.id = ?",
        (alert.story_of,),
    ).fetchone()
    if row is None:
        return replace(alert, story_of=None)  # the first alert is gone: deliver this one as an alert
    copies = db.execute(
        f"SELECT {seen_name(guild='sub.guild_id')}, i.title, i.link FROM outbox o"
        " JOIN items i ON i.id = o.item_id JOIN sources s ON s.id = i.source_id"
        " JOIN subscriptions sub ON sub.id = o.subscription_id"
        " WHERE o.story_of = ? AND (o.status = 'sent' OR o.id = ?) ORDER BY o.id",
        (alert.story_of, alert.id),
    ).fetchall()
    story = Story(_alert(row[2:]), str(row[0]), row[1], tuple(StoryCopy(*c) for c in copies))
    return replace(alert, story=story)


def due(
    db: Database, now: datetime, limit: int = 100, *, kinds: tuple[str, ...] | None = None
) -> list[PendingAlert]:
    """Return pending alerts whose next attempt time has come, oldest first.

    Alerts of a paused subscription wait until it is resumed or its retry time has come; later
    copies of a story wait for the story's first alert.
    """
    where = (
        "o.status = 'pending' AND o.next_attempt_at <= ?"
        " AND (sub.paused = 0 OR (sub.paused_until IS NOT NULL AND sub.paused_until <= ?))"
        # A later copy of a story waits until the story's first alert was delivered (or failed).
        " AND (o.story_of IS NULL OR NOT EXISTS"
        " (SELECT 1 FROM outbox f WHERE f.id = o.story_of AND f.status = 'pending'))"
    )
    params: list[object] = [iso(now), iso(now)]
    if kinds:
        where += " AND (" + " OR ".join("o.target = ? OR o.target LIKE ?" for _ in kinds) + ")"
        for k in kinds:
            params += [k, f"{k}:%"]
    cur = db.execute(f"{_SELECT} WHERE {where} ORDER BY o.id LIMIT ?", (*params, limit))
    return [_with_story(db, _alert(r)) for r in cur.fetchall()]


def mark_sent(db: Database, alert_id: int, now: datetime, external_id: str | None = None) -> None:
    """Mark an alert delivered (after the sink confirmed it)."""
    db.execute(
        "UPDATE outbox SET status = 'sent', sent_at = ?, attempts = attempts + 1, external_id = ?,"
        " last_error = NULL WHERE id = ?",
        (iso(now), external_id, alert_id),
    )


def set_message_nonce(db: Database, alert_ids: list[int], nonce: str | None) -> None:
    """Record which message these alerts were composed into, before it is posted (None: forget it)."""
    with db.atomic():
        db.conn.executemany(
            "UPDATE outbox SET message_nonce = ? WHERE id = ?", [(nonce, i) for i in alert_ids]
        )


def mark_retry(db: Database, alert_id: int, error: str, next_attempt_at: datetime) -> None:
    """Record a failed attempt and when to try again; the alert stays pending."""
    db.execute(
        "UPDATE outbox SET attempts = attempts + 1, last_error = ?, next_attempt_at = ? WHERE id = ?",
        (error[:500], iso(next_attempt_at), alert_id),
    )


def mark_failed(db: Database, alert_id: int, error: str) -> None:
    """Give up on an alert that can never be delivered as it stands (kept for inspection)."""
    db.execute(
        "UPDATE outbox SET status = 'failed', attempts = attempts + 1, last_error = ? WHERE id = ?",
        (error[:500], alert_id),
    )


def counts(db: Database) -> dict[str, int]:
    """Return the number of alerts per status."""
    cur = db.execute("SELECT status, COUNT(*) FROM outbox GROUP BY status")
    result = {"pending": 0, "sent": 0, "failed": 0}
    result.update({r[0]: r[1] for r in cur.fetchall()})
    return result


def recent(
    db: Database, limit: int = 20, *, guild_id: int | None = None, offset: int = 0
) -> list[tuple[PendingAlert, str]]:
    """Return the latest alerts with their status, newest first (of one server when given), after `offset`."""
    where, params = "1", []
    if guild_id is not None:
        where, params = "sub.guild_id = ?", [guild_id]
    cur = db.execute(
        f"{_SELECT.replace('SELECT o.id', 'SELECT o.status, o.id')} WHERE {where}"
        " ORDER BY o.id DESC LIMIT ? OFFSET ?",
        (*params, limit, max(0, offset)),
    )
    return [(_alert(r[1:]), str(r[0])) for r in cur.fetchall()]
