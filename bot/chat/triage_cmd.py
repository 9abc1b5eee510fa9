"""/settings triage-role (who may acknowledge and mute alerts) and /settings embed (full or compact)."""

from __future__ import annotations

from typing import Literal

import discord
from discord import app_commands

from bot.chat.errors import manage_server
from bot.chat.replies import reply
from bot.services.triage import TriageService

Interaction = discord.Interaction[discord.Client]


def triage_role_command(service: TriageService) -> app_commands.Command[app_commands.Group, ..., None]:
    """Return the /settings triage-role command, bound to the triage service."""

    @app_commands.command(
        name="triage-role", description="The role that may acknowledge and mute alerts (omit to clear)"
    )
    @manage_server
    @app_commands.describe(role="Members with this role may press Acknowledge and Mute on alerts")
    async def triage_role(interaction: Interaction, role: discord.Role | None = None) -> None:
        """Set or clear the triage role."""
        assert interaction.guild_id is not None
        await service.set_triage_role(interaction.guild_id, role.id if role else None, interaction.user.id)
        if role is None:
            await reply(interaction, "Only members with Manage Server may acknowledge and mute alerts now.")
            return
        await reply(
            interaction,
            f"Members with <@&{role.id}> (and anyone with Manage Server) may acknowledge and mute alerts.",
        )

    return triage_role


def embed_style_command(service: TriageService) -> app_commands.Command[app_commands.Group, ..., None]:
    """Return the /settings embed command: full or compact alert embeds, per channel."""

    @app_commands.command(name="embed", description="Full or compact alert embeds in a channel")
    @manage_server
    @app_commands.describe(
        style="full: excerpt, fields and subscription; compact: title, short excerpt, key fields",
        channel="The channel (default: this one)",
    )
    async def embed(
        interaction: Interaction,
        style: Literal["full", "compact"],
        channel: discord.TextChannel | None = None,
    ) -> None:
        """Set a channel's embed style."""
        assert interaction.guild_id is not None and interaction.channel_id is not None
        channel_id = channel.id if channel is not None else interaction.channel_id
        await service.set_embed_style(interaction.guild_id, channel_id, style, interaction.user.id)
        await reply(interaction, f"Alerts in <#{channel_id}> now use {style} embeds.")

    return embed
