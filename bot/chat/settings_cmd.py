"""/settings timezone | quiet-hours | rate-limit | webhook: how and when a server's alerts are posted."""

from __future__ import annotations

from zoneinfo import available_timezones

import discord
from discord import app_commands

from bot.chat.errors import manage_server
from bot.chat.replies import reply
from bot.delivery.embed import escape
from bot.services.delivery_settings import ScheduleService
from bot.services.scope import Scope
from bot.services.webhooks import DEFAULT_NAME, WebhookService, check_profile

Interaction = discord.Interaction[discord.Client]


class SettingsGroup(app_commands.Group):
    """Delivery settings of this server."""

    def __init__(self, schedules: ScheduleService, webhooks: WebhookService | None = None) -> None:
        super().__init__(
            name="settings", description="When and how fast regwatch posts alerts", guild_only=True
        )
        self.schedules = schedules
        self._zones = sorted(available_timezones())
        if webhooks is not None:
            self.add_command(WebhookGroup(webhooks))

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


class WebhookGroup(app_commands.Group):
    """/settings webhook enable | disable: post a channel's alerts through a webhook of its own."""

    def __init__(self, service: WebhookService) -> None:
        super().__init__(name="webhook", description="Post a channel's alerts under a custom name and avatar")
        self.service = service

    @app_commands.command(name="enable", description="Post a channel's alerts through a webhook")
    @manage_server
    @app_commands.describe(
        name="The name alerts show (default: regwatch)",
        avatar_url="https:// URL of the avatar alerts show (default: the webhook's own)",
        channel="The channel (default: this one)",
    )
    async def enable(
        self,
        interaction: Interaction,
        name: app_commands.Range[str, 1, 80] = DEFAULT_NAME,
        avatar_url: app_commands.Range[str, 1, 2000] | None = None,
        channel: discord.TextChannel | None = None,
    ) -> None:
        """Create the channel's webhook (Manage Webhooks) and post its alerts through it."""
        assert interaction.guild_id is not None and interaction.channel_id is not None
        channel_id = channel.id if channel is not None else interaction.channel_id
        name, avatar = check_profile(name, avatar_url)  # UserError: the error handler answers
        await interaction.response.defer(ephemeral=True, thinking=True)
        try:
            created = await interaction.client.http.create_webhook(
                channel_id, name=name, reason=f"regwatch alerts (/settings webhook by {interaction.user.id})"
            )
        except discord.Forbidden:
            await reply(
                interaction,
                f"regwatch needs the **Manage Webhooks** permission in <#{channel_id}> to create its webhook."
                " Grant it to regwatch's role (or in the channel's permissions) and run this again; until"
                " then alerts there keep coming from the bot.",
            )
            return
        except discord.HTTPException as exc:
            await reply(interaction, f"Discord refused to create the webhook: {escape(exc.text, 300)}")
            return
        old = await self.service.enable(
            interaction.guild_id,
            channel_id,
            int(created["id"]),
            created["token"],
            name,
            avatar,
            interaction.user.id,
        )
        note = ""
        if old is not None:
            note = await _delete_webhook(interaction, old.webhook_id)
        if not _can_read_history(interaction, channel_id):
            note += (
                f"\nNote: regwatch cannot read the history of <#{channel_id}> (Read Message History). After a"
                " crash it looks there for an alert it may have posted already; without it, an alert could"
                " appear twice. Grant it to be safe."
            )
        shown = f" with the avatar at <{avatar}>" if avatar else ""
        await reply(
            interaction,
            f"Alerts in <#{channel_id}> are now posted by a webhook named **{escape(name, 80)}**{shown}."
            f" `/settings webhook disable` goes back to posting as the bot.{note}",
        )

    @app_commands.command(name="disable", description="Post a channel's alerts as the bot again")
    @manage_server
    @app_commands.describe(channel="The channel (default: this one)")
    async def disable(self, interaction: Interaction, channel: discord.TextChannel | None = None) -> None:
        """Stop using the channel's webhook and delete it."""
        assert interaction.guild_id is not None and interaction.channel_id is not None
        channel_id = channel.id if channel is not None else interaction.channel_id
        old = await self.service.disable(interaction.guild_id, channel_id, interaction.user.id)
        if old is None:
            await reply(interaction, f"Alerts in <#{channel_id}> are already posted by the bot.")
            return
        note = await _delete_webhook(interaction, old.webhook_id)
        await reply(interaction, f"Alerts in <#{channel_id}> are posted by the bot again.{note}")


async def _delete_webhook(interaction: Interaction, webhook_id: int) -> str:
    """Delete a webhook regwatch made; return a note for the reply when it could not."""
    route = discord.http.Route("DELETE", "/webhooks/{webhook_id}", webhook_id=webhook_id)
    try:
        await interaction.client.http.request(route, reason="regwatch no longer posts through it")
    except discord.NotFound:
        return ""  # already deleted in Discord
    except discord.HTTPException:
        return (
            "\nregwatch could not delete its old webhook (it needs Manage Webhooks); remove it in the"
            " channel's settings under Integrations."
        )
    return ""


def _can_read_history(interaction: Interaction, channel_id: int) -> bool:
    """Tell whether regwatch may read a channel's history (True when it cannot tell)."""
    if channel_id == interaction.channel_id:
        return interaction.app_permissions.read_message_history
    guild = interaction.guild
    found = guild.get_channel(channel_id) if guild is not None else None
    if guild is None or found is None or guild.me is None:
        return True
    return found.permissions_for(guild.me).read_message_history
