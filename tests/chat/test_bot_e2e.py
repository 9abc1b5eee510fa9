"""regwatch as a Discord bot, end to end: the real discord.py client against the fake Discord.

Each test runs the app's own composition (build_services + start_discord) in this process, with
a local feed server as the only source, and drives it the way a server admin and Discord would:
slash commands through the fake gateway, alerts read back from the fake's channels.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.storage import subscriptions
from tests.chat.running import (
    KASPERSKY_LINK,
    KASPERSKY_TITLE,
    MESSAGES,
    NASA,
    SUBSCRIBED,
    Regwatch,
    kaspersky_item,
    regwatch_at,
    shown,
)
from tests.fakediscord import FakeDiscord, Permission
from tests.feedserver import FeedServer
from tests.helpers import with_items

# --- subscribing and the alert ------------------------------------------------------------------


async def test_watch_vendor_then_one_alert_embed_reaches_the_channel(app: Regwatch) -> None:
    fake = app.fake
    # Synced globally (no dev server set), with the groups and subcommands of DESIGN 3.7.
    synced = {c["name"]: {o["name"] for o in c.get("options", [])} for c in fake.commands.in_scope(None)}
    assert synced == {
        "watch": {"vendor", "keywords", "list", "edit", "remove", "preview", "schedule", "mention", "test"},
        "source": {"add", "remove", "list", "status"},
        "alerts": {"recent", "why", "export"},
        "settings": {"timezone", "quiet-hours", "rate-limit", "triage-role", "embed", "webhook"},
        "help": {"topic"},
    }
    await app.prime()
    result = await fake.invoke("watch vendor", options={"name": "Kaspersky"}, user_id=fake.admin.user.id)
    assert result.ephemeral
    found = SUBSCRIBED.search(result.content)
    assert found and "Subscribed" in result.content, result.content
    sub_id = int(found.group(1))
    assert fake.messages(fake.channel.id) == []

    app.publish(kaspersky_item())
    polled, sent = await app.poll_and_deliver()
    assert (polled.status, polled.alerts, sent) == ("new", 1, 1)

    [message] = fake.messages(fake.channel.id)
    assert message["author"]["id"] == str(fake.bot_user_id)
    [embed] = message["embeds"]
    assert embed["url"] == KASPERSKY_LINK
    assert shown(embed["title"]) == KASPERSKY_TITLE
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    assert shown(fields["Source"]) == "Local news (127.0.0.1)"  # the source's own host
    assert re.fullmatch(r"<t:\d+:f> \(<t:\d+:R>\)", fields["Published"])
    stamp = int(fields["Published"][3:].split(":")[0])
    assert abs(stamp - (datetime.now(UTC) - timedelta(minutes=5)).timestamp()) < 120
    assert shown(fields["Matched"]) == "Kaspersky Lab"
    assert str(sub_id) in fields["Subscription"] and "Kaspersky" in fields["Subscription"]
    assert "**Kaspersky Lab**" in embed["description"]
    assert message["mention_everyone"] is False and message["mention_roles"] == []

    [post] = fake.requests("POST", MESSAGES)
    body = post.json
    assert isinstance(body["nonce"], str) and len(body["nonce"]) <= 25
    assert body["enforce_nonce"] is True
    assert body["allowed_mentions"] == {"parse": [], "roles": []}
    [row] = await app.outbox_rows()
    assert row[1:] == ("sent", f"discord:{fake.channel.id}", sub_id, message["id"])

    # Nothing new: no second message.
    _, sent = await app.poll_and_deliver()
    assert sent == 0 and len(fake.messages(fake.channel.id)) == 1


async def test_alert_mentions_only_the_subscription_role(app: Regwatch) -> None:
    fake = app.fake
    alerts = fake.add_channel("vendor-alerts")
    role = fake.add_role("security")
    guild = app.bot.get_guild(fake.guild.id)
    assert guild is not None
    await fake.wait_for(lambda: guild.get_channel(alerts.id) and guild.get_role(role.id))
    await app.prime()
    result = await fake.invoke(
        "watch vendor", options={"name": "kaspersky lab", "channel": alerts, "mention": role}
    )
    assert f"<#{alerts.id}>" in result.content and f"<@&{role.id}>" in result.content, result.content
    app.publish(kaspersky_item(title="Kaspersky banned; @everyone <@&123> read this"))
    await app.poll_and_deliver()
    [message] = fake.messages(alerts.id)
    assert message["content"] == f"<@&{role.id}>"
    assert message["mention_roles"] == [str(role.id)]
    assert message["mention_everyone"] is False and message["mentions"] == []
    [post] = fake.requests("POST", MESSAGES)
    assert post.json["allowed_mentions"] == {"parse": [], "roles": [str(role.id)]}
    assert fake.messages(fake.channel.id) == []


async def test_member_without_manage_server_is_refused(app: Regwatch) -> None:
    fake = app.fake
    # The server granted the command to everyone: only the bot's own check stands in the way.
    for command, options in (
        ("watch vendor", {"name": "Kaspersky"}),
        ("watch keywords", {"query": "kaspersky"}),
        ("watch remove", {"id": 1}),
        ("source add", {"url": "https://example.org/feed.xml"}),
        ("source remove", {"id": 1}),
    ):
        result = await fake.invoke(
            command, options=options, user_id=fake.member.user.id, permission_override=True
        )
        assert result.ephemeral
        assert "You need the **Manage Server** permission" in result.content, (command, result.content)
    assert await app.services.adb.call(subscriptions.list_subscriptions) == []
    # Commands for anyone still work for them.
    listed = await fake.invoke("watch list", user_id=fake.member.user.id)
    assert "no subscriptions yet" in listed.content


async def test_servers_are_isolated(app: Regwatch) -> None:
    fake = app.fake
    other = fake.add_guild("Other Server")
    other_admin = fake.add_member("other-admin", permissions=Permission.MANAGE_GUILD, guild_id=other.id)
    await fake.wait_for(lambda: app.bot.get_guild(other.id))
    mine = await app.subscribe("kaspersky")
    theirs = await app.subscribe("huawei", guild_id=other.id, user_id=other_admin.user.id)

    refused = await fake.invoke("watch remove", options={"id": theirs})
    assert refused.ephemeral
    assert refused.content == f"This server has no subscription with id {theirs}. /watch list shows them."
    assert {s.id for s in await app.services.adb.call(subscriptions.list_subscriptions)} == {mine, theirs}

    listed = await fake.invoke("watch list")
    assert f"`{mine}`" in listed.content and "kaspersky" in listed.content
    assert f"`{theirs}`" not in listed.content and "huawei" not in listed.content
    choices = await fake.autocomplete("watch", "remove", "id", "")
    assert [c["value"] for c in choices] == [mine]
    assert await fake.autocomplete("watch", "remove", "id", str(theirs)) == []
    their_choices = await fake.autocomplete(
        "watch", "remove", "id", "", guild_id=other.id, user_id=other_admin.user.id
    )
    assert [c["value"] for c in their_choices] == [theirs]

    removed = await fake.invoke("watch remove", options={"id": mine})
    assert removed.content == f"Removed subscription {mine}."
    assert [s.id for s in await app.services.adb.call(subscriptions.list_subscriptions)] == [theirs]


async def test_vendor_autocomplete_offers_catalog_names(app: Regwatch) -> None:
    fake = app.fake
    choices = await fake.autocomplete("watch", "vendor", "name", "kas")
    assert [c["value"] for c in choices] == ["Kaspersky"]
    everything = await fake.autocomplete("watch", "vendor", "name", "")
    names = [c["value"] for c in everything]
    assert 1 < len(names) <= 25 and {"Kaspersky", "Huawei", "ZTE"} <= set(names)
    # An alias finds its vendor too, in any script.
    assert [c["value"] for c in await fake.autocomplete("watch", "vendor", "name", "卡巴")] == ["Kaspersky"]
    unknown = await fake.invoke("watch vendor", options={"name": "Kaspresky"})
    assert "not in the vendor catalog" in unknown.content
    assert await app.services.adb.call(subscriptions.list_subscriptions) == []


async def test_invalid_query_gets_position_and_reason(app: Regwatch) -> None:
    fake = app.fake
    result = await fake.invoke("watch keywords", options={"query": "kaspersky AND (ban"})
    assert result.ephemeral
    assert result.content.startswith("That query is not valid: missing closing parenthesis (position 15)."), (
        result.content
    )
    # The caret sits under the place the parser complained about.
    block = result.content.split("```\n")[1].splitlines()
    assert block[0] == "kaspersky AND (ban" and block[1] == " " * 14 + "^"
    assert await app.services.adb.call(subscriptions.list_subscriptions) == []
    preview = await fake.invoke("watch preview", options={"query": "a NEAR/x b"})
    assert "NEAR needs a distance in words" in preview.content and "(position 3)" in preview.content


async def test_preview_lists_stored_matches(app: Regwatch) -> None:
    fake = app.fake
    app.publish(kaspersky_item())
    await app.prime()  # the first poll stores the items without alerting
    result = await fake.invoke("watch preview", options={"query": "vendor:Kaspersky", "days": 7})
    assert result.ephemeral
    assert result.content.startswith("1 matches among 5 items in the last 7 days"), result.content
    assert f"](<{KASPERSKY_LINK}>)" in result.content and "Local news" in result.content
    assert "Kaspersky Lab" in result.content
    none = await fake.invoke("watch preview", options={"query": "huawei"})
    assert none.content == "No match among 5 items stored in the last 30 days."
    # A preview scans every stored item: members without Manage Server are refused in plain words.
    member = await fake.invoke("watch preview", options={"query": "huawei"}, user_id=fake.member.user.id)
    assert member.content.startswith("You need the **Manage Server** permission to preview queries"), (
        member.content
    )
    assert fake.messages(fake.channel.id) == []


async def test_subscription_quota_and_duplicates(
    discord_at_fake: FakeDiscord, feed_server: FeedServer, tmp_path: Path
) -> None:
    async with regwatch_at(discord_at_fake, feed_server, tmp_path, max_subscriptions_per_guild=2) as app:
        fake = app.fake
        first = await app.subscribe("kaspersky")
        again = await fake.invoke("watch keywords", options={"query": "kaspersky"})
        assert again.content == f"<#{fake.channel.id}> already has this subscription (id {first})."
        await app.subscribe("huawei")
        full = await fake.invoke("watch vendor", options={"name": "ZTE"})
        assert full.content.startswith("This server has 2 subscriptions, the most allowed (2).")
        # The quota is per server.
        other = fake.add_guild("Other Server")
        admin = fake.add_member("other-admin", permissions=Permission.MANAGE_GUILD, guild_id=other.id)
        await fake.wait_for(lambda: app.bot.get_guild(other.id))
        await app.subscribe("zte", guild_id=other.id, user_id=admin.user.id)


async def test_sources_are_per_server(app: Regwatch) -> None:
    fake = app.fake
    url = app.feeds.set("/vendor-blog.xml", with_items(NASA))
    other = fake.add_guild("Other Server")
    other_admin = fake.add_member("other-admin", permissions=Permission.MANAGE_GUILD, guild_id=other.id)
    await fake.wait_for(lambda: app.bot.get_guild(other.id))

    added = await fake.invoke("source add", options={"url": url, "name": "Vendor blog"})
    assert added.ephemeral
    found = re.search(r"\(source (\d+)\): RSS feed with 4 items", added.content)
    assert found, added.content
    source_id = int(found.group(1))
    mine = await fake.invoke("source list")
    assert f"`{source_id}` Vendor blog" in mine.content and "(this server)" in mine.content
    assert "Local news" in mine.content  # the shared catalog
    theirs = await fake.invoke("source list", guild_id=other.id, user_id=other_admin.user.id)
    assert "Vendor blog" not in theirs.content and "Local news" in theirs.content
    refused = await fake.invoke(
        "source remove", options={"id": source_id}, guild_id=other.id, user_id=other_admin.user.id
    )
    assert refused.content == (
        f"This server has no source of its own with id {source_id}. /source list shows them."
    )
    catalog = await fake.invoke("source remove", options={"id": 1})
    assert "no source of its own with id 1" in catalog.content
    status = await fake.invoke("source status", user_id=fake.member.user.id)
    assert status.content.startswith("2 sources, 0 failing.")
    assert "not polled yet" in status.content

    not_a_feed = app.feeds.set("/page.html", b"<html><body>hello</body></html>", content_type="text/html")
    bad = await fake.invoke("source add", options={"url": not_a_feed})
    assert bad.content.startswith("Could not add that source:"), bad.content

    removed = await fake.invoke("source remove", options={"id": source_id})
    assert removed.content == f"Removed source {source_id} (Vendor blog)."
    assert "Vendor blog" not in (await fake.invoke("source list")).content


async def test_alerts_recent_and_why_are_per_server(app: Regwatch) -> None:
    fake = app.fake
    other = fake.add_guild("Other Server")
    await fake.wait_for(lambda: app.bot.get_guild(other.id))
    visitor = fake.add_member("visitor", guild_id=other.id)
    await app.prime()
    sub_id = await app.subscribe("vendor:Kaspersky")
    app.publish(kaspersky_item())
    await app.poll_and_deliver()

    recent = await fake.invoke("alerts recent", user_id=fake.member.user.id)
    assert recent.ephemeral
    assert f"sent <#{fake.channel.id}>" in recent.content and KASPERSKY_LINK in recent.content
    assert f"(subscription {sub_id})" in recent.content
    elsewhere = await fake.invoke("alerts recent", guild_id=other.id, user_id=visitor.user.id)
    assert elsewhere.content == "No alerts yet for this server."

    why = await fake.invoke("alerts why", options={"link": KASPERSKY_LINK + "?utm_source=rss"})
    assert "first seen in Local news" in why.content
    assert f"Subscription {sub_id}" in why.content and "alerted at" in why.content
    why_there = await fake.invoke(
        "alerts why", options={"link": KASPERSKY_LINK}, guild_id=other.id, user_id=visitor.user.id
    )
    assert "This server has no subscriptions." in why_there.content
    assert f"Subscription {sub_id}" not in why_there.content
    old = await fake.invoke(
        "alerts why", options={"link": "http://liftoff.msfc.nasa.gov/news/2003/news-starcity.asp"}
    )
    assert "did not match" in old.content
    unseen = await fake.invoke("alerts why", options={"link": "https://nowhere.example/x"})
    assert "has not seen" in unseen.content


async def test_commands_sync_to_the_dev_server_when_set(
    discord_at_fake: FakeDiscord, feed_server: FeedServer, tmp_path: Path
) -> None:
    fake = discord_at_fake
    async with regwatch_at(fake, feed_server, tmp_path, discord_dev_guild_id=fake.guild.id) as app:
        assert fake.commands.in_scope(None) == []
        synced = {c["name"]: c for c in fake.commands.in_scope(fake.guild.id)}
        assert set(synced) == {"watch", "source", "alerts", "settings", "help"}
        watch = {o["name"] for o in synced["watch"]["options"]}
        assert watch == {
            "vendor",
            "keywords",
            "list",
            "edit",
            "remove",
            "preview",
            "schedule",
            "mention",
            "test",
        }
        refused = await app.fake.invoke("watch vendor", options={"name": "ZTE"}, user_id=fake.member.user.id)
        assert "You need the **Manage Server** permission" in refused.content


# --- delivery faults ----------------------------------------------------------------------------


async def test_429_on_post_is_retried_and_gives_one_message(app: Regwatch) -> None:
    fake = app.fake
    await app.prime()
    await app.subscribe("vendor:Kaspersky")
    fault = fake.inject("POST", MESSAGES, 429, retry_after=0.02)
    app.publish(kaspersky_item())
    _, sent = await app.poll_and_deliver()
    assert sent == 1 and fault.hits == 1
    assert [c.status for c in fake.requests("POST", MESSAGES)] == [429, 200]
    assert len(fake.messages(fake.channel.id)) == 1
    [row] = await app.outbox_rows()
    assert row[1] == "sent"
    # discord.py waited out the 429 itself; /metrics still shows it.
    registry = app.services.metrics.registry
    assert registry.get_sample_value("regwatch_discord_rate_limits_total") == 1
    assert registry.get_sample_value("regwatch_deliveries_total", {"outcome": "sent"}) == 1


async def test_post_lost_after_discord_made_it_is_not_duplicated(app: Regwatch) -> None:
    fake = app.fake
    await app.prime()
    await app.subscribe("vendor:Kaspersky")
    # Discord creates the message but the answer is lost (a 503 discord.py does not retry).
    fake.inject("POST", MESSAGES, 503, after_commit=True)
    app.publish(kaspersky_item())
    _, sent = await app.poll_and_deliver()
    assert sent == 0 and len(fake.messages(fake.channel.id)) == 1
    [row] = await app.outbox_rows()
    assert row[1] == "pending"
    app.clock.offset = timedelta(minutes=5)  # the retry is due
    assert (await app.services.dispatcher.drain()).sent == 1
    first, second = fake.requests("POST", MESSAGES)
    assert first.json["nonce"] == second.json["nonce"]
    [message] = fake.messages(fake.channel.id)
    assert second.response["id"] == message["id"]
    [row] = await app.outbox_rows()
    assert row[1] == "sent" and row[4] == message["id"]


async def test_403_pauses_the_subscription_notifies_once_and_resumes(app: Regwatch) -> None:
    fake = app.fake
    alerts = await app.add_alerts_channel()
    await app.prime()
    sub_id = await app.subscribe("vendor:Kaspersky", options={"channel": alerts})
    fake.set_overwrite(alerts.id, fake.bot_user_id, deny=Permission.SEND_MESSAGES)

    app.publish(kaspersky_item())
    _, sent = await app.poll_and_deliver()
    assert sent == 0 and fake.messages(alerts.id) == []
    [row] = await app.outbox_rows()
    assert row[1] == "pending"
    # The server is told where the subscription was made.
    [notice] = fake.messages(fake.channel.id)
    assert f"subscription {sub_id}" in notice["content"] and f"<#{alerts.id}>" in notice["content"]
    assert "permission" in notice["content"] and notice["embeds"] == []
    listed = await fake.invoke("watch list")
    assert f"`{sub_id}`" in listed.content and "**paused**" in listed.content

    # While paused, a new item's alert is kept too, and nothing is retried before the pause ends.
    app.publish(kaspersky_item(title="Kaspersky Lab appeal rejected", link="https://example.gov/appeal"))
    _, sent = await app.poll_and_deliver()
    assert sent == 0
    app.clock.offset = timedelta(minutes=30)
    assert (await app.services.dispatcher.drain()).sent == 0
    assert len(fake.requests("POST", rf"^/channels/{alerts.id}/messages$")) == 1

    # Past the pause one post is tried and fails again: paused anew, the backlog waits, no second notice.
    app.clock.offset = timedelta(minutes=61)
    assert (await app.services.dispatcher.drain()).sent == 0
    assert len(fake.requests("POST", rf"^/channels/{alerts.id}/messages$")) == 2
    assert len(fake.messages(fake.channel.id)) == 1

    # The permission is back: after the next pause both alerts arrive, in order, in one message
    # (a channel's backlog is batched), and it resumes.
    fake.set_overwrite(alerts.id, fake.bot_user_id)
    app.clock.offset = timedelta(minutes=125)
    assert (await app.services.dispatcher.drain()).sent == 2
    [delivered] = fake.messages(alerts.id)
    assert [e["url"] for e in delivered["embeds"]] == [KASPERSKY_LINK, "https://example.gov/appeal"]
    assert [r[1] for r in await app.outbox_rows()] == ["sent", "sent"]
    [sub] = await app.services.adb.call(subscriptions.list_subscriptions)
    assert not sub.paused and sub.paused_until is None
    assert "paused" not in (await fake.invoke("watch list")).content
    assert len(fake.messages(fake.channel.id)) == 1


async def test_404_channel_gone_notifies_the_system_channel(app: Regwatch) -> None:
    fake = app.fake
    alerts = await app.add_alerts_channel()
    await app.prime()
    # Made in the alerts channel itself, so the only place left to tell is the system channel.
    sub_id = await app.subscribe("vendor:Kaspersky", channel_id=alerts.id)
    fake.delete_channel(alerts.id)
    app.publish(kaspersky_item())
    await app.poll_and_deliver()
    [notice] = fake.messages(fake.channel.id)
    assert f"subscription {sub_id}" in notice["content"] and "no longer exists" in notice["content"]
    [row] = await app.outbox_rows()
    assert row[1] == "pending"


# --- untrusted text -----------------------------------------------------------------------------


async def test_hostile_title_pings_nobody_and_shows_literally(app: Regwatch) -> None:
    fake = app.fake
    await app.prime()
    await app.subscribe("kaspersky")
    title = "Kaspersky\u200b news @everyone <@&123> @here [click](https://evil.example) **bold**\u2060!"
    app.publish(
        kaspersky_item(
            title=title,
            description="Kaspersky said: <@123> @everyone [click](https://evil.example) `code`.",
        )
    )
    _, sent = await app.poll_and_deliver()
    assert sent == 1
    [message] = fake.messages(fake.channel.id)
    assert message["mention_everyone"] is False
    assert message["mention_roles"] == [] and message["mentions"] == []
    assert message["content"] == ""
    [embed] = message["embeds"]
    literal = "Kaspersky news @everyone <@&123> @here [click](https://evil.example) **bold**!"
    assert shown(embed["title"]) == literal
    # No live markup survives: every markdown character is escaped, every mention broken.
    for text in (embed["title"], embed["description"], *(f["value"] for f in embed["fields"])):
        assert "<@" not in text and "@everyone" not in text and "](" not in text
        assert "\u2060" not in text
    assert "[click](https://evil.example)" in shown(embed["description"])
    [post] = fake.requests("POST", MESSAGES)
    assert post.json["allowed_mentions"] == {"parse": [], "roles": []}


# --- the gateway --------------------------------------------------------------------------------


async def test_gateway_disconnect_and_resume_keeps_answering(app: Regwatch) -> None:
    fake = app.fake
    first = await app.subscribe("kaspersky")
    await fake.disconnect_gateway(4000)
    # Sent while the bot is away: replayed on RESUME and answered.
    record = fake.send_command("watch list")
    result = await fake.wait_interaction(record.id)
    assert f"`{first}`" in result.content
    await fake.wait_resumed()
    assert fake.gateway.ready_count == 1
    second = await app.subscribe("huawei")
    assert second != first
    await fake.request_reconnect()
    await fake.wait_resumed(count=2)
    assert f"`{second}`" in (await fake.invoke("watch list")).content
