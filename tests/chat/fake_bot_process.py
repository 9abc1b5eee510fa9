"""A tiny discord.py bot that the fake Discord's tests run as a separate process.

It posts one alert with a fixed nonce when ready and answers /ping. With FAKE_DIE_AFTER_SEND set
it kills itself right after Discord accepted the post, before it could record anything: the
crash window that nonce + enforce_nonce exists for.
"""

from __future__ import annotations

import os
import signal

import discord
import yarl
from discord import app_commands


class ProcessBot(discord.Client):
    """Post the alert on ready; answer /ping."""

    def __init__(self) -> None:
        super().__init__(intents=discord.Intents.default(), guild_ready_timeout=0.01)
        self.tree = app_commands.CommandTree(self)
        self.guild = discord.Object(int(os.environ["FAKE_GUILD_ID"]))

        @self.tree.command(name="ping", description="Answer from another process", guild=self.guild)
        async def ping(interaction: discord.Interaction) -> None:
            await interaction.response.send_message(f"pong from pid {os.getpid()}", ephemeral=True)

    async def setup_hook(self) -> None:
        """Sync /ping to the test guild."""
        await self.tree.sync(guild=self.guild)

    async def on_ready(self) -> None:
        """Post the alert, then crash if asked to."""
        channel = self.get_channel(int(os.environ["FAKE_CHANNEL_ID"]))
        assert isinstance(channel, discord.TextChannel)
        await channel.send(embed=discord.Embed(title="Alert"), nonce=os.environ["FAKE_NONCE"])
        if os.environ.get("FAKE_DIE_AFTER_SEND"):
            os.kill(os.getpid(), signal.SIGKILL)


def main() -> None:
    """Point discord.py at the fake, as the app does with its settings, and run."""
    discord.http.Route.BASE = os.environ["FAKE_API_BASE"]
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(os.environ["FAKE_GATEWAY_URL"])
    ProcessBot().run(os.environ["FAKE_TOKEN"], log_handler=None)


if __name__ == "__main__":
    main()
