"""Notices to operators about sources: failing too long, silent too long, working again.

A notice is raised once per episode (`sources.notice` holds the episode's kind) and written as
one row per target, in the same transaction: `console` always, and `guild:<id>` for every
Discord server that uses the source (the servers that added it, each told with its own id and
name for it; for a shared source also every server with a subscription). The text is plain:
each medium sanitizes it when it shows it (the source's error comes from its server). Rows stay
until delivered, like alerts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial

from sqlite_utils import Database

from bot.domain.clock import iso
from bot.storage import leases
from bot.storage.sources import Source, guild_view, list_sources, owners


@dataclass(frozen=True, slots=True)
class Notice:
    """One notice for one target."""

    id: int
    source_id: int | None
    target: str  # "console" | "guild:<id>"
    text: str
    attempts: int


# Builds a notice's text from the source as the target sees it; True for the console.
TextOf = Callable[[Source, bool], str]


def _add(db: Database, source: Source, text_of: TextOf, now: datetime) -> int:
    """Write one notice per target: the console, the servers that added the source (each with its
    own id and name for it), and for a shared source every other server with a subscription."""
    rows = [(source.id, "console", text_of(source, True), iso(now))]
    mine = [o.guild_id for o in owners(db, source.id)]
    for guild in mine:
        view = guild_view(db, source.id, guild)
        if view is not None:
            rows.append((source.id, f"guild:{guild}", text_of(view, False), iso(now)))
    if source.shared:
        others = db.execute(
            "SELECT DISTINCT guild_id FROM subscriptions WHERE guild_id IS NOT NULL ORDER BY guild_id"
        ).fetchall()
        rows += [
            (source.id, f"guild:{g[0]}", text_of(source, False), iso(now)) for g in others if g[0] not in mine
        ]
    db.conn.executemany("INSERT INTO notices (source_id, target, text, created_at) VALUES (?, ?, ?, ?)", rows)
    return len(rows)


def _check_hint(source: Source, console: bool) -> str:
    if console:
        return f"check it with `regwatch sources check {source.id}` or /source status"
    return "check it with /source status"


def _works_again_text(source: Source, console: bool) -> str:
    return f"Source {source.id} ({source.name}) works again: its last poll succeeded."


def _failing_text(source: Source, console: bool, *, cap: timedelta) -> str:
    since = source.failing_since.strftime("%Y-%m-%d %H:%M") if source.failing_since else "?"
    hours = max(1, int(cap.total_seconds() // 3600))
    return (
        f"Source {source.id} ({source.name}) has been failing since {since} UTC, {source.failures}"
        f" poll{'' if source.failures == 1 else 's'} in a row: {source.last_error}. regwatch keeps"
        f" retrying (at least every {hours} h) and will say when it works again;"
        f" {_check_hint(source, console)}."
    )


def _silent_text(source: Source, console: bool, *, period: timedelta) -> str:
    last = source.last_new_item_at or source.created_at
    since = last.strftime("%Y-%m-%d %H:%M") if last else "?"
    days = period.total_seconds() / 86400
    span = f"{days:g} days" if days >= 1 else f"{period.total_seconds() / 3600:g} hours"
    return (
        f"Source {source.id} ({source.name}) answers but has had no new items since {since} UTC (more than"
        f" {span}, longer than it usually goes quiet). Its address may have moved or its page changed;"
        f" {_check_hint(source, console)}."
    )


def _silent_period(source: Source, default: timedelta | None) -> timedelta | None:
    hours = source.options.get("expected_period_hours")
    if isinstance(hours, int | float) and not isinstance(hours, bool) and hours > 0:
        return timedelta(hours=float(hours))
    return default


def raise_due(
    db: Database,
    now: datetime,
    *,
    failing_after: timedelta,
    silent_after: timedelta | None,
    retry_cap: timedelta,
) -> int:
    """Raise the notices that are due and close episodes that ended; return notices written."""
    written = 0
    with db.atomic():
        for source in list_sources(db, enabled_only=True):
            if source.notice == "failing" and not source.failures:
                written += _add(
                    db,
                    source,
                    lambda s, _: f"Source {s.id} ({s.name}) works again: its last poll succeeded.",
                    now,
                )
                _set(db, source.id, None, None)
            elif source.notice == "silent" and (
                source.failures
                or (
                    source.last_new_item_at
                    and source.notice_at
                    and source.last_new_item_at > source.notice_at
                )
            ):
                _set(db, source.id, None, None)  # news again (or failing now: that has its own notice)
            elif source.notice is None and source.failures and source.failing_since is not None:
                if source.failing_since <= now - failing_after:
                    written += _add(db, source, partial(_failing_text, cap=retry_cap), now)
                    _set(db, source.id, "failing", now)
            elif source.notice is None and not source.failures and source.last_ok_at is not None:
                period = _silent_period(source, silent_after)
                last = source.last_new_item_at or source.created_at
                if period is not None and last is not None and last <= now - period:
                    written += _add(db, source, partial(_silent_text, period=period), now)
                    _set(db, source.id, "silent", now)
    return written


def _set(db: Database, source_id: int, notice: str | None, now: datetime | None) -> None:
    db.execute(
        "UPDATE sources SET notice = ?, notice_at = ? WHERE id = ?",
        (notice, iso(now) if now else None, source_id),
    )


def pending(
    db: Database, limit: int = 100, *, kinds: tuple[str, ...] = ("console", "guild"), after: int = 0
) -> list[Notice]:
    """Return undelivered notices to targets of these kinds (`console`, `guild`) after an id, oldest first."""
    where = " OR ".join("target = 'console'" if k == "console" else "target LIKE ?" for k in kinds) or "FALSE"
    params = [f"{k}:%" for k in kinds if k != "console"]
    rows = db.execute(
        "SELECT id, source_id, target, text, attempts FROM notices"
        f" WHERE sent_at IS NULL AND id > ? AND ({where}) ORDER BY id LIMIT ?",
        (after, *params, limit),
    ).fetchall()
    return [Notice(*row) for row in rows]


def claim(db: Database, notice_id: int, owner: str, seconds: float, now: datetime) -> str | None:
    """Take a notice to post it (several gateways): the claim's token, or None if taken or sent already.

    The claim is a lease (kind `notice`, key the notice's id): another gateway neither takes it
    while it is held nor, once it is sent, posts it again (read again under the lease).
    """
    with db.atomic():
        token = leases.acquire(db, "notice", str(notice_id), owner, seconds, now=now)
        if token is None:
            return None
        row = db.execute("SELECT sent_at FROM notices WHERE id = ?", (notice_id,)).fetchone()
        if row is not None and row[0] is None:
            return token
        leases.release(db, token)
        return None


def mark_sent(db: Database, notice_id: int, now: datetime, *, claim: str | None = None) -> bool:
    """Record a delivered notice (with a claim: only while it is held); tell whether it was recorded."""
    with db.atomic():
        if claim is not None and not leases.holds(db, claim, now=now):
            return False
        cur = db.execute(
            "UPDATE notices SET sent_at = ? WHERE id = ? AND sent_at IS NULL", (iso(now), notice_id)
        )
        if claim is not None:
            leases.release(db, claim)
        return bool(cur.rowcount)


def release(db: Database, claim: str) -> None:
    """Give a notice's claim up without recording it sent (it is tried again later)."""
    leases.release(db, claim)


def mark_attempt(db: Database, notice_id: int) -> int:
    """Count a failed delivery attempt; return the attempts so far."""
    db.execute("UPDATE notices SET attempts = attempts + 1 WHERE id = ?", (notice_id,))
    row = db.execute("SELECT attempts FROM notices WHERE id = ?", (notice_id,)).fetchone()
    return int(row[0]) if row else 0
