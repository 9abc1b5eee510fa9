"""Delivery schedules, per-server delivery settings (time zone, rate cap) and quiet hours.

These are the rows the outbox reads to decide when an alert goes out (bot/storage/outbox:
enqueue holds an alert they may delay, the planner releases it); this module writes no alert.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time

from sqlite_utils import Database

from bot.domain.clock import iso, parse_iso
from bot.domain.delivery_schedule import QuietHours, Schedule, parse_hhmm, zone

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
        start_period(db, sub_id, now)
    return True


def start_period(db: Database, sub_id: int, now: datetime) -> None:
    """Start a subscription's next digest period at `now`."""
    db.execute(
        "INSERT INTO digest_state (subscription_id, last_digest_at) VALUES (?, ?)"
        " ON CONFLICT(subscription_id) DO UPDATE SET last_digest_at = excluded.last_digest_at",
        (sub_id, iso(now)),
    )


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


def caps_by_scope(db: Database) -> dict[int, RateCap]:
    """Return every server's rate cap that differs from the defaults."""
    return {
        r[0]: RateCap(r[1] or DEFAULT_RATE_LIMIT, r[2] or DEFAULT_RATE_WINDOW, r[3] or DEFAULT_OVERFLOW_CAP)
        for r in db.execute(
            "SELECT guild_id, rate_limit, rate_window, overflow_cap FROM guild_settings"
        ).fetchall()
    }
