"""The planner of held alerts and the overflow spill: the moves that schedules and rate caps make.

An alert that a schedule or quiet hours may delay is enqueued HELD (bot/storage/outbox/enqueue.py).
plan_held() then makes it PENDING (with next_attempt_at at the end of quiet hours when it must
wait) or DIGEST (it goes out with its subscription's next digest).

Every worker plans at each drain, without a lease: the moves are idempotent under concurrency.
Each UPDATE names the status it moves from (`held`; for a spill `pending` and not yet composed
into a message), so a planner that read a row before another process moved it (planned, sent,
muted, composed) changes nothing: on PostgreSQL the UPDATE waits for the other's row lock and
re-checks its WHERE on the committed row. Two planners deciding the same held alert decide alike
(the decision depends on the row and the settings only).
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlite_utils import Database

from bot.domain.clock import iso, parse_iso
from bot.domain.delivery_schedule import QuietHours, is_urgent, zone
from bot.storage.delivery_settings import DEFAULT_OVERFLOW_CAP, get_timezone, quiet_hours_of, scope
from bot.storage.outbox.read import rows
from bot.storage.outbox.status import Status


def plan_held(db: Database, now: datetime) -> int:
    """Decide every held alert: to its digest, pending now, or pending at the end of quiet hours.

    Each alert is judged at the time it was enqueued, so planning late (after a restart) decides
    the same way. Returns how many alerts were planned.
    """
    held = rows(
        db,
        "SELECT o.id, o.target, o.created_at, i.action, s.delivery_mode, s.urgent_instant, s.guild_id"
        " FROM outbox o JOIN subscriptions s ON s.id = o.subscription_id JOIN items i ON i.id = o.item_id"
        " WHERE o.status = ? ORDER BY o.id",
        (Status.HELD,),
    )
    if not held:
        return 0
    zones: dict[int, ZoneInfo] = {}
    quiet: dict[tuple[int, str], QuietHours | None] = {}
    with db.atomic():
        for r in held:
            urgent = is_urgent(r["action"])
            if r["delivery_mode"] != "instant" and not (urgent and r["urgent_instant"]):
                db.execute(
                    "UPDATE outbox SET status = ? WHERE id = ? AND status = ?",
                    (Status.DIGEST, r["id"], Status.HELD),
                )
                continue
            guild_id, target = r["guild_id"], r["target"]
            key = (scope(guild_id), target)
            if key not in quiet:
                quiet[key] = quiet_hours_of(db, guild_id, target)
            hours = quiet[key]
            created = parse_iso(r["created_at"])
            deliver_at = created or now
            if hours is not None and not (urgent and hours.urgent_bypass):
                if scope(guild_id) not in zones:
                    zones[scope(guild_id)] = _zone_or_utc(get_timezone(db, guild_id))
                deliver_at = hours.release_time(zones[scope(guild_id)], deliver_at) or deliver_at
            db.execute(
                "UPDATE outbox SET status = ?, next_attempt_at = ? WHERE id = ? AND status = ?",
                (Status.PENDING, iso(max(deliver_at, created or deliver_at)), r["id"], Status.HELD),
            )
    return len(held)


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
    waiting = rows(
        db,
        "SELECT o.target AS target, COALESCE(s.guild_id, 0) AS scope, COUNT(*) AS n FROM outbox o"
        " JOIN subscriptions s ON s.id = o.subscription_id"
        " WHERE o.status = ? AND o.next_attempt_at <= ? AND o.target LIKE 'discord:%'"
        " GROUP BY o.target, COALESCE(s.guild_id, 0)",
        (Status.PENDING, iso(now)),
    )
    for w in waiting:
        cap = caps.get(w["scope"], DEFAULT_OVERFLOW_CAP)
        if w["n"] <= cap:
            continue
        due = rows(
            db,
            "SELECT o.id, i.action FROM outbox o JOIN items i ON i.id = o.item_id"
            " WHERE o.status = ? AND o.next_attempt_at <= ? AND o.target = ? ORDER BY o.id",
            (Status.PENDING, iso(now), w["target"]),
        )
        # The oldest `cap` alerts go out at once; later ones wait for a digest, urgent ones excepted.
        extra = [r["id"] for r in due[cap:] if not is_urgent(r["action"])]
        moved = 0
        with db.atomic():
            for start in range(0, len(extra), 500):
                chunk = extra[start : start + 500]
                # Only alerts still pending and not yet composed into a message (whose holder may be
                # posting it now): a row another process moved since it was read stays as it is.
                cur = db.execute(
                    "UPDATE outbox SET status = ?, overflow = 1 WHERE status = ? AND message_nonce IS NULL"
                    f" AND id IN ({','.join('?' * len(chunk))})",
                    (Status.DIGEST, Status.PENDING, *chunk),
                )
                moved += max(0, cur.rowcount)
        if moved:
            spilled[w["target"]] = moved
    return spilled
