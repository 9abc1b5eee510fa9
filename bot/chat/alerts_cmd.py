"""/alerts recent | why."""

from __future__ import annotations

import discord
from discord import app_commands

from bot.chat.replies import linked, reply
from bot.services.guild import GuildService

Interaction = discord.Interaction[discord.Client]


class AlertsGroup(app_commands.Group):
    """What regwatch sent to this server, and why."""

    def __init__(self, service: GuildService) -> None:
        super().__init__(name="alerts", description="Alerts sent to this server", guild_only=True)
        self.service = service

    @app_commands.command(name="recent", description="This server's latest alerts")
    @app_commands.describe(count="How many (1-25, default 10)")
    async def recent(self, interaction: Interaction, count: app_commands.Range[int, 1, 25] = 10) -> None:
        """List the latest alerts with their delivery state."""
        assert interaction.guild_id is not None
        rows = await self.service.recent_alerts(interaction.guild_id, count)
        if not rows:
            await reply(interaction, "No alerts yet for this server.")
            return
        lines = [
            f"`{a.id}` {status} <#{a.target.split(':')[-1]}> {linked(a.title, a.link, 100)}"
            f" (subscription {a.subscription_id})"
            for a, status in rows
        ]
        await reply(interaction, "\n".join(lines))

    @app_commands.command(name="why", description="Why an item did or did not alert here")
    @app_commands.describe(link="The item's link")
    async def why(self, interaction: Interaction, link: app_commands.Range[str, 1, 2000]) -> None:
        """Explain an alert or a missing one."""
        assert interaction.guild_id is not None
        explanation = await self.service.why(interaction.guild_id, link)
        await reply(interaction, "\n".join(explanation.lines))

    @why.autocomplete("link")
    async def recent_links(self, interaction: Interaction, current: str) -> list[app_commands.Choice[str]]:
        """Suggest the links of this server's recent alerts (Discord takes values up to 100 characters)."""
        if interaction.guild_id is None:
            return []
        typed = current.strip().casefold()
        rows = await self.service.recent_alerts(interaction.guild_id, 25)
        choices: dict[str, app_commands.Choice[str]] = {}
        for alert, _status in rows:
            link = alert.link or ""
            if not link or len(link) > 100 or link in choices:
                continue
            if typed and typed not in link.casefold() and typed not in (alert.title or "").casefold():
                continue
            choices[link] = app_commands.Choice(name=(alert.title or link)[:100], value=link)
        return list(choices.values())[:25]
