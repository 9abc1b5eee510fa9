"""/settings timezone | quiet-hours | rate-limit: how and when this server's alerts are delivered."""

from __future__ import annotations

from zoneinfo import available_timezones

import discord
from discord import app_commands

from bot.chat.errors import manage_server
from bot.chat.replies import reply
from bot.services.schedules import ScheduleService
from bot.services.scope import Scope

Interaction = discord.Interaction[discord.Client]


class SettingsGroup(app_commands.Group):
    """Delivery settings of this server."""

    def __init__(self, schedules: ScheduleService) -> None:
        super().__init__(
            name="settings", description="When and how fast regwatch posts alerts", guild_only=True
        )
        self.schedules = schedules
        self._zones = sorted(available_timezones())

    @app_commands.command(name="timezone", description="Time zone of digests and quiet hours (IANA name)")
    @manage_server
    @app_commands.describe(name="e.g. Europe/Vilnius, America/New_York, UTC")
    async def timezone(self, interaction: Interaction, name: app_commands.Range[str, 1, 64]) -> None:
        """Set this server's time zone."""
        assert interaction.guild_id is not None
        canonical = await self.schedules.set_timezone(Scope.guild(interaction.guild_id), name)
        await reply(
            interaction, f"This server's time zone is now {canonical}: digests and quiet hours use it."
        )

    @timezone.autocomplete("name")
    async def zone_names(self, interaction: Interaction, current: str) -> list[app_commands.Choice[str]]:
        """Suggest IANA zone names containing what was typed."""
        typed = current.strip().casefold()
        return [app_commands.Choice(name=z, value=z) for z in self._zones if typed in z.casefold()][:25]

    @app_commands.command(
        name="quiet-hours", description="Hold alerts during quiet hours (start off: remove)"
    )
    @manage_server
    @app_commands.describe(
        start="HH:MM, e.g. 22:00 (or off to remove)",
        end="HH:MM, e.g. 07:00",
        channel="Only this channel (default: every channel of this server)",
        urgent_bypass="Bans, directives, sanctions and entity-list additions still go out (default: yes)",
    )
    async def quiet_hours(
        self,
        interaction: Interaction,
        start: app_commands.Range[str, 1, 5],
        end: app_commands.Range[str, 1, 5] | None = None,
        channel: discord.TextChannel | None = None,
        urgent_bypass: bool = True,
    ) -> None:
        """Set or remove quiet hours."""
        assert interaction.guild_id is not None
        scope = Scope.guild(interaction.guild_id)
        target = f"discord:{channel.id}" if channel is not None else "*"
        where = f"<#{channel.id}>" if channel is not None else "every channel of this server"
        hours = await self.schedules.set_quiet_hours(scope, target, start, end, urgent_bypass=urgent_bypass)
        if hours is None:
            await reply(interaction, f"Quiet hours removed for {where}.")
            return
        tz = await self.schedules.timezone(scope)
        await reply(
            interaction,
            f"Quiet hours for {where}: {hours.describe()}, {tz}. Alerts in that time wait and are "
            "delivered together when it ends.",
        )

    @app_commands.command(name="rate-limit", description="Per-channel posting rate and overflow cap")
    @manage_server
    @app_commands.describe(
        messages="Messages per window in one channel (1-5)",
        seconds="Window in seconds (1-3600)",
        overflow_cap="Alerts waiting in a channel before the rest go to the next digest (10-10000)",
    )
    async def rate_limit(
        self,
        interaction: Interaction,
        messages: app_commands.Range[int, 1, 5],
        seconds: app_commands.Range[int, 1, 3600],
        overflow_cap: app_commands.Range[int, 10, 10000] | None = None,
    ) -> None:
        """Set the per-channel rate cap."""
        assert interaction.guild_id is not None
        cap = await self.schedules.set_rate_limit(
            Scope.guild(interaction.guild_id), messages, seconds, overflow_cap
        )
        await reply(interaction, f"Rate cap for each channel: {cap.describe()}.")
