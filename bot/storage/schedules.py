"""Delivery schedules, per-server delivery settings, quiet hours, and the planner of held alerts.

An alert that a schedule or quiet hours may delay is enqueued with status 'held' (a trigger does
that in the enqueueing transaction). plan_held() then makes it 'pending' (with next_attempt_at at
the end of quiet hours when it must wait) or 'digest' (it goes out with its subscription's next digest).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time
from zoneinfo import ZoneInfo

from sqlite_utils import Database

from bot.domain.clock import iso, parse_iso
from bot.domain.schedule import QuietHours, Schedule, is_urgent, parse_hhmm, zone
from bot.storage import outbox
from bot.storage.outbox import PendingAlert

# Discord allows about five messages per five seconds in a channel.
DEFAULT_RATE_LIMIT = 5
DEFAULT_RATE_WINDOW = 5
DEFAULT_OVERFLOW_CAP = 500


@dataclass(frozen=True, slots=True)
class RateCap:
    """How fast a channel may be posted to, and how many alerts may wait before the rest go to a digest."""

    limit: int = DEFAULT_RATE_LIMIT
    window: int = DEFAULT_RATE_WINDOW
    overflow_cap: int = DEFAULT_OVERFLOW_CAP

    def describe(self) -> str:
        """Return e.g. '5 messages per 5 s; over 500 waiting alerts go to the next digest'."""
        return (
            f"{self.limit} messages per {self.window} s; beyond {self.overflow_cap} waiting alerts"
            " the rest go to the next digest"
        )


@dataclass(frozen=True, slots=True)
class DigestSubscription:
    """A subscription whose alerts go out in digests, with where its last period ended."""

    id: int
    label: str
    target: str
    guild_id: int | None
    schedule: Schedule
    timezone: str
    last_digest_at: datetime | None
    created_at: datetime
    mention_role_id: int | None
    mention_only: tuple[str, ...]


def scope(guild_id: int | None) -> int:
    """Return the settings row of a server; 0 for subscriptions made without one."""
    return guild_id or 0


def _schedule(mode: str, at: str | None, day: int | None, urgent: int) -> Schedule:
    return Schedule(mode, parse_hhmm(at) if at else None, day, bool(urgent))


def _at_text(at: time | None) -> str | None:
    return f"{at:%H:%M}" if at else None


# --- schedules -------------------------------------------------------------------------------


def get_schedule(db: Database, sub_id: int) -> tuple[Schedule, tuple[str, ...]] | None:
    """Return a subscription's schedule and its mention filter, or None when it does not exist."""
    row = db.execute(
        "SELECT delivery_mode, digest_time, digest_day, urgent_instant, mention_only FROM subscriptions"
        " WHERE id = ?",
        (sub_id,),
    ).fetchone()
    if row is None:
        return None
    return _schedule(row[0], row[1], row[2], row[3]), tuple(w for w in row[4].split(",") if w)


def set_schedule(
    db: Database, sub_id: int, schedule: Schedule, now: datetime, *, guild_id: int | None = None
) -> bool:
    """Give a subscription (of guild_id when given) a schedule; its first period starts now.

    Alerts already waiting for a digest stay there when it becomes instant: the next
    `digest run` (or the hourly overflow digest) sends them.
    """
    where, params = "id = ?", [sub_id]
    if guild_id is not None:
        where, params = "id = ? AND guild_id = ?", [sub_id, guild_id]
    with db.atomic():
        cur = db.execute(
            "UPDATE subscriptions SET delivery_mode = ?, digest_time = ?, digest_day = ?, urgent_instant = ?"
            f" WHERE {where}",
            (schedule.mode, _at_text(schedule.at), schedule.day, int(schedule.urgent_instant), *params),
        )
        if cur.rowcount == 0:
            return False
        db.execute(
            "INSERT INTO digest_state (subscription_id, last_digest_at) VALUES (?, ?)"
            " ON CONFLICT(subscription_id) DO UPDATE SET last_digest_at = excluded.last_digest_at",
            (sub_id, iso(now)),
        )
    return True


def set_mention(
    db: Database, sub_id: int, role_id: int | None, only: tuple[str, ...], *, guild_id: int | None = None
) -> bool:
    """Set the role a subscription mentions, and for which action types or severities (empty: all)."""
    where, params = "id = ?", [sub_id]
    if guild_id is not None:
        where, params = "id = ? AND guild_id = ?", [sub_id, guild_id]
    with db.atomic():
        cur = db.execute(
            f"UPDATE subscriptions SET mention_role_id = ?, mention_only = ? WHERE {where}",
            (role_id, ",".join(only), *params),
        )
    return cur.rowcount > 0


def mention_filters(db: Database, sub_ids: set[int]) -> dict[int, tuple[str, ...]]:
    """Return the mention filter of each subscription (empty tuple: mention on every alert)."""
    found: dict[int, tuple[str, ...]] = {}
    for sub_id, text in db.execute("SELECT id, mention_only FROM subscriptions").fetchall():
        if sub_id in sub_ids:
            found[sub_id] = tuple(w for w in text.split(",") if w)
    return found


def digest_subscriptions(db: Database, sub_id: int | None = None) -> list[DigestSubscription]:
    """Return subscriptions in a digest mode (or the one asked for, whatever its mode)."""
    where = "s.delivery_mode != 'instant'" if sub_id is None else "s.id = ?"
    cur = db.execute(
        "SELECT s.id, COALESCE(s.name, '#' || s.id), s.target, s.guild_id, s.delivery_mode, s.digest_time,"
        " s.digest_day, s.urgent_instant, COALESCE(g.timezone, 'UTC'), d.last_digest_at, s.created_at,"
        " s.mention_role_id, s.mention_only"
        " FROM subscriptions s LEFT JOIN digest_state d ON d.subscription_id = s.id"
        " LEFT JOIN guild_settings g ON g.guild_id = COALESCE(s.guild_id, 0)"
        f" WHERE {where} ORDER BY s.id",
        () if sub_id is None else (sub_id,),
    )
    return [
        DigestSubscription(
            id=r[0],
            label=r[1],
            target=r[2],
            guild_id=r[3],
            schedule=_schedule(r[4], r[5], r[6], r[7]),
            timezone=r[8],
            last_digest_at=parse_iso(r[9]),
            created_at=parse_iso(r[10]) or datetime.min,
            mention_role_id=r[11],
            mention_only=tuple(w for w in r[12].split(",") if w),
        )
        for r in cur.fetchall()
    ]


def with_waiting_digest(db: Database) -> dict[int, datetime]:
    """Return subscriptions that have alerts waiting for a digest, with when the oldest was enqueued."""
    cur = db.execute(
        "SELECT subscription_id, MIN(created_at) FROM outbox WHERE status = 'digest'"
        " GROUP BY subscription_id ORDER BY 1"
    )
    return {r[0]: parse_iso(r[1]) or datetime.min for r in cur.fetchall()}


def digest_alerts(db: Database, sub_id: int) -> tuple[list[PendingAlert], set[int]]:
    """Return the alerts waiting for a subscription's digest, and which of them a rate cap moved there."""
    cur = db.execute(
        f"{outbox._SELECT} WHERE o.status = 'digest' AND o.subscription_id = ? ORDER BY o.id", (sub_id,)
    )
    alerts = [outbox._alert(r) for r in cur.fetchall()]
    spilled = db.execute(
        "SELECT id FROM outbox WHERE status = 'digest' AND subscription_id = ? AND overflow = 1", (sub_id,)
    ).fetchall()
    return alerts, {r[0] for r in spilled}


def finish_digest(
    db: Database, sub_id: int, alert_ids: list[int], now: datetime, external_id: str | None
) -> None:
    """Mark a digest's alerts sent and start the subscription's next period, in one transaction."""
    with db.atomic():
        for start in range(0, len(alert_ids), 500):
            chunk = alert_ids[start : start + 500]
            db.execute(
                f"UPDATE outbox SET status = 'sent', sent_at = ?, attempts = attempts + 1, external_id = ?,"
                f" last_error = NULL WHERE id IN ({','.join('?' * len(chunk))})",
                (iso(now), external_id, *chunk),
            )
        db.execute(
            "INSERT INTO digest_state (subscription_id, last_digest_at) VALUES (?, ?)"
            " ON CONFLICT(subscription_id) DO UPDATE SET last_digest_at = excluded.last_digest_at",
            (sub_id, iso(now)),
        )


# --- per-server settings ----------------------------------------------------------------------


def _ensure(db: Database, guild_id: int | None) -> None:
    db.execute("INSERT OR IGNORE INTO guild_settings (guild_id) VALUES (?)", (scope(guild_id),))


def get_timezone(db: Database, guild_id: int | None) -> str:
    """Return a server's IANA time zone name (UTC unless set)."""
    row = db.execute("SELECT timezone FROM guild_settings WHERE guild_id = ?", (scope(guild_id),)).fetchone()
    return str(row[0]) if row else "UTC"


def set_timezone(db: Database, guild_id: int | None, name: str) -> str:
    """Set a server's time zone (validated); return its canonical name."""
    name = str(zone(name))
    with db.atomic():
        _ensure(db, guild_id)
        db.execute("UPDATE guild_settings SET timezone = ? WHERE guild_id = ?", (name, scope(guild_id)))
        # Digests are rebuilt when subscriptions change: tell the running service.
        db.execute("UPDATE meta SET value = value + 1 WHERE key = 'subscriptions_version'")
    return name


def get_rate_cap(db: Database, guild_id: int | None) -> RateCap:
    """Return a server's per-channel rate cap (the defaults unless set)."""
    row = db.execute(
        "SELECT rate_limit, rate_window, overflow_cap FROM guild_settings WHERE guild_id = ?",
        (scope(guild_id),),
    ).fetchone()
    if row is None:
        return RateCap()
    return RateCap(
        row[0] or DEFAULT_RATE_LIMIT, row[1] or DEFAULT_RATE_WINDOW, row[2] or DEFAULT_OVERFLOW_CAP
    )


def set_rate_cap(db: Database, guild_id: int | None, cap: RateCap) -> None:
    """Set a server's per-channel rate cap."""
    with db.atomic():
        _ensure(db, guild_id)
        db.execute(
            "UPDATE guild_settings SET rate_limit = ?, rate_window = ?, overflow_cap = ? WHERE guild_id = ?",
            (cap.limit, cap.window, cap.overflow_cap, scope(guild_id)),
        )


def set_quiet_hours(db: Database, guild_id: int | None, target: str, hours: QuietHours | None) -> None:
    """Set (or with None clear) quiet hours of a channel target, or of every channel with target '*'."""
    with db.atomic():
        if hours is None:
            db.execute("DELETE FROM quiet_hours WHERE guild_id = ? AND target = ?", (scope(guild_id), target))
            return
        db.execute(
            "INSERT INTO quiet_hours (guild_id, target, start, end, urgent_bypass) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT(guild_id, target) DO UPDATE SET start = excluded.start, end = excluded.end,"
            " urgent_bypass = excluded.urgent_bypass",
            (scope(guild_id), target, f"{hours.start:%H:%M}", f"{hours.end:%H:%M}", int(hours.urgent_bypass)),
        )


def quiet_hours_of(db: Database, guild_id: int | None, target: str) -> QuietHours | None:
    """Return the quiet hours that apply to a target: its own, else its server's '*' ones."""
    rows = dict(
        (r[0], QuietHours(parse_hhmm(r[1]), parse_hhmm(r[2]), bool(r[3])))
        for r in db.execute(
            "SELECT target, start, end, urgent_bypass FROM quiet_hours"
            " WHERE guild_id = ? AND target IN (?, '*')",
            (scope(guild_id), target),
        ).fetchall()
    )
    return rows.get(target) or rows.get("*")


# --- the planner ------------------------------------------------------------------------------


def plan_held(db: Database, now: datetime) -> int:
    """Decide every held alert: to its digest, pending now, or pending at the end of quiet hours.

    Each alert is judged at the time it was enqueued, so planning late (after a restart) decides
    the same way. Returns how many alerts were planned.
    """
    rows = db.execute(
        "SELECT o.id, o.target, o.created_at, i.action, s.delivery_mode, s.urgent_instant, s.guild_id"
        " FROM outbox o JOIN subscriptions s ON s.id = o.subscription_id JOIN items i ON i.id = o.item_id"
        " WHERE o.status = 'held' ORDER BY o.id"
    ).fetchall()
    if not rows:
        return 0
    zones: dict[int, ZoneInfo] = {}
    quiet: dict[tuple[int, str], QuietHours | None] = {}
    with db.atomic():
        for alert_id, target, created, action, mode, urgent_instant, guild_id in rows:
            urgent = is_urgent(action)
            if mode != "instant" and not (urgent and urgent_instant):
                db.execute("UPDATE outbox SET status = 'digest' WHERE id = ?", (alert_id,))
                continue
            key = (scope(guild_id), target)
            if key not in quiet:
                quiet[key] = quiet_hours_of(db, guild_id, target)
            hours = quiet[key]
            deliver_at = parse_iso(created) or now
            if hours is not None and not (urgent and hours.urgent_bypass):
                if scope(guild_id) not in zones:
                    zones[scope(guild_id)] = _zone_or_utc(get_timezone(db, guild_id))
                deliver_at = hours.release_time(zones[scope(guild_id)], deliver_at) or deliver_at
            db.execute(
                "UPDATE outbox SET status = 'pending', next_attempt_at = ? WHERE id = ?",
                (iso(max(deliver_at, parse_iso(created) or deliver_at)), alert_id),
            )
    return len(rows)


def _zone_or_utc(name: str) -> ZoneInfo:
    try:
        return zone(name)
    except Exception:
        return ZoneInfo("UTC")


def spill_overflow(db: Database, now: datetime, caps: dict[int, int]) -> dict[str, int]:
    """Move instant alerts beyond a channel's overflow cap to their subscription's next digest.

    `caps` maps a settings scope (server id, 0 for none) to its cap; urgent actions never spill.
    Returns how many alerts each target spilled.
    """
    spilled: dict[str, int] = {}
    counts = db.execute(
        "SELECT o.target, COALESCE(s.guild_id, 0), COUNT(*) FROM outbox o"
        " JOIN subscriptions s ON s.id = o.subscription_id"
        " WHERE o.status = 'pending' AND o.next_attempt_at <= ? AND o.target LIKE 'discord:%'"
        " GROUP BY o.target, COALESCE(s.guild_id, 0)",
        (iso(now),),
    ).fetchall()
    for target, guild, count in counts:
        cap = caps.get(guild, DEFAULT_OVERFLOW_CAP)
        if count <= cap:
            continue
        rows = db.execute(
            "SELECT o.id, i.action FROM outbox o JOIN items i ON i.id = o.item_id"
            " WHERE o.status = 'pending' AND o.next_attempt_at <= ? AND o.target = ? ORDER BY o.id",
            (iso(now), target),
        ).fetchall()
        # The oldest `cap` alerts go out at once; later ones wait for a digest, urgent ones excepted.
        extra = [alert_id for alert_id, action in rows[cap:] if not is_urgent(action)]
        with db.atomic():
            for start in range(0, len(extra), 500):
                chunk = extra[start : start + 500]
                db.execute(
                    "UPDATE outbox SET status = 'digest', overflow = 1"
                    f" WHERE id IN ({','.join('?' * len(chunk))})",
                    chunk,
                )
        if extra:
            spilled[target] = len(extra)
    return spilled


def caps_by_scope(db: Database) -> dict[int, RateCap]:
    """Return every server's rate cap that differs from the defaults."""
    return {
        r[0]: RateCap(r[1] or DEFAULT_RATE_LIMIT, r[2] or DEFAULT_RATE_WINDOW, r[3] or DEFAULT_OVERFLOW_CAP)
        for r in db.execute(
            "SELECT guild_id, rate_limit, rate_window, overflow_cap FROM guild_settings"
        ).fetchall()
    }


def defer(db: Database, alert_ids: list[int], when: datetime) -> None:
    """Move alerts' next attempt to `when` without counting an attempt (a rate cap is full)."""
    with db.atomic():
        for start in range(0, len(alert_ids), 500):
            chunk = alert_ids[start : start + 500]
            db.execute(
                f"UPDATE outbox SET next_attempt_at = ? WHERE id IN ({','.join('?' * len(chunk))})",
                (iso(when), *chunk),
            )


def mark_all_sent(db: Database, alert_ids: list[int], now: datetime, external_id: str | None) -> None:
    """Mark the alerts of one message delivered, in one transaction."""
    with db.atomic():
        for alert_id in alert_ids:
            outbox.mark_sent(db, alert_id, now, external_id)
