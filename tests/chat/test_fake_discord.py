"""Prove the fake Discord against the real, unmodified discord.py client."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import discord
import pytest
from discord import app_commands
from discord.ext import commands

from tests.fakediscord import CommandUnavailable, FakeDiscord, OptionError, Permission
from tests.fakediscord.harness import discord_hooks_exist, running

VENDORS = ["Kaspersky", "Kape Technologies", "Huawei", "Hikvision", "ZTE"]
MESSAGES = r"^/channels/\d+/messages$"
REPO = Path(__file__).resolve().parents[2]
PROCESS_TIMEOUT = 20.0  # a cold interpreter importing discord.py on a loaded CI box


def watch_group() -> app_commands.Group:
    """Build a /watch group shaped like regwatch's (Manage Server by default, like the contract)."""
    watch = app_commands.Group(
        name="watch",
        description="Subscribe channels to alerts",
        guild_only=True,
        default_permissions=discord.Permissions(manage_guild=True),
    )

    @watch.command(name="vendor", description="Watch a vendor")
    @app_commands.describe(
        name="Vendor", channel="Where alerts go", mention="Role to ping", actions_only="Only actions"
    )
    async def vendor(
        interaction: discord.Interaction,
        name: str,
        channel: discord.TextChannel | None = None,
        mention: discord.Role | None = None,
        actions_only: bool = False,
    ) -> None:
        if not interaction.permissions.manage_guild:
            await interaction.response.send_message("You need the Manage Server permission.", ephemeral=True)
            return
        target = channel or interaction.channel
        assert isinstance(target, discord.TextChannel)
        extra = f", pinging @{mention.name}" if mention else ""
        only = " (actions only)" if actions_only else ""
        await interaction.response.send_message(
            f"Watching {name} in #{target.name}{extra}{only}.", ephemeral=True
        )

    @vendor.autocomplete("name")
    async def vendor_names(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        return [app_commands.Choice(name=v, value=v) for v in VENDORS if current.lower() in v.lower()]

    @watch.command(name="list", description="List this server's subscriptions")
    async def list_subscriptions(interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        await interaction.followup.send("No subscriptions yet.")

    return watch


@app_commands.command(name="ping", description="Answer in the channel")
async def ping(interaction: discord.Interaction) -> None:
    """Reply visibly, so the reply is a channel message."""
    await interaction.response.send_message("pong")


class WatchBot(commands.Bot):
    """A small bot with the command shapes regwatch will have; records errors instead of logging them."""

    def __init__(self, guild_id: int) -> None:
        intents = discord.Intents.default()
        intents.members = True  # exercises REQUEST_GUILD_MEMBERS → GUILD_MEMBERS_CHUNK at startup
        super().__init__(command_prefix=commands.when_mentioned, intents=intents, guild_ready_timeout=0.01)
        self.guild_id = guild_id
        self.errors: list[BaseException] = []
        self.tree.error(self._record_error)

    async def setup_hook(self) -> None:
        """Sync the commands to the test guild, as a dev-guild setting would."""
        guild = discord.Object(self.guild_id)
        self.tree.add_command(watch_group(), guild=guild)
        self.tree.add_command(ping, guild=guild)
        await self.tree.sync(guild=guild)

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        """Skip the default 5 s pause before a re-IDENTIFY (it guards Discord's identify rate limit)."""

    async def _record_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        self.errors.append(error)


@pytest.fixture
async def bot(discord_at_fake: FakeDiscord) -> AsyncIterator[WatchBot]:
    """Yield a logged-in, ready WatchBot connected to the fake."""
    client = WatchBot(discord_at_fake.guild.id)
    async with running(client, discord_at_fake):
        await discord_at_fake.wait_ready()
        yield client
    assert not client.errors


def text_channel(bot: WatchBot, fake: FakeDiscord, channel_id: int | None = None) -> discord.TextChannel:
    """Return the bot's cached text channel (the default one unless told)."""
    channel = bot.get_channel(channel_id or fake.channel.id)
    assert isinstance(channel, discord.TextChannel)
    return channel


def test_discord_py_hooks_still_exist() -> None:
    """Guard: a discord.py upgrade that renames Route.BASE or DEFAULT_GATEWAY must fail here, loudly."""
    assert discord_hooks_exist()


async def test_login_ready_and_guild_create_fill_the_cache(
    bot: WatchBot, discord_at_fake: FakeDiscord
) -> None:
    fake = discord_at_fake
    guild = bot.get_guild(fake.guild.id)
    assert guild is not None and guild.name == fake.guild.name
    assert text_channel(bot, fake).name == "general"
    assert guild.system_channel is not None and guild.system_channel.id == fake.channel.id
    admin = guild.get_member(fake.admin.user.id)
    assert admin is not None and admin.guild_permissions.manage_guild
    member = guild.get_member(fake.member.user.id)
    assert member is not None and not member.guild_permissions.manage_guild
    assert bot.user is not None and bot.user.id == fake.bot_user_id
    assert bot.application_id == fake.application_id
    me = fake.requests("GET", r"^/users/@me$")[0]
    assert me.headers["Authorization"] == f"Bot {fake.token}"
    assert "discord.py" in me.headers["User-Agent"]
    assert fake.gateway.identifies[0]["intents"] == bot.intents.value


async def test_wrong_token_is_login_failure(discord_at_fake: FakeDiscord) -> None:
    client = discord.Client(intents=discord.Intents.none())
    with pytest.raises(discord.LoginFailure):
        await client.login("not-the-token")
    await client.close()


async def test_sync_stores_commands_with_stable_ids(bot: WatchBot, discord_at_fake: FakeDiscord) -> None:
    fake = discord_at_fake
    stored = {c["name"]: c for c in fake.commands.in_scope(fake.guild.id)}
    assert set(stored) == {"watch", "ping"}
    assert stored["watch"]["default_member_permissions"] == str(Permission.MANAGE_GUILD.value)
    fetched = await bot.tree.fetch_commands(guild=discord.Object(fake.guild.id))
    assert {c.name: c.id for c in fetched} == {n: int(c["id"]) for n, c in stored.items()}
    await bot.tree.sync(guild=discord.Object(fake.guild.id))
    assert {c["name"]: c["id"] for c in fake.commands.in_scope(fake.guild.id)} == {
        n: c["id"] for n, c in stored.items()
    }


async def test_invoke_returns_the_ephemeral_reply(bot: WatchBot, discord_at_fake: FakeDiscord) -> None:
    fake = discord_at_fake
    result = await fake.invoke("watch", "vendor", options={"name": "Kaspersky"})
    assert result.content == f"Watching Kaspersky in #{fake.channel.name}."
    assert result.ephemeral and result.callback_type == 4
    [callback] = fake.interaction_responses(result.interaction_id)
    assert callback["body"]["data"]["flags"] == 64
    assert fake.messages(fake.channel.id) == []  # ephemeral replies are not channel messages


async def test_member_without_manage_server(bot: WatchBot, discord_at_fake: FakeDiscord) -> None:
    fake = discord_at_fake
    with pytest.raises(CommandUnavailable):
        fake.send_command("watch vendor", options={"name": "ZTE"}, user_id=fake.member.user.id)
    # A server may grant the command to everyone; the bot's own check must still refuse.
    result = await fake.invoke(
        "watch vendor", options={"name": "ZTE"}, user_id=fake.member.user.id, permission_override=True
    )
    assert result.content == "You need the Manage Server permission." and result.ephemeral
    # A member who joins later with the permission is seen by the bot (GUILD_MEMBER_ADD) and may.
    late = fake.add_member("late-admin", permissions=Permission.MANAGE_GUILD)
    guild = bot.get_guild(fake.guild.id)
    assert guild is not None
    await fake.wait_for(lambda: guild.get_member(late.user.id))
    result = await fake.invoke("watch vendor", options={"name": "ZTE"}, user_id=late.user.id)
    assert result.content.startswith("Watching ZTE")


async def test_options_are_typed_and_resolved_from_the_synced_schema(
    bot: WatchBot, discord_at_fake: FakeDiscord
) -> None:
    fake = discord_at_fake
    alerts = fake.add_channel("alerts")
    role = fake.add_role("security")
    await fake.wait_for(
        lambda: bot.get_channel(alerts.id) and text_channel(bot, fake, alerts.id).guild.get_role(role.id)
    )
    result = await fake.invoke(
        "watch",
        "vendor",
        options={"name": "Huawei", "channel": alerts, "mention": role.id, "actions_only": True},
    )
    assert result.content == "Watching Huawei in #alerts, pinging @security (actions only)."
    sent = fake.interactions.records[result.interaction_id].payload["data"]
    [sub] = sent["options"]
    assert (sub["type"], sub["name"]) == (1, "vendor")
    assert {o["name"]: o["type"] for o in sub["options"]} == {
        "name": 3,
        "channel": 7,
        "mention": 8,
        "actions_only": 5,
    }
    assert set(sent["resolved"]) == {"channels", "roles"}
    with pytest.raises(OptionError, match="no option"):
        fake.send_command("watch vendor", options={"name": "x", "colour": "red"})
    with pytest.raises(OptionError, match="needs option 'name'"):
        fake.send_command("watch vendor", options={})
    with pytest.raises(OptionError, match="boolean"):
        fake.send_command("watch vendor", options={"name": "x", "actions_only": "yes"})
    with pytest.raises(OptionError, match="no subcommand"):
        fake.send_command("watch", "vendors", options={"name": "x"})


async def test_defer_then_followup_is_the_answer(bot: WatchBot, discord_at_fake: FakeDiscord) -> None:
    fake = discord_at_fake
    result = await fake.invoke("watch", "list")
    assert result.callback_type == 5
    assert result.content == "No subscriptions yet." and result.ephemeral
    assert result.followups == []  # the first followup after a deferral becomes the original response
    kinds = [r["kind"] for r in fake.interaction_responses(result.interaction_id)]
    assert kinds == ["callback", "followup"]


async def test_autocomplete_returns_choices(bot: WatchBot, discord_at_fake: FakeDiscord) -> None:
    fake = discord_at_fake
    choices = await fake.autocomplete("watch", "vendor", "name", "ka")
    assert [c["value"] for c in choices] == ["Kaspersky", "Kape Technologies"]
    with pytest.raises(OptionError, match="autocomplete"):
        fake.send_command("watch vendor", options={"name": "x", "actions_only": True}, focused="actions_only")


async def test_visible_reply_is_a_channel_message(bot: WatchBot, discord_at_fake: FakeDiscord) -> None:
    fake = discord_at_fake
    result = await fake.invoke("ping")
    assert result.content == "pong" and not result.ephemeral
    [message] = fake.messages(fake.channel.id)
    assert message["type"] == 20 and message["interaction_metadata"]["name"] == "ping"


async def test_send_records_embed_nonce_and_allowed_mentions(
    bot: WatchBot, discord_at_fake: FakeDiscord
) -> None:
    fake = discord_at_fake
    role = fake.add_role("vendor-watchers")
    await fake.wait_for(lambda: text_channel(bot, fake).guild.get_role(role.id))
    channel = text_channel(bot, fake)
    embed = discord.Embed(title="Kaspersky banned", description="Details", url="https://example.org/a")
    embed.add_field(name="Source", value="Commerce")
    sent = await channel.send(
        f"<@&{role.id}> <@{fake.admin.user.id}> @everyone",
        embed=embed,
        nonce="item1-chan1",
        allowed_mentions=discord.AllowedMentions(
            everyone=False, users=False, roles=[discord.Object(role.id)]
        ),
    )
    [message] = fake.messages(channel.id)
    assert int(message["id"]) == sent.id
    assert message["embeds"][0]["title"] == "Kaspersky banned"
    assert message["nonce"] == "item1-chan1"
    assert message["mention_roles"] == [str(role.id)]
    assert message["mentions"] == [] and message["mention_everyone"] is False
    [post] = fake.requests("POST", MESSAGES)
    assert post.json["enforce_nonce"] is True
    assert post.json["allowed_mentions"]["parse"] == []
    assert [int(r) for r in post.json["allowed_mentions"]["roles"]] == [role.id]
    echoed = await bot.wait_for("message", check=lambda m: m.id == sent.id, timeout=30)
    assert echoed.embeds[0].title == "Kaspersky banned"


async def test_same_nonce_returns_the_existing_message(bot: WatchBot, discord_at_fake: FakeDiscord) -> None:
    fake = discord_at_fake
    channel = text_channel(bot, fake)
    first = await channel.send("alert", nonce="n-1")
    again = await channel.send("alert", nonce="n-1")
    assert again.id == first.id
    assert len(fake.messages(channel.id)) == 1
    other = await channel.send("alert", nonce="n-2")
    assert other.id != first.id
    # Without enforce_nonce Discord only echoes the nonce, so a resend duplicates.
    route = discord.http.Route("POST", "/channels/{channel_id}/messages", channel_id=channel.id)
    await bot.http.request(route, json={"content": "alert", "nonce": "n-1"})
    assert len(fake.messages(channel.id)) == 3
    # Past the window (a few minutes on Discord) the nonce no longer dedupes.
    fake.message_store.clock = lambda: 1e12
    assert (await channel.send("alert", nonce="n-2")).id != other.id


async def test_edit_changes_the_stored_message(bot: WatchBot, discord_at_fake: FakeDiscord) -> None:
    fake = discord_at_fake
    sent = await text_channel(bot, fake).send("draft")
    edited = await sent.edit(content="final")
    [message] = fake.messages(fake.channel.id)
    assert message["content"] == edited.content == "final"
    assert message["edited_timestamp"] is not None


async def test_answer_after_three_seconds_is_unknown_interaction(
    bot: WatchBot, discord_at_fake: FakeDiscord
) -> None:
    fake = discord_at_fake
    fake.interactions.deadline = -1.0  # every answer arrives too late
    fake.send_command("ping")
    [callback] = await fake.wait_for(lambda: fake.requests("POST", r"/callback$"))
    assert (callback.status, callback.response["code"]) == (404, 10062)
    [error] = await fake.wait_for(lambda: bot.errors)
    assert isinstance(error.__cause__, discord.NotFound)
    bot.errors.clear()


async def test_crash_after_discord_accepted_does_not_duplicate(
    bot: WatchBot, discord_at_fake: FakeDiscord
) -> None:
    fake = discord_at_fake
    channel = text_channel(bot, fake)
    # Discord made the post but the bot never learnt it (503 is not retried by discord.py).
    fake.inject("POST", MESSAGES, 503, after_commit=True)
    with pytest.raises(discord.DiscordServerError):
        await channel.send("alert", nonce="item9-chan1")
    assert len(fake.messages(channel.id)) == 1
    again = await channel.send("alert", nonce="item9-chan1")
    assert [int(m["id"]) for m in fake.messages(channel.id)] == [again.id]


async def test_429_is_retried_and_gives_one_message(bot: WatchBot, discord_at_fake: FakeDiscord) -> None:
    fake = discord_at_fake
    fault = fake.inject("POST", MESSAGES, 429, retry_after=0.01)
    await text_channel(bot, fake).send("alert", nonce="rl-1")
    assert fault.hits == 1
    assert [c.status for c in fake.requests("POST", MESSAGES)] == [429, 200]
    assert len(fake.messages(fake.channel.id)) == 1


async def test_403_and_404_surface_as_discord_errors(bot: WatchBot, discord_at_fake: FakeDiscord) -> None:
    fake = discord_at_fake
    channel = text_channel(bot, fake)
    fake.inject("POST", MESSAGES, 403)
    with pytest.raises(discord.Forbidden) as forbidden:
        await channel.send("alert")
    assert forbidden.value.code == 50013
    fake.set_overwrite(channel.id, fake.bot_user_id, deny=Permission.SEND_MESSAGES)
    with pytest.raises(discord.Forbidden):
        await channel.send("alert")
    fake.delete_channel(channel.id)
    with pytest.raises(discord.NotFound) as missing:
        await channel.send("alert")
    assert missing.value.code == 10003
    assert fake.messages(channel.id) == []


async def test_discord_limits_are_enforced(bot: WatchBot, discord_at_fake: FakeDiscord) -> None:
    fake = discord_at_fake
    channel = text_channel(bot, fake)
    with pytest.raises(discord.HTTPException) as too_long:
        await channel.send("x" * 2001)
    assert too_long.value.code == 50035
    embeds = [discord.Embed(title="t", description="d" * 4000) for _ in range(2)]
    with pytest.raises(discord.HTTPException, match="6000"):
        await channel.send(embeds=embeds)
    with pytest.raises(discord.HTTPException, match="nonce"):
        await channel.send("x", nonce="n" * 26)
    assert fake.messages(channel.id) == []


async def test_gateway_disconnect_is_resumed_and_missed_events_replayed(
    bot: WatchBot, discord_at_fake: FakeDiscord
) -> None:
    fake = discord_at_fake
    await fake.disconnect_gateway(4000)
    record = fake.send_command("watch vendor", options={"name": "Kaspersky"})  # sent while the bot is away
    result = await fake.wait_interaction(record.id)
    assert result.content.startswith("Watching Kaspersky")
    [resume] = fake.gateway.resumes
    assert resume.path == "/resume" and resume.replayed >= 1
    assert fake.gateway.ready_count == 1
    assert (await fake.invoke("ping")).content == "pong"


async def test_invalid_session_leads_to_a_fresh_identify(bot: WatchBot, discord_at_fake: FakeDiscord) -> None:
    fake = discord_at_fake
    await fake.invalidate_session(resumable=False)
    await fake.wait_ready(count=2)
    assert fake.gateway.resumes == []
    assert (await fake.invoke("ping")).content == "pong"


async def test_reconnect_request_is_resumed(bot: WatchBot, discord_at_fake: FakeDiscord) -> None:
    fake = discord_at_fake
    await fake.request_reconnect()
    await fake.wait_resumed()
    assert (await fake.invoke("ping")).content == "pong"


async def test_unknown_routes_are_recorded_loudly(fake_discord: FakeDiscord) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{fake_discord.api_base}/guilds/1/bans") as response,
    ):
        assert response.status == 404
        assert "not faked" in (await response.json())["message"]
    assert [c.path for c in fake_discord.unknown_routes] == ["/guilds/1/bans"]
    fake_discord.unknown_routes.clear()  # this test made the unknown call on purpose


async def start_bot_process(fake: FakeDiscord, log: Path, **env: str) -> asyncio.subprocess.Process:
    """Start tests/chat/fake_bot_process.py pointed at the fake, as the real app will run."""
    settings = {
        "FAKE_API_BASE": fake.api_base,
        "FAKE_GATEWAY_URL": fake.gateway_url,
        "FAKE_TOKEN": fake.token,
        "FAKE_GUILD_ID": str(fake.guild.id),
        "FAKE_CHANNEL_ID": str(fake.channel.id),
        "FAKE_NONCE": "item7-chan1",
    }
    with log.open("wb") as output:
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.chat.fake_bot_process",
            cwd=REPO,
            env={**os.environ, **settings, **env},
            stdout=output,
            stderr=output,
        )


async def test_bot_process_killed_after_post_and_restarted_posts_once(
    fake_discord: FakeDiscord, tmp_path: Path
) -> None:
    fake = fake_discord
    crashed = await start_bot_process(fake, tmp_path / "first.log", FAKE_DIE_AFTER_SEND="1")
    assert await asyncio.wait_for(crashed.wait(), PROCESS_TIMEOUT) == -signal.SIGKILL
    assert len(fake.messages(fake.channel.id)) == 1
    restarted = await start_bot_process(fake, tmp_path / "second.log")
    try:
        await fake.wait_ready(count=2, timeout=PROCESS_TIMEOUT)
        await fake.wait_for(lambda: len(fake.requests("POST", MESSAGES)) == 2, timeout=PROCESS_TIMEOUT)
        result = await fake.invoke("ping")
        assert result.content == f"pong from pid {restarted.pid}" and result.ephemeral
    finally:
        restarted.kill()
        await restarted.wait()
    first, second = fake.requests("POST", MESSAGES)
    assert first.response["id"] == second.response["id"]
    assert len(fake.messages(fake.channel.id)) == 1
