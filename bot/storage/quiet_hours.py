"""Reading a server's quiet hours for display (they are set in bot/storage/delivery_settings.py)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlite_utils import Database

from bot.storage.delivery_settings import scope


@dataclass(frozen=True)
class QuietHoursRow:
    """One target's quiet hours as stored: HH:MM start and end, and whether urgent actions still go out."""

    target: str
    start: str
    end: str
    urgent_bypass: bool


def list_quiet_hours(db: Database, guild_id: int | None) -> list[QuietHoursRow]:
    """Return the quiet hours of a server (None: the console's), by target."""
    rows = db.execute(
        "SELECT target, start, end, urgent_bypass FROM quiet_hours WHERE guild_id = ? ORDER BY target",
        (scope(guild_id),),
    ).fetchall()
    return [QuietHoursRow(t, s, e, bool(b)) for t, s, e, b in rows]
