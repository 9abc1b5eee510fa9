"""Reading the outbox: due alerts with everything a sink needs, recent alerts, digests, counts."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlite_utils import Database

from bot.domain.clock import iso, parse_iso
from bot.storage.outbox.status import Status
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


@dataclass(frozen=True, slots=True)
class StoryMessage:
    """A posted message as it stands: its alerts (oldest first) and the story copies added to each."""

    alerts: tuple[PendingAlert, ...]
    copies: dict[int, tuple[StoryCopy, ...]]  # by the id of the alert (of this message) they add to
    composed: tuple[int, ...] = ()  # the alerts composed with the first under its nonce, by id


# The source's name is the one the subscription's server gave it, when it added the source itself.
_SELECT = (
    "SELECT o.id AS id, o.target AS target, o.attempts AS attempts, o.subscription_id AS subscription_id,"
    " COALESCE(sub.name, '#' || sub.id) AS subscription_label, sub.query AS query,"
    " sub.mention_role_id AS mention_role_id, i.id AS item_id, i.title AS title, i.text AS text,"
    " i.link AS link, i.published AS published, i.action AS action,"
    f" {seen_name(guild='sub.guild_id')} AS source_name, s.url AS source_url, o.terms AS terms,"
    " o.created_at AS created_at, sub.guild_id AS guild_id, sub.origin_channel_id AS origin_channel_id,"
    " sub.paused AS paused, o.explanation AS explanation, o.story_of AS story_of,"
    " o.message_nonce AS message_nonce, o.status AS status, o.external_id AS external_id,"
    " o.overflow AS overflow"
    " FROM outbox o JOIN subscriptions sub ON sub.id = o.subscription_id"
    " JOIN items i ON i.id = o.item_id JOIN sources s ON s.id = i.source_id"
)


Row = dict[str, Any]


def rows(db: Database, sql: str, params: Sequence[object] = ()) -> list[Row]:
    """Run a query and return its rows, read by column name (on either backend)."""
    cur = db.execute(sql, tuple(params))
    names = [d[0] for d in cur.description or ()]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def _int(value: object) -> int | None:
    return value if isinstance(value, int) else None


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _alert(r: Row) -> PendingAlert:
    return PendingAlert(
        id=int(r["id"]),
        target=str(r["target"]),
        attempts=int(r["attempts"]),
        subscription_id=int(r["subscription_id"]),
        subscription_label=str(r["subscription_label"]),
        query=str(r["query"]),
        mention_role_id=_int(r["mention_role_id"]),
        item_id=int(r["item_id"]),
        title=str(r["title"]),
        text=str(r["text"]),
        link=_text(r["link"]),
        published=parse_iso(_text(r["published"])),
        action=_text(r["action"]),
        source_name=str(r["source_name"]),
        source_url=str(r["source_url"]),
        terms=tuple(json.loads(str(r["terms"]))),
        created_at=parse_iso(str(r["created_at"])) or datetime.min,
        guild_id=_int(r["guild_id"]),
        origin_channel_id=_int(r["origin_channel_id"]),
        subscription_paused=bool(r["paused"]),
        explanation=json.loads(str(r["explanation"] or "{}")),
        story_of=_int(r["story_of"]),
        message_nonce=_text(r["message_nonce"]),
    )


def _with_story(db: Database, alert: PendingAlert) -> PendingAlert:
    """Attach the story's first alert and its copies so far to an addition."""
    if alert.story_of is None:
        return alert
    found = rows(db, f"{_SELECT} WHERE o.id = ?", (alert.story_of,))
    if not found:
        return replace(alert, story_of=None)  # the first alert is gone: deliver this one as an alert
    [first] = found
    copies = rows(
        db,
        f"SELECT {seen_name(guild='sub.guild_id')} AS source_name, i.title AS title, i.link AS link"
        " FROM outbox o JOIN items i ON i.id = o.item_id JOIN sources s ON s.id = i.source_id"
        " JOIN subscriptions sub ON sub.id = o.subscription_id"
        " WHERE o.story_of = ? AND (o.status = ? OR o.id = ?) ORDER BY o.id",
        (alert.story_of, Status.SENT, alert.id),
    )
    story = Story(
        _alert(first),
        str(first["status"]),
        _text(first["external_id"]),
        tuple(StoryCopy(str(c["source_name"]), str(c["title"]), _text(c["link"])) for c in copies),
    )
    return replace(alert, story=story)


def story_message(db: Database, addition: PendingAlert) -> StoryMessage:
    """Return the message a story copy edits, as it stands now, with this copy added.

    Read when the edit is made (under the channel's lease), not when the copy came due: every
    alert posted in that message (a batch has several) and every copy added to any of them so
    far, so the edit re-renders the whole message and drops nothing shown before.
    """
    story = addition.story
    assert story is not None
    posted = []
    if story.first_external_id is not None:
        posted = rows(
            db,
            f"{_SELECT} WHERE o.target = ? AND o.external_id = ? ORDER BY o.id",
            (story.first.target, story.first_external_id),
        )
    ids = {int(r["id"]) for r in posted}
    # Copies added by earlier edits carry the message's id too: they are shown as copies, not alerts.
    alerts = [_alert(r) for r in posted if r["story_of"] not in ids]
    if story.first.id not in {a.id for a in alerts}:
        alerts = sorted([*alerts, story.first], key=lambda a: a.id)
    firsts = [a.id for a in alerts]
    marks = ",".join("?" * len(firsts))
    found = rows(
        db,
        f"SELECT o.story_of AS story_of, {seen_name(guild='sub.guild_id')} AS source_name,"
        " i.title AS title, i.link AS link"
        " FROM outbox o JOIN items i ON i.id = o.item_id JOIN sources s ON s.id = i.source_id"
        " JOIN subscriptions sub ON sub.id = o.subscription_id"
        f" WHERE o.story_of IN ({marks}) AND (o.status = ? OR o.id = ?) ORDER BY o.id",
        (*firsts, Status.SENT, addition.id),
    )
    copies: dict[int, list[StoryCopy]] = {}
    for c in found:
        copies.setdefault(int(c["story_of"]), []).append(
            StoryCopy(str(c["source_name"]), str(c["title"]), _text(c["link"]))
        )
    nonce = story.first.message_nonce
    composed = tuple(
        sorted(int(r["id"]) for r in posted if nonce is not None and r["message_nonce"] == nonce)
    )
    return StoryMessage(tuple(alerts), {k: tuple(v) for k, v in copies.items()}, composed)


def due(
    db: Database, now: datetime, limit: int = 100, *, kinds: tuple[str, ...] | None = None
) -> list[PendingAlert]:
    """Return pending alerts whose next attempt time has come, oldest first.

    Alerts of a paused subscription wait until it is resumed or its retry time has come; later
    copies of a story wait for the story's first alert.
    """
    where = (
        "o.status = ? AND o.next_attempt_at <= ?"
        " AND (sub.paused = 0 OR (sub.paused_until IS NOT NULL AND sub.paused_until <= ?))"
        # A later copy of a story waits until the story's first alert was delivered (or failed).
        " AND (o.story_of IS NULL OR NOT EXISTS"
        " (SELECT 1 FROM outbox f WHERE f.id = o.story_of AND f.status = ?))"
    )
    params: list[object] = [Status.PENDING, iso(now), iso(now), Status.PENDING]
    if kinds:
        where += " AND (" + " OR ".join("o.target = ? OR o.target LIKE ?" for _ in kinds) + ")"
        for k in kinds:
            params += [k, f"{k}:%"]
    found = rows(db, f"{_SELECT} WHERE {where} ORDER BY o.id LIMIT ?", (*params, limit))
    return [_with_story(db, _alert(r)) for r in found]


def counts(db: Database) -> dict[str, int]:
    """Return the number of alerts per status."""
    result = {Status.PENDING.value: 0, Status.SENT.value: 0, Status.FAILED.value: 0}
    found = rows(db, "SELECT status, COUNT(*) AS n FROM outbox GROUP BY status")
    result.update({str(r["status"]): int(r["n"]) for r in found})
    return result


def recent(
    db: Database, limit: int = 20, *, guild_id: int | None = None, offset: int = 0
) -> list[tuple[PendingAlert, str]]:
    """Return the latest alerts with their status, newest first (of one server when given), after `offset`."""
    where, params = "1", []
    if guild_id is not None:
        where, params = "sub.guild_id = ?", [guild_id]
    found = rows(
        db, f"{_SELECT} WHERE {where} ORDER BY o.id DESC LIMIT ? OFFSET ?", (*params, limit, max(0, offset))
    )
    return [(_alert(r), str(r["status"])) for r in found]


def with_waiting_digest(db: Database) -> dict[int, datetime]:
    """Return subscriptions that have alerts waiting for a digest, with when the oldest was enqueued."""
    found = rows(
        db,
        "SELECT subscription_id, MIN(created_at) AS oldest FROM outbox WHERE status = ?"
        " GROUP BY subscription_id ORDER BY 1",
        (Status.DIGEST,),
    )
    return {int(r["subscription_id"]): parse_iso(r["oldest"]) or datetime.min for r in found}


def digest_alerts(db: Database, sub_id: int) -> tuple[list[PendingAlert], set[int]]:
    """Return the alerts waiting for a subscription's digest, and which of them a rate cap moved there."""
    found = rows(
        db,
        f"{_SELECT} WHERE o.status = ? AND o.subscription_id = ? ORDER BY o.id",
        (Status.DIGEST, sub_id),
    )
    return [_alert(r) for r in found], {int(r["id"]) for r in found if r["overflow"]}
