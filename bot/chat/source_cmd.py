"""/source add | remove | list | status."""

from __future__ import annotations

from datetime import datetime

import discord
from discord import app_commands

from bot.chat.errors import manage_server
from bot.chat.paging import Page, page_of, send_page
from bot.chat.replies import reply, url_text
from bot.delivery.embed import escape
from bot.services.guild import GuildService
from bot.storage.sources import Source

Interaction = discord.Interaction[discord.Client]


def _health(source: Source) -> str:
    # The health text carries the source's last error, written by whoever runs its server.
    return source.health_text(_discord_time, show=lambda error: escape(error, 300))


def _discord_time(stamp: datetime | None) -> str:
    # Discord shows <t:…> in each reader's own time zone and language, and "3 hours ago" for :R.
    if stamp is None:
        return "?"
    seconds = int(stamp.timestamp())
    return f"<t:{seconds}:f> (<t:{seconds}:R>)"


class SourceGroup(app_commands.Group):
    """Manage the feeds this server watches."""

    def __init__(self, service: GuildService) -> None:
        super().__init__(name="source", description="Feeds this server watches", guild_only=True)
        self.service = service

    @app_commands.command(
        name="add",
        description="Watch a source for this server: a feed, CISA KEV, CSAF ROLIE or Federal Register",
        extras={"error_prefix": "Could not add that source: "},
    )
    @manage_server
    @app_commands.describe(url="Feed URL", name="Display name", interval_minutes="Minutes between polls")
    async def add(
        self,
        interaction: Interaction,
        url: app_commands.Range[str, 1, 2000],
        name: app_commands.Range[str, 1, 100] | None = None,
        interval_minutes: app_commands.Range[int, 1, 10080] | None = None,
    ) -> None:
        """Check and add a feed."""
        assert interaction.guild_id is not None
        await interaction.response.defer(ephemeral=True, thinking=True)
        source, detail = await self.service.add_source(interaction.guild_id, url, name, interval_minutes)
        await reply(
            interaction,
            f"Watching **{escape(source.name, 100)}** (source {source.id}): {detail} "
            "Its first poll records the current items; alerts come for new ones.",
        )

    @app_commands.command(name="remove", description="Stop watching one of this server's own sources")
    @manage_server
    @app_commands.describe(id="Source id (see /source list)")
    async def remove(self, interaction: Interaction, id: int) -> None:
        """Remove a source this server added."""
        assert interaction.guild_id is not None
        source = await self.service.remove_source(interaction.guild_id, id)
        await reply(interaction, f"Removed source {id} ({escape(source.name, 100)}).")

    @remove.autocomplete("id")
    async def own_source_ids(self, interaction: Interaction, current: str) -> list[app_commands.Choice[int]]:
        """Suggest this server's own sources only (the shared catalog cannot be removed here)."""
        if interaction.guild_id is None:
            return []
        typed = str(current).strip().casefold()
        rows = await self.service.visible_sources(interaction.guild_id)
        return [
            app_commands.Choice(name=f"{s.id}: {s.name}"[:100], value=s.id)
            for s in rows
            if s.guild_id == interaction.guild_id
            and (not typed or typed in str(s.id) or typed in s.name.casefold() or typed in s.url.casefold())
        ][:25]

    @app_commands.command(name="list", description="Shared catalog sources and this server's own")
    @app_commands.describe(page="Page of a long list (default 1)")
    async def list_(self, interaction: Interaction, page: app_commands.Range[int, 1, 1000] = 1) -> None:
        """List the sources this server's subscriptions see, a page at a time with buttons."""
        await send_page(interaction, "sources", await self.draw(interaction, "sources", page, 0))

    @app_commands.command(name="status", description="Health of every source this server sees")
    @app_commands.describe(page="Page of a long list (default 1)")
    async def status(self, interaction: Interaction, page: app_commands.Range[int, 1, 1000] = 1) -> None:
        """Show each source's health in plain words, a page at a time with buttons."""
        await send_page(interaction, "status", await self.draw(interaction, "status", page, 0))

    async def draw(self, interaction: Interaction, kind: str, page: int, arg: int) -> Page:
        """Return a page of /source list (kind "sources") or /source status (the buttons call it too)."""
        assert interaction.guild_id is not None
        rows = await self.service.visible_sources(interaction.guild_id)
        if kind == "sources":
            lines = [
                f"`{s.id}` {escape(s.name, 100)} — {url_text(s.url)}"
                + (" (this server)" if s.guild_id == interaction.guild_id else "")
                for s in rows
            ]
            return page_of(lines, page, "/source list") if lines else Page("No sources.", 1, False)
        failing = sum(1 for s in rows if s.failures)
        lines = [f"`{s.id}` {escape(s.name, 100)}: {_health(s)}" for s in rows]
        head = f"{len(rows)} sources, {failing} failing."
        return page_of(lines, page, "/source status", head)
