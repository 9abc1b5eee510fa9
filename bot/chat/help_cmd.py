"""/help with examples, /watch test (a sample alert, public), and the welcome on joining a server."""

from __future__ import annotations

import logging
from typing import Any, Literal

import discord
from discord import app_commands
from discord.http import Route

from bot.chat.replies import reply
from bot.delivery.discord_sink import post_guild_notice
from bot.delivery.embed import build_message
from bot.services.guild import GuildService
from bot.services.sample import sample_alert
from bot.services.triage import TriageService

log = logging.getLogger(__name__)
Interaction = discord.Interaction[discord.Client]

Topic = Literal["start", "watch", "alerts", "buttons", "settings"]
HELP: dict[str, str] = {
    "start": (
        "**regwatch** posts an alert when a regulator or the news reports an action against a vendor you"
        " depend on.\n"
        "1. `/watch vendor name:Kaspersky` — this channel gets Kaspersky's bans, fines, directives, news.\n"
        "2. `/watch test` — post a sample alert here, so everyone sees what alerts look like.\n"
        "3. `/watch list` — what this server watches; `/watch remove id:3` stops one.\n"
        "Changing what is watched needs **Manage Server**. More: `/help topic:watch`, `alerts`,"
        " `buttons`, `settings`."
    ),
    "watch": (
        "`/watch vendor name:Huawei channel:#vendor-risk mention:@security actions_only:True`\n"
        '`/watch keywords query:"emergency directive" OR "binding operational directive"`\n'
        "`/watch keywords query:vendor:Kaspersky action:ban` — only bans\n"
        "`/watch preview query:vendor:DJI days:90` — what it would have matched\n"
        "`/watch schedule id:3 mode:daily time:09:00` — a digest instead of instant alerts\n"
        "`/watch edit id:3 query:vendor:Kaspersky action:ban paused:False` — change one in place"
        " (query, channel, schedule, pause or resume)\n"
        "`/watch list` — long lists come in pages: **◀ Previous** and **Next ▶** turn them\n"
        "`/watch test` — a sample alert in this channel"
    ),
    "alerts": (
        "`/alerts recent count:25 page:2` — earlier alerts, a page at a time\n"
        "`/alerts why link:https://…` — why an item did or did not alert here\n"
        "`/alerts export days:90 format:csv` — the audit trail as a file: every alert, who acknowledged"
        " it, mutes and subscription changes, with times (needs the triage role or Manage Server)"
    ),
    "buttons": (
        "Every alert has buttons:\n"
        "**Acknowledge** — records who and when; the message then shows it.\n"
        "**Why?** — only you see why it alerted.\n"
        "**Mute <vendor> 7 days** (**Snooze 7 days** when no catalog vendor matched) — later matching"
        " alerts in this channel are recorded as muted and not posted for 7 days.\n"
        "**Open source** — the item itself.\n"
        "Acknowledge and Mute need **Manage Server** or the role set with `/settings triage-role`."
    ),
    "settings": (
        "`/settings triage-role role:@analysts` — who may acknowledge and mute besides Manage Server\n"
        "`/settings timezone name:Europe/Vilnius` — for digests and quiet hours\n"
        "`/settings quiet-hours start:22:00 end:07:00` — alerts wait (urgent ones still go out)\n"
        "`/settings rate-limit messages:5 seconds:5` — per-channel posting rate\n"
        "`/settings embed style:compact` — shorter alerts in a busy channel\n"
        "`/settings webhook enable name:Compliance Desk` — post this channel's alerts under a name and"
        " avatar of your choosing (regwatch needs Manage Webhooks)"
    ),
}

WELCOME = (
    "Thanks for adding **regwatch**: it posts an alert here when a regulator or the news reports an"
    " action (ban, sanction, directive, fine, investigation) against a vendor you depend on.\n"
    "**To start**, someone with **Manage Server** runs `/watch vendor name:<vendor>` in the channel"
    " that should get alerts, then `/watch test` to post a sample.\n"
    "**Who may do what:** members with Manage Server change what is watched; they can let a role"
    " acknowledge and mute alerts with `/settings triage-role`. Anyone can use `/watch list`,"
    " `/alerts recent` and the Why? button. `/help` shows examples."
)


def help_command() -> app_commands.Command[Any, ..., None]:
    """Return /help."""

    @app_commands.command(name="help", description="How to use regwatch, with examples")
    @app_commands.describe(topic="start (default), watch, alerts, buttons or settings")
    async def help_(interaction: Interaction, topic: Topic = "start") -> None:
        """Show examples for a topic."""
        await reply(interaction, HELP[topic])

    return help_


def watch_test_command(service: GuildService, triage: TriageService) -> app_commands.Command[Any, ..., None]:
    """Return /watch test, posting a sample alert in the channel (public)."""

    @app_commands.command(name="test", description="Post a sample alert in this channel, for everyone to see")
    async def test(interaction: Interaction) -> None:
        """Post a sample alert rendered exactly like a real one, its buttons disabled."""
        if interaction.guild_id is None or interaction.channel_id is None:
            await reply(interaction, "regwatch commands work inside a server, not in direct messages.")
            return
        roles = [r.id for r in getattr(interaction.user, "roles", [])]
        if not await triage.may_triage(interaction.guild_id, roles, interaction.permissions.manage_guild):
            await reply(interaction, "You need the triage role or **Manage Server** to post a sample alert.")
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        alert = await sample_alert(service, interaction.guild_id, interaction.channel_id, triage.now())
        payload = sample_payload(build_message(alert), interaction.user.id)
        route = Route("POST", "/channels/{channel_id}/messages", channel_id=interaction.channel_id)
        try:
            await interaction.client.http.request(route, json=payload)
        except discord.Forbidden:
            await reply(
                interaction,
                "regwatch cannot post in this channel: give it View Channel, Send Messages and Embed Links"
                " here, or alerts for this channel will wait.",
            )
            return
        except discord.HTTPException as exc:
            log.warning("sample alert refused in channel %s: %s", interaction.channel_id, exc)
            await reply(
                interaction, f"Discord refused the sample alert ({exc.status}); the error was logged."
            )
            return
        await reply(interaction, "Posted a sample alert in this channel. Real alerts look the same.")

    return test


def sample_payload(message: dict[str, Any], user_id: int) -> dict[str, Any]:
    """Turn an alert message into a sample: labelled, no nonce, no pings, its buttons disabled."""
    payload = {k: v for k, v in message.items() if k not in ("nonce", "enforce_nonce")}
    payload["content"] = f"Sample alert, posted with /watch test by <@{user_id}>: real alerts look like this."
    payload["allowed_mentions"] = {"parse": []}
    rows = []
    for row in message.get("components", []):
        buttons = []
        for button in row["components"]:
            if "custom_id" not in button:
                buttons.append(button)
                continue
            # Not an alert: its buttons are shown but cannot be pressed (no rw:<action>:<id> id).
            action = button["custom_id"].split(":")[1]
            buttons.append({**button, "custom_id": f"rw-sample:{action}", "disabled": True})
        rows.append({**row, "components": buttons})
    payload["components"] = rows
    return payload


async def welcome(client: discord.Client, guild: discord.Guild) -> None:
    """Greet a server the bot just joined: how to start, who may configure it."""
    if not await post_guild_notice(client, guild.id, WELCOME, own_markdown=True):
        log.info("joined server %d but found no channel to greet it in", guild.id)
