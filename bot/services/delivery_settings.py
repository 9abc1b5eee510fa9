"""What a scope can set about delivery: digest schedules, mentions, time zone, quiet hours, rate caps.

A server only changes its own rows; the console (guild None) changes any subscription's schedule
and its own settings (those of subscriptions made without a server).
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.domain.clock import Clock, utcnow
from bot.domain.delivery_schedule import (
    QuietHours,
    Schedule,
    parse_mention_filter,
    parse_quiet_hours,
    parse_schedule,
    zone,
)
from bot.domain.errors import UserError
from bot.services.scope import Limits, Scope
from bot.storage import delivery_settings
from bot.storage.db import AsyncDatabase
from bot.storage.delivery_settings import RateCap
from bot.storage.quiet_hours import QuietHoursRow, list_quiet_hours


@dataclass(frozen=True)
class DeliverySettings:
    """A scope's delivery settings, for showing."""

    timezone: str
    rate_cap: RateCap
    quiet_hours: list[QuietHoursRow]


class ScheduleService:
    """The use cases of schedules and delivery settings, for the CLI and the slash commands alike."""

    def __init__(self, adb: AsyncDatabase, *, clock: Clock = utcnow, limits: Limits | None = None) -> None:
        self._adb = adb
        self._clock = clock
        self.limits = limits if limits is not None else Limits()

    async def schedule(
        self,
        scope: Scope,
        sub_id: int,
        mode: str,
        at: str | None = None,
        day: str | None = None,
        *,
        urgent_instant: bool = True,
    ) -> tuple[Schedule, str]:
        """Set a subscription's delivery schedule; return it with the time zone its digests use."""
        schedule = parse_schedule(mode, at, day, urgent_instant=urgent_instant)
        if not await self._adb.call(
            delivery_settings.set_schedule, sub_id, schedule, self._clock(), guild_id=scope.guild_id
        ):
            raise _no_subscription(scope, sub_id)
        if scope.guild_id is None:
            # The console may schedule any subscription: its digests use its own server's zone.
            return schedule, (await self._adb.call(delivery_settings.digest_subscriptions, sub_id))[
                0
            ].timezone
        return schedule, await self._adb.call(delivery_settings.get_timezone, scope.guild_id)

    async def mention(
        self, scope: Scope, sub_id: int, role_id: int | None, only: str | None
    ) -> tuple[str, ...]:
        """Set the role a subscription mentions and for which actions or severities; return the filter."""
        wanted = parse_mention_filter(only)
        if not await self._adb.call(
            delivery_settings.set_mention, sub_id, role_id, wanted, guild_id=scope.guild_id
        ):
            raise _no_subscription(scope, sub_id)
        return wanted

    async def set_timezone(self, scope: Scope, name: str) -> str:
        """Set the scope's time zone; return its canonical IANA name."""
        return str(await self._adb.call(delivery_settings.set_timezone, scope.guild_id, str(zone(name))))

    async def set_quiet_hours(
        self, scope: Scope, target: str, start: str, end: str | None, *, urgent_bypass: bool = True
    ) -> QuietHours | None:
        """Set quiet hours for a target (or '*' for all); start 'off' removes them (returns None)."""
        if start.strip().casefold() == "off":
            await self._adb.call(delivery_settings.set_quiet_hours, scope.guild_id, target, None)
            return None
        hours = parse_quiet_hours(start, end or "", urgent_bypass=urgent_bypass)
        await self._adb.call(delivery_settings.set_quiet_hours, scope.guild_id, target, hours)
        return hours

    async def timezone(self, scope: Scope) -> str:
        """Return the scope's time zone name."""
        return str(await self._adb.call(delivery_settings.get_timezone, scope.guild_id))

    async def set_rate_limit(
        self, scope: Scope, messages: int, seconds: int, overflow_cap: int | None = None
    ) -> RateCap:
        """Set the scope's per-channel rate cap (and, when given, its overflow cap)."""
        most = self.limits.max_rate_messages
        if not 1 <= messages <= most or not 1 <= seconds <= 3600:
            raise UserError(f"the rate cap must be 1-{most} messages per 1-3600 seconds")
        current = await self._adb.call(delivery_settings.get_rate_cap, scope.guild_id)
        cap_value = overflow_cap if overflow_cap is not None else current.overflow_cap
        if not 10 <= cap_value <= self.limits.max_overflow_cap:
            raise UserError(f"the overflow cap must be 10-{self.limits.max_overflow_cap} alerts")
        cap = RateCap(messages, seconds, cap_value)
        await self._adb.call(delivery_settings.set_rate_cap, scope.guild_id, cap)
        return cap

    async def settings(self, scope: Scope) -> DeliverySettings:
        """Return the scope's time zone, rate cap and quiet hours."""
        return DeliverySettings(
            await self._adb.call(delivery_settings.get_timezone, scope.guild_id),
            await self._adb.call(delivery_settings.get_rate_cap, scope.guild_id),
            await self._adb.call(list_quiet_hours, scope.guild_id),
        )

    async def described(self, scope: Scope) -> dict[int, str]:
        """Return the schedule in words of the scope's subscriptions that are not instant."""
        subs = await self._adb.call(delivery_settings.digest_subscriptions)
        return {s.id: s.schedule.describe() for s in subs if scope.is_console or s.guild_id == scope.guild_id}


def _no_subscription(scope: Scope, sub_id: int) -> UserError:
    if scope.is_console:
        return UserError(f"no subscription with id {sub_id}")
    return UserError(f"This server has no subscription {sub_id}; /watch list shows its ids.")
