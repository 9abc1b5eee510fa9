"""What a server can set about delivery: digest schedules, mentions, time zone, quiet hours, rate caps.

Every method takes the caller's guild id and only changes that server's rows.
"""

from __future__ import annotations

from bot.domain.clock import Clock, utcnow
from bot.domain.schedule import (
    QuietHours,
    Schedule,
    ScheduleError,
    parse_mention_filter,
    parse_quiet_hours,
    parse_schedule,
    zone,
)
from bot.services.guild import UserError
from bot.storage import schedules
from bot.storage.db import AsyncDatabase
from bot.storage.schedules import RateCap


class ScheduleService:
    """The use cases of /watch schedule, /watch mention and /settings, independent of Discord."""

    def __init__(self, adb: AsyncDatabase, *, clock: Clock = utcnow) -> None:
        self._adb = adb
        self._clock = clock

    async def schedule(
        self,
        guild_id: int,
        sub_id: int,
        mode: str,
        at: str | None = None,
        day: str | None = None,
        *,
        urgent_instant: bool = True,
    ) -> tuple[Schedule, str]:
        """Set a subscription's delivery schedule; return it with the server's time zone."""
        try:
            schedule = parse_schedule(mode, at, day, urgent_instant=urgent_instant)
        except ScheduleError as exc:
            raise UserError(str(exc)) from None
        if not await self._adb.call(
            schedules.set_schedule, sub_id, schedule, self._clock(), guild_id=guild_id
        ):
            raise UserError(f"This server has no subscription {sub_id}; /watch list shows its ids.")
        return schedule, await self._adb.call(schedules.get_timezone, guild_id)

    async def mention(
        self, guild_id: int, sub_id: int, role_id: int | None, only: str | None
    ) -> tuple[str, ...]:
        """Set the role a subscription mentions and for which actions or severities; return the filter."""
        try:
            wanted = parse_mention_filter(only)
        except ScheduleError as exc:
            raise UserError(str(exc)) from None
        if not await self._adb.call(schedules.set_mention, sub_id, role_id, wanted, guild_id=guild_id):
            raise UserError(f"This server has no subscription {sub_id}; /watch list shows its ids.")
        return wanted

    async def set_timezone(self, guild_id: int, name: str) -> str:
        """Set the server's time zone; return its canonical IANA name."""
        try:
            return str(await self._adb.call(schedules.set_timezone, guild_id, str(zone(name))))
        except ScheduleError as exc:
            raise UserError(str(exc)) from None

    async def set_quiet_hours(
        self, guild_id: int, target: str, start: str, end: str | None, *, urgent_bypass: bool = True
    ) -> QuietHours | None:
        """Set quiet hours for a channel target (or '*' for all); start 'off' removes them."""
        if start.strip().casefold() == "off":
            await self._adb.call(schedules.set_quiet_hours, guild_id, target, None)
            return None
        try:
            hours = parse_quiet_hours(start, end or "", urgent_bypass=urgent_bypass)
        except ScheduleError as exc:
            raise UserError(str(exc)) from None
        await self._adb.call(schedules.set_quiet_hours, guild_id, target, hours)
        return hours

    async def timezone(self, guild_id: int) -> str:
        """Return the server's time zone name."""
        return str(await self._adb.call(schedules.get_timezone, guild_id))

    async def set_rate_limit(
        self, guild_id: int, messages: int, seconds: int, overflow_cap: int | None = None
    ) -> RateCap:
        """Set the server's per-channel rate cap (and, when given, its overflow cap)."""
        current = await self._adb.call(schedules.get_rate_cap, guild_id)
        cap = RateCap(messages, seconds, overflow_cap if overflow_cap is not None else current.overflow_cap)
        await self._adb.call(schedules.set_rate_cap, guild_id, cap)
        return cap

    async def described(self, guild_id: int) -> dict[int, str]:
        """Return the schedule in words of this server's subscriptions that are not instant."""
        subs = await self._adb.call(schedules.digest_subscriptions)
        return {s.id: s.schedule.describe() for s in subs if s.guild_id == guild_id}
