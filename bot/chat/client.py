"""The discord.py client: registers the slash commands, syncs them, and reports readiness."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import aiohttp
import discord
import yarl
from discord import app_commands

from bot.chat.alert_buttons import AlertButton
from bot.chat.alerts_cmd import AlertsGroup
from bot.chat.errors import error_reply
from bot.chat.help_cmd import help_command, watch_test_command, welcome
from bot.chat.paging import PageButton
from bot.chat.replies import reply
from bot.chat.settings_cmd import SettingsGroup
from bot.chat.source_cmd import SourceGroup
from bot.chat.triage_cmd import embed_style_command, triage_role_command
from bot.chat.watch_cmd import WatchGroup
from bot.services.delivery_settings import ScheduleService
from bot.services.guild import GuildService
from bot.services.triage import TriageService
from bot.services.webhooks import WebhookService

log = logging.getLogger(__name__)


def point_at(api_base: str, gateway_url: str) -> None:
    """Send discord.py's REST calls and gateway connection to the given URLs (a proxy or a test server)."""
    # discord.py has no option for these; both are class attributes read at call time.
    discord.http.Route.BASE = api_base.rstrip("/")
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway_url)


class RegwatchBot(discord.Client):
    """The Discord client: no privileged intents, slash commands only."""

    def __init__(
        self,
        service: GuildService,
        *,
        dev_guild_id: int | None = None,
        guild_ready_timeout: float = 2.0,
        http_trace: aiohttp.TraceConfig | None = None,
        schedules: ScheduleService | None = None,
        triage: TriageService | None = None,
        webhooks: WebhookService | None = None,
        shards: dict[str, Any] | None = None,
    ) -> None:
        # regwatch never joins voice: spare operators discord.py's warnings about voice libraries.
        discord.VoiceClient.warn_nacl = discord.VoiceClient.warn_dave = False
        intents = discord.Intents.none()
        intents.guilds = True
        # discord.py wants the trace absent rather than None.
        options: dict[str, Any] = {} if http_trace is None else {"http_trace": http_trace}
        options.update(shards or {})  # shard_count, shard_ids: ShardedRegwatchBot's
        super().__init__(
            intents=intents,
            guild_ready_timeout=guild_ready_timeout,
            chunk_guilds_at_startup=False,
            allowed_mentions=discord.AllowedMentions.none(),
            **options,
        )
        self.service = service
        self.schedules = schedules
        self.triage = triage
        self.webhooks = webhooks
        self.dev_guild_id = dev_guild_id
        self.tree = app_commands.CommandTree(self)
        self.tree.error(self._on_command_error)
        self.ready = asyncio.Event()
        self.connection_task: asyncio.Task[None] | None = None

    async def setup_hook(self) -> None:
        """Register the command groups and sync them (to the dev server at once, else globally)."""
        watch = WatchGroup(self.service, self.schedules)
        if self.triage is not None:
            watch.add_command(watch_test_command(self.service, self.triage))
        self.tree.add_command(help_command())
        groups: list[app_commands.Group] = [
            watch,
            SourceGroup(self.service),
            AlertsGroup(self.service, self.triage),
        ]
        if self.schedules is not None:
            settings = SettingsGroup(self.schedules, self.webhooks)
            # Every /settings command is for admins: Discord hides the group from other members
            # (a server can still grant it to them; each command re-checks Manage Server itself).
            settings.default_permissions = discord.Permissions(manage_guild=True)
            if self.triage is not None:
                settings.add_command(triage_role_command(self.triage))
                settings.add_command(embed_style_command(self.triage))
            groups.append(settings)
        for group in groups:
            self.tree.add_command(group)
        # Alert and list buttons answer by custom id, whatever message (and process) they came from.
        self.add_dynamic_items(AlertButton, PageButton)
        if self.dev_guild_id:
            guild = discord.Object(id=self.dev_guild_id)
            self.tree.copy_global_to(guild=guild)
            synced = await self.tree.sync(guild=guild)
        else:
            synced = await self.tree.sync()
        log.info("synced %d slash commands%s", len(synced), " to the dev server" if self.dev_guild_id else "")

    async def on_ready(self) -> None:
        """Note that the gateway session is up."""
        log.info("connected to Discord as %s in %d servers", self.user, len(self.guilds))
        self.ready.set()

    async def on_guild_join(self, guild: discord.Guild) -> None:
        """Welcome a server that just added regwatch: how to start and who may configure it."""
        log.info("joined server %d", guild.id)
        await welcome(self, guild)

    async def _on_command_error(
        self, interaction: discord.Interaction[discord.Client], error: app_commands.AppCommandError
    ) -> None:
        """Answer every command's error in one place: in plain words, or with an apology when it is ours."""
        text = error_reply(interaction, error)
        if text is None:
            log.error("slash command %s failed", interaction.command and interaction.command.qualified_name,
                      exc_info=error)  # fmt: skip
            text = "Something went wrong on regwatch's side; the error was logged. Please try again."
        await reply(interaction, text)


class ShardedRegwatchBot(RegwatchBot, discord.AutoShardedClient):
    """RegwatchBot on discord.py's AutoShardedClient: a range of the bot's shards in this process.

    `shards={"shard_count": N, "shard_ids": [...]}` (REGWATCH_DISCORD_SHARD_COUNT and _SHARD_IDS);
    several gateway processes each take their own range (docs/scaling.md).
    """
