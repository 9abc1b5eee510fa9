"""Triage of alerts: acknowledgements, mutes, the triage role, and the audit log with its export.

`audit_log` is the trail an auditor reads: each alert's outcome (sent, failed, muted: the outbox
logs it in the transaction that sets it, with the item's title and link, so it outlives retention
and a removed subscription), who acknowledged it, mutes, and subscription changes (triggers see every change,
whichever front end made it; a slash command then names who removed one).

A mute holds back, for good, the alerts of one channel that match it (a vendor, or one
subscription) while it lasts: `apply_mutes` gives them the status 'muted' (kept for the audit
trail and /alerts why, never sent). Alerts already sent are not touched.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlite_utils import Database

from bot.domain.clock import iso, parse_iso
from bot.storage import outbox


@dataclass(frozen=True, slots=True)
class Ack:
    """Who acknowledged an alert, and when."""

    alert_id: int
    user_id: int
    user_name: str
    at: datetime


@dataclass(frozen=True, slots=True)
class Mute:
    """Alerts of one channel matching a vendor (or one subscription) are held back until `until`."""

    id: int
    guild_id: int | None
    target: str
    kind: str  # vendor | subscription
    key: str
    until: datetime
    created_by: str


@dataclass(frozen=True, slots=True)
class AlertRef:
    """What a button needs to know about the alert it sits under."""

    id: int
    guild_id: int | None
    target: str
    subscription_id: int
    status: str
    external_id: str | None
    terms: tuple[str, ...]
    link: str | None
    title: str


def audit(
    db: Database,
    now: datetime,
    event: str,
    *,
    guild_id: int | None,
    actor: str | None,
    alert_id: int | None = None,
    subscription_id: int | None = None,
    target: str | None = None,
    detail: str = "",
) -> None:
    """Append one event to the audit log."""
    db.execute(
        "INSERT INTO audit_log (at, guild_id, actor, event, alert_id, subscription_id, target, detail)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (iso(now), guild_id, actor, event, alert_id, subscription_id, target, detail),
    )


def name_remover(db: Database, subscription_id: int, actor: str) -> None:
    """Name who removed a subscription on the row its delete trigger wrote."""
    db.execute(
        "UPDATE audit_log SET actor = ? WHERE id = (SELECT MAX(id) FROM audit_log"
        " WHERE event = 'subscription.removed' AND subscription_id = ? AND actor IS NULL)",
        (actor, subscription_id),
    )


def alert_ref(db: Database, alert_id: int) -> AlertRef | None:
    """Return the alert a button names, or None."""
    row = db.execute(
        "SELECT o.id, sub.guild_id, o.target, o.subscription_id, o.status, o.external_id, o.terms,"
        " i.link, i.title FROM outbox o JOIN subscriptions sub ON sub.id = o.subscription_id"
        " JOIN items i ON i.id = o.item_id WHERE o.id = ?",
        (alert_id,),
    ).fetchone()
    if row is None:
        return None
    return AlertRef(
        row[0], row[1], row[2], row[3], row[4], row[5], tuple(json.loads(row[6] or "[]")), row[7], row[8]
    )


def message_alerts(db: Database, alert_id: int) -> list[AlertRef]:
    """Return every alert posted in the same message as this one (a batch), the alert itself first."""
    first = alert_ref(db, alert_id)
    if first is None:
        return []
    if first.external_id is None:
        return [first]
    ids = db.execute(
        "SELECT id FROM outbox WHERE target = ? AND external_id = ? AND id != ? ORDER BY id",
        (first.target, first.external_id, alert_id),
    ).fetchall()
    return [first, *(ref for (i,) in ids if (ref := alert_ref(db, i)) is not None)]


def acknowledge(
    db: Database, alert_ids: Sequence[int], user_id: int, user_name: str, now: datetime, guild_id: int | None
) -> list[int]:
    """Record an acknowledgement of these alerts (the first one stands); return the ids newly acknowledged."""
    done: list[int] = []
    with db.atomic():
        for alert_id in alert_ids:
            cur = db.execute(
                "INSERT INTO alert_acks (alert_id, user_id, user_name, at) VALUES (?, ?, ?, ?)"
                " ON CONFLICT DO NOTHING",
                (alert_id, user_id, user_name[:100], iso(now)),
            )
            if cur.rowcount:
                done.append(alert_id)
                target = db.execute("SELECT target FROM outbox WHERE id = ?", (alert_id,)).fetchone()
                audit(
                    db,
                    now,
                    "alert.acknowledged",
                    guild_id=guild_id,
                    actor=f"discord:{user_id}",
                    alert_id=alert_id,
                    target=target[0] if target else None,
                    detail=user_name[:100],
                )
    return done


def get_ack(db: Database, alert_id: int) -> Ack | None:
    """Return who acknowledged an alert, or None."""
    row = db.execute(
        "SELECT alert_id, user_id, user_name, at FROM alert_acks WHERE alert_id = ?", (alert_id,)
    ).fetchone()
    return Ack(row[0], row[1], row[2], parse_iso(row[3]) or datetime.min) if row else None


def add_mute(
    db: Database,
    guild_id: int | None,
    target: str,
    kind: str,
    key: str,
    until: datetime,
    actor: str,
    now: datetime,
    alert_id: int | None = None,
) -> Mute:
    """Mute a vendor (or a subscription) in one channel until `until`; an active same mute is extended."""
    with db.atomic():
        row = db.execute(
            "SELECT id FROM mutes WHERE target = ? AND kind = ? AND key = ? AND until > ?",
            (target, kind, key, iso(now)),
        ).fetchone()
        if row is not None:
            db.execute(
                "UPDATE mutes SET until = ?, created_by = ?, created_at = ? WHERE id = ?",
                (iso(until), actor, iso(now), row[0]),
            )
            mute_id = row[0]
        else:
            cur = db.execute(
                "INSERT INTO mutes (guild_id, target, kind, key, until, created_by, created_at, alert_id)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                (guild_id, target, kind, key, iso(until), actor, iso(now), alert_id),
            )
            mute_id = cur.fetchone()[0]
        audit(
            db,
            now,
            "mute.added",
            guild_id=guild_id,
            actor=actor,
            alert_id=alert_id,
            target=target,
            detail=f"{kind} {key} until {iso(until)}",
        )
    return Mute(int(mute_id or 0), guild_id, target, kind, key, until, actor)


def active_mutes(db: Database, now: datetime, *, guild_id: int | None = None) -> list[Mute]:
    """Return the mutes in force now (of one server when given)."""
    where, params = "until > ?", list[object]([iso(now)])
    if guild_id is not None:
        where += " AND guild_id = ?"
        params.append(guild_id)
    rows = db.execute(
        f"SELECT id, guild_id, target, kind, key, until, created_by FROM mutes WHERE {where} ORDER BY id",
        params,
    ).fetchall()
    return [Mute(r[0], r[1], r[2], r[3], r[4], parse_iso(r[5]) or now, r[6]) for r in rows]


def apply_mutes(db: Database, now: datetime, vendor_of: Callable[[tuple[str, ...]], str | None]) -> int:
    """Give waiting alerts (pending, held, digest) that an active mute covers the status 'muted'."""
    mutes = active_mutes(db, now)
    if not mutes:
        return 0
    by_target: dict[str, list[Mute]] = {}
    for mute in mutes:
        by_target.setdefault(mute.target, []).append(mute)
    marks = ",".join("?" for _ in by_target)
    rows = db.execute(
        "SELECT id, target, subscription_id, terms FROM outbox"
        f" WHERE status IN ('pending', 'held', 'digest') AND target IN ({marks})",
        list(by_target),
    ).fetchall()
    muted: list[int] = []
    for alert_id, target, sub_id, terms in rows:
        vendor: str | None = None
        for mute in by_target[target]:
            if mute.kind == "subscription" and mute.key == str(sub_id):
                muted.append(alert_id)
                break
            if mute.kind == "vendor":
                vendor = vendor or vendor_of(tuple(json.loads(terms or "[]")))
                if vendor == mute.key:
                    muted.append(alert_id)
                    break
    if muted:
        outbox.mark_muted(db, muted)
    return len(muted)


def triage_role(db: Database, guild_id: int) -> int | None:
    """Return the role (besides Manage Server) allowed to acknowledge and mute alerts, if set."""
    row = db.execute("SELECT triage_role_id FROM guild_settings WHERE guild_id = ?", (guild_id,)).fetchone()
    return row[0] if row else None


def set_triage_role(db: Database, guild_id: int, role_id: int | None, actor: str, now: datetime) -> None:
    """Set (or clear) the triage role of a server."""
    with db.atomic():
        db.execute("INSERT INTO guild_settings (guild_id) VALUES (?) ON CONFLICT DO NOTHING", (guild_id,))
        db.execute("UPDATE guild_settings SET triage_role_id = ? WHERE guild_id = ?", (role_id, guild_id))
        audit(db, now, "settings.triage_role", guild_id=guild_id, actor=actor, detail=str(role_id or ""))


EMBED_STYLES = ("full", "compact")


def embed_style(db: Database, target: str) -> str:
    """Return a channel's embed style: 'full' (the default) or 'compact'."""
    row = db.execute("SELECT embed_style FROM channel_settings WHERE target = ?", (target,)).fetchone()
    return str(row[0]) if row else "full"


def set_embed_style(
    db: Database, guild_id: int | None, target: str, style: str, actor: str, now: datetime
) -> None:
    """Set a channel's embed style."""
    if style not in EMBED_STYLES:
        raise ValueError(f"unknown embed style {style!r}")
    with db.atomic():
        db.execute(
            "INSERT INTO channel_settings (target, guild_id, embed_style) VALUES (?, ?, ?)"
            " ON CONFLICT(target) DO UPDATE SET embed_style = excluded.embed_style",
            (target, guild_id, style),
        )
        audit(db, now, "settings.embed_style", guild_id=guild_id, actor=actor, target=target, detail=style)


EXPORT_FIELDS = (
    "at",
    "event",
    "guild_id",
    "channel_id",
    "actor",
    "alert_id",
    "subscription_id",
    "title",
    "link",
    "acknowledged_by",
    "acknowledged_at",
    "detail",
)


def _channel(target: str | None) -> str:
    return target.split(":", 1)[1] if target and target.startswith("discord:") else (target or "")


def export_rows(
    db: Database, since: datetime | None = None, *, guild_id: int | None = None, limit: int = 100_000
) -> list[dict[str, str | int | None]]:
    """Return the audit log as one timeline, oldest first (of one server when given).

    Alerts appear as alert.sent / alert.failed / alert.muted with their title, link and matched
    terms, and (for sent ones) who acknowledged them; then acknowledgements, mutes and
    subscription changes, each with who and when.
    """
    where: list[str] = ["TRUE"]
    params: list[object] = []
    if since is not None:
        where.append("e.at >= ?")
        params.append(iso(since))
    if guild_id is not None:
        where.append("e.guild_id = ?")
        params.append(guild_id)
    rows = db.execute(
        "SELECT e.at, e.event, e.guild_id, e.target, e.actor, e.alert_id, e.subscription_id, e.title, e.link,"
        " a.user_id, a.user_name, a.at, e.detail FROM audit_log e"
        " LEFT JOIN alert_acks a ON a.alert_id = e.alert_id AND e.event = 'alert.sent'"
        f" WHERE {' AND '.join(where)} ORDER BY e.at, e.id LIMIT ?",
        (*params, limit),
    ).fetchall()
    return [
        {
            "at": r[0],
            "event": r[1],
            "guild_id": r[2],
            "channel_id": _channel(r[3]),
            "actor": r[4],
            "alert_id": r[5],
            "subscription_id": r[6],
            "title": r[7],
            "link": r[8],
            "acknowledged_by": f"{r[10]} (discord:{r[9]})" if r[9] is not None else None,
            "acknowledged_at": r[11],
            "detail": r[12],
        }
        for r in rows
    ]
