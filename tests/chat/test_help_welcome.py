"""First contact: /help with examples, the welcome when regwatch joins a server, /watch test."""

from __future__ import annotations

import re

import pytest

from bot.chat.help_cmd import HELP
from tests.chat.running import MESSAGES, Regwatch, kaspersky_item
from tests.fakediscord import CommandUnavailable, Permission


async def test_help_shows_examples_of_commands_that_exist(app: Regwatch) -> None:
    fake = app.fake
    synced = {
        f"/{c['name']} {o['name']}" if o.get("type") in (1, 2) else f"/{c['name']}"
        for c in fake.commands.in_scope(None)
        for o in (c.get("options") or [{"name": ""}])
    }
    start = await fake.invoke("help", user_id=fake.member.user.id)
    assert start.ephemeral and "/watch vendor name:Kaspersky" in start.content
    for topic in HELP:
        result = await fake.invoke("help", options={"topic": topic}, user_id=fake.member.user.id)
        assert result.content == HELP[topic]
        for command in re.findall(r"`(/[a-z]+(?: [a-z-]+(?=[\s`]))?)", HELP[topic]):
            assert command in synced, (topic, command)


async def test_welcome_on_joining_a_new_server_but_not_on_reconnecting(app: Regwatch) -> None:
    fake = app.fake
    assert fake.messages(fake.channel.id) == []  # a server regwatch was already in is not greeted
    guild = fake.add_guild("New Server")
    [welcome] = await fake.wait_for_messages(guild.system_channel_id or 0)
    assert "/watch vendor" in welcome["content"] and "Manage Server" in welcome["content"]
    assert "/settings triage-role" in welcome["content"] and "/help" in welcome["content"]
    assert welcome["mentions"] == [] and welcome["mention_everyone"] is False


async def test_watch_test_posts_a_sample_alert_publicly(app: Regwatch) -> None:
    fake = app.fake
    await app.prime()
    await fake.invoke("watch vendor", options={"name": "Kaspersky"})
    app.publish(kaspersky_item())
    await app.poll_and_deliver()
    [real] = fake.messages(fake.channel.id)

    refused = await fake.invoke("watch test", user_id=fake.member.user.id)
    assert "Manage Server" in refused.content and len(fake.messages(fake.channel.id)) == 1

    result = await fake.invoke("watch test", user_id=fake.admin.user.id)
    assert result.ephemeral and "Posted a sample alert" in result.content, result.content
    [_, sample] = fake.messages(fake.channel.id)
    assert sample["content"].startswith("Sample alert") and f"<@{fake.admin.user.id}>" in sample["content"]
    assert sample["mentions"] == []
    assert sample["embeds"][0]["title"] == real["embeds"][0]["title"]
    assert sample["embeds"][0]["description"] == real["embeds"][0]["description"]  # same terms in bold
    buttons = [b for row in sample["components"] for b in row["components"]]
    assert [b["label"] for b in buttons] == ["Acknowledge", "Why?", "Mute Kaspersky 7 days", "Open source"]
    assert all(b["disabled"] for b in buttons[:3]) and buttons[3]["url"] == real["embeds"][0]["url"]
    post = fake.requests("POST", MESSAGES)[-1]
    assert "nonce" not in post.json  # never deduplicated against the real alert of the same item


async def test_watch_test_says_when_regwatch_cannot_post_in_the_channel(app: Regwatch) -> None:
    fake = app.fake
    closed = await app.add_alerts_channel()
    fake.set_overwrite(closed.id, fake.bot_user_id, deny=Permission.SEND_MESSAGES)
    guild = app.bot.get_guild(fake.guild.id)
    assert guild is not None
    result = await fake.invoke("watch test", channel_id=closed.id, user_id=fake.admin.user.id)
    assert "cannot post in this channel" in result.content, result.content
    assert fake.messages(closed.id) == []


async def test_the_admin_group_is_hidden_from_members_and_still_rechecked(app: Regwatch) -> None:
    fake = app.fake
    [settings] = [c for c in fake.commands.in_scope(None) if c["name"] == "settings"]
    assert settings["default_member_permissions"] == str(int(Permission.MANAGE_GUILD))
    with pytest.raises(CommandUnavailable):
        fake.send_command("settings timezone", options={"name": "UTC"}, user_id=fake.member.user.id)
    # A server may grant the group to everyone: the bot's own check still refuses.
    granted = await fake.invoke(
        "settings timezone", options={"name": "UTC"}, user_id=fake.member.user.id, permission_override=True
    )
    assert "Manage Server" in granted.content
    # Member commands stay visible to everyone.
    for command in ("watch list", "alerts recent", "help"):
        assert (await fake.invoke(command, user_id=fake.member.user.id)).ephemeral
