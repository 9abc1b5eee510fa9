"""/alerts recent | why | export."""

from __future__ import annotations

import io
from datetime import timedelta
from typing import Literal

import discord
from discord import app_commands

from bot.chat.paging import Page, send_page
from bot.chat.replies import REPLY_MAX, linked, reply
from bot.delivery.embed import discord_len, escape
from bot.services.guild import GuildService
from bot.services.triage import TriageService, to_csv, to_json
from bot.storage.outbox import PendingAlert

Interaction = discord.Interaction[discord.Client]


def _line(alert: PendingAlert, status: str, title_max: int, *, linked_title: bool) -> str:
    channel = alert.target.split(":")[-1]
    if title_max <= 0:
        title = ""
    else:
        title = linked(alert.title, alert.link, title_max) if linked_title else escape(alert.title, title_max)
    return f"`{alert.id}` {status} <#{channel}> {title} (subscription {alert.subscription_id})"


class AlertsGroup(app_commands.Group):
    """What regwatch sent to this server, and why."""

    def __init__(self, service: GuildService, triage: TriageService | None = None) -> None:
        super().__init__(name="alerts", description="Alerts sent to this server", guild_only=True)
        self.service = service
        self.triage = triage

    @app_commands.command(name="recent", description="This server's latest alerts")
    @app_commands.describe(count="How many per page (1-25, default 10)", page="Page 2 shows the ones before")
    async def recent(
        self,
        interaction: Interaction,
        count: app_commands.Range[int, 1, 25] = 10,
        page: app_commands.Range[int, 1, 10_000] = 1,
    ) -> None:
        """List the latest alerts with their delivery state, a page at a time with buttons."""
        await send_page(interaction, "alerts", await self.draw(interaction, "alerts", page, count), count)

    async def draw(self, interaction: Interaction, kind: str, page: int, arg: int) -> Page:
        """Return page `page` of this server's latest alerts, `arg` a page (the buttons call it too)."""
        assert interaction.guild_id is not None
        count = max(1, min(arg, 25))
        rows = await self.service.recent_alerts(interaction.guild_id, count, page)
        if not rows:
            return Page("No alerts yet for this server." if page == 1 else f"No page {page}.", page, False)
        more = len(rows) == count and bool(
            await self.service.recent_alerts(interaction.guild_id, count, page + 1)
        )
        footer = f"Older: /alerts recent count:{count} page:{page + 1}" if more else ""
        budget = REPLY_MAX - len(footer) - 1
        lines = [_line(a, status, 100, linked_title=True) for a, status in rows]
        if sum(discord_len(line) + 1 for line in lines) > budget:
            # A full page must fit one message: shorter titles, no links (/alerts why takes the link).
            room = max(
                20, budget // len(rows) - max(len(_line(a, s, 0, linked_title=False)) for a, s in rows)
            )
            lines = [_line(a, status, room, linked_title=False) for a, status in rows]
        return Page("\n".join([*lines, footer] if footer else lines), page, more)

    @app_commands.command(name="why", description="Why an item did or did not alert here")
    @app_commands.describe(link="The item's link")
    async def why(self, interaction: Interaction, link: app_commands.Range[str, 1, 2000]) -> None:
        """Explain an alert or a missing one."""
        assert interaction.guild_id is not None
        explanation = await self.service.why(interaction.guild_id, link)
        await reply(interaction, "\n".join(explanation.lines))

    @app_commands.command(
        name="export", description="The audit trail as a file (alerts, acks, mutes, changes)"
    )
    @app_commands.describe(days="How many days back (default 30)", format="csv (default) or json")
    async def export(
        self,
        interaction: Interaction,
        days: app_commands.Range[int, 1, 3650] = 30,
        format: Literal["csv", "json"] = "csv",
    ) -> None:
        """Attach this server's audit trail (who acknowledged, muted, changed what, and when)."""
        assert interaction.guild_id is not None
        if self.triage is None:
            await reply(interaction, "Exports are not available in this process.")
            return
        roles = [r.id for r in getattr(interaction.user, "roles", [])]
        if not await self.triage.may_triage(
            interaction.guild_id, roles, interaction.permissions.manage_guild
        ):
            await reply(
                interaction, "You need the triage role or **Manage Server** to export the audit trail."
            )
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        since = self.triage.now() - timedelta(days=days)
        rows = await self.triage.export(interaction.guild_id, since)
        data = (to_csv(rows) if format == "csv" else to_json(rows)).encode("utf-8")
        if len(data) > interaction.filesize_limit:
            await interaction.followup.send(
                f"The export of {len(rows)} events is larger than Discord accepts here"
                f" ({len(data) // 1_000_000} MB); ask for fewer days, or run"
                " `regwatch alerts export --since DATE` on the server.",
                ephemeral=True,
            )
            return
        name = f"regwatch-audit-{interaction.guild_id}-{days}d.{format}"
        await interaction.followup.send(
            f"{len(rows)} events of the last {days} days.",
            file=discord.File(io.BytesIO(data), filename=name),
            ephemeral=True,
        )

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
