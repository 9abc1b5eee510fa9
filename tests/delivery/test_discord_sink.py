"""The Discord sink against the fake Discord: idempotent posts, broken channels, refusals, rate limits."""

from __future__ import annotations

from datetime import timedelta

import discord
import pytest

from bot.delivery.discord_sink import DiscordSink, post_guild_notice
from bot.delivery.dispatcher import Dispatcher, DrainResult
from bot.delivery.embed import escape
from bot.domain.errors import DeliveryError
from bot.domain.identity import canonical_link, link_key
from bot.storage import items, sources, subscriptions
from bot.storage.items import NewAlert, NewItem
from bot.storage.sources import SourceConfig
from tests.delivery.harness import Clock
from tests.delivery.kit import Outbox, real_entries
from tests.fakediscord import Call, FakeDiscord, Permission

MESSAGES = r"^/channels/\d+/messages$"


def posts_to(fake: FakeDiscord, channel_id: int) -> list[Call]:
    """Return the POSTs the bot made to a channel's messages (accepted or not)."""
    return fake.requests("POST", rf"^/channels/{channel_id}/messages$")


async def alerts_channel(fake: FakeDiscord, client: discord.Client) -> int:
    """Add a text channel to the default server and wait until the client knows it."""
    channel = fake.add_channel("vendor-alerts")
    guild = client.get_guild(fake.guild.id)
    assert guild is not None
    await fake.wait_for(lambda: guild.get_channel(channel.id), what="the new channel in the cache")
    return channel.id


async def test_an_alert_is_one_message_with_a_nonce_and_only_its_own_role(
    box: Outbox, clock: Clock, discord_at_fake: FakeDiscord, client: discord.Client
) -> None:
    fake = discord_at_fake
    role = fake.add_role("vendor-watch")
    other = fake.add_role("everyone-else")
    sub = await box.subscribe(
        target=f"discord:{fake.channel.id}", guild_id=fake.guild.id, mention_role_id=role.id
    )
    [alert_id] = await box.enqueue(sub)
    [alert] = await box.pending()
    sink = DiscordSink(client, box.adb, clock=clock)

    assert await Dispatcher(box.adb, {"discord": sink}, clock=clock).drain() == DrainResult(sent=1)
    [call] = posts_to(fake, fake.channel.id)
    body = call.json
    assert isinstance(body["nonce"], str) and len(body["nonce"]) <= 25 and body["enforce_nonce"] is True
    assert body["allowed_mentions"] == {"parse": [], "roles": [str(role.id)]}
    [message] = fake.messages(fake.channel.id)
    assert message["mention_roles"] == [str(role.id)] and str(other.id) not in message["content"]
    assert message["embeds"][0]["title"] == escape(alert.title, 256)
    [row] = await box.rows()
    assert (row.id, row.status, row.external_id) == (alert_id, "sent", message["id"])

    # A crash after the POST and before the row was marked: the re-send finds Discord's message.
    assert await sink.send(alert) == message["id"]
    assert len(fake.messages(fake.channel.id)) == 1
    assert len(posts_to(fake, fake.channel.id)) == 2


async def test_a_channel_the_bot_cannot_post_in_pauses_the_subscription_and_tells_the_server_once(
    box: Outbox, clock: Clock, discord_at_fake: FakeDiscord, client: discord.Client
) -> None:
    fake = discord_at_fake
    channel_id = await alerts_channel(fake, client)
    fake.set_overwrite(channel_id, fake.bot_user_id, deny=Permission.SEND_MESSAGES)
    sub = await box.subscribe(
        target=f"discord:{channel_id}", guild_id=fake.guild.id, origin_channel_id=fake.channel.id
    )
    await box.enqueue(sub, 3)
    dispatcher = Dispatcher(box.adb, {"discord": DiscordSink(client, box.adb, clock=clock)}, clock=clock)

    assert await dispatcher.drain() == DrainResult(retrying=3)
    assert len(posts_to(fake, channel_id)) == 1, "a paused backlog must not hit Discord once per alert"
    [notice] = fake.messages(fake.channel.id)
    assert "lacks permission" in notice["content"] and f"/watch remove id:{sub}" in notice["content"]
    assert notice["mention_roles"] == [] and notice["mentions"] == []
    paused = await box.call(subscriptions.get, sub)
    assert paused is not None and paused.paused and paused.paused_until == clock() + timedelta(hours=1)
    rows = await box.rows()
    assert [r.status for r in rows] == ["pending"] * 3
    assert [r.next_attempt_at - clock() for r in rows] == [timedelta(seconds=5)] + [timedelta(hours=1)] * 2

    clock.advance(minutes=10)
    assert await dispatcher.drain() == DrainResult()  # paused: nothing is due before paused_until
    assert len(posts_to(fake, channel_id)) == 1

    fake.set_overwrite(channel_id, fake.bot_user_id, allow=Permission.SEND_MESSAGES)
    clock.advance(hours=1)
    assert await dispatcher.drain() == DrainResult(sent=3)
    assert len(fake.messages(channel_id)) == 3
    resumed = await box.call(subscriptions.get, sub)
    assert resumed is not None and not resumed.paused and resumed.paused_reason is None
    assert len(fake.messages(fake.channel.id)) == 1  # told once per episode


async def test_a_deleted_channel_is_reported_in_the_system_channel(
    box: Outbox, clock: Clock, discord_at_fake: FakeDiscord, client: discord.Client
) -> None:
    fake = discord_at_fake
    channel_id = await alerts_channel(fake, client)
    # Made from the channel that is then deleted: the server's system channel is told instead.
    sub = await box.subscribe(
        target=f"discord:{channel_id}", guild_id=fake.guild.id, origin_channel_id=channel_id
    )
    await box.enqueue(sub)
    fake.delete_channel(channel_id)
    dispatcher = Dispatcher(box.adb, {"discord": DiscordSink(client, box.adb, clock=clock)}, clock=clock)

    assert await dispatcher.drain() == DrainResult(retrying=1)
    [row] = await box.rows()
    assert row.last_error is not None and row.last_error.startswith("404 Not Found")
    [notice] = fake.messages(fake.channel.id)
    assert "no longer exists" in notice["content"]
    paused = await box.call(subscriptions.get, sub)
    assert (
        paused is not None and paused.paused_reason is not None and "no longer exists" in paused.paused_reason
    )


async def test_a_payload_discord_refuses_fails_for_good_without_pausing(
    box: Outbox, clock: Clock, discord_at_fake: FakeDiscord, client: discord.Client
) -> None:
    fake = discord_at_fake
    sub = await box.subscribe(target=f"discord:{fake.channel.id}", guild_id=fake.guild.id)
    await box.enqueue(sub)
    fake.inject("POST", MESSAGES, 400)
    dispatcher = Dispatcher(box.adb, {"discord": DiscordSink(client, box.adb, clock=clock)}, clock=clock)

    assert await dispatcher.drain() == DrainResult(failed=1)
    [row] = await box.rows()
    assert (row.status, row.attempts) == ("failed", 1)
    assert row.last_error is not None and "HTTP 400" in row.last_error
    clock.advance(days=1)
    assert await dispatcher.drain() == DrainResult()  # a failed alert is kept, never retried
    assert len(posts_to(fake, fake.channel.id)) == 1
    sub_row = await box.call(subscriptions.get, sub)
    assert sub_row is not None and not sub_row.paused


async def test_rate_limits_and_server_errors_are_retried_when_discord_says(
    box: Outbox, clock: Clock, discord_at_fake: FakeDiscord, client: discord.Client
) -> None:
    fake = discord_at_fake
    sub = await box.subscribe(target=f"discord:{fake.channel.id}", guild_id=fake.guild.id)
    limited, failing = await box.enqueue(sub, 2)
    fake.inject("POST", MESSAGES, 429, retry_after=120)  # longer than the client waits by itself
    fake.inject("POST", MESSAGES, 503)
    dispatcher = Dispatcher(box.adb, {"discord": DiscordSink(client, box.adb, clock=clock)}, clock=clock)

    assert await dispatcher.drain() == DrainResult(retrying=2)
    rows = {r.id: r for r in await box.rows()}
    assert rows[limited].next_attempt_at == clock() + timedelta(seconds=120)
    assert rows[limited].last_error == "Discord rate limit"
    assert rows[failing].next_attempt_at == clock() + timedelta(seconds=5)
    assert rows[failing].last_error == "Discord server error 503"

    clock.advance(seconds=5)
    assert await dispatcher.drain() == DrainResult(sent=1)
    clock.advance(seconds=115)
    assert await dispatcher.drain() == DrainResult(sent=1)
    assert len(fake.messages(fake.channel.id)) == 2
    assert await box.statuses() == ["sent", "sent"]


async def test_a_sink_not_logged_in_yet_asks_for_a_retry(
    box: Outbox, clock: Clock, discord_at_fake: FakeDiscord
) -> None:
    sub = await box.subscribe(
        target=f"discord:{discord_at_fake.channel.id}", guild_id=discord_at_fake.guild.id
    )
    await box.enqueue(sub)
    [alert] = await box.pending()
    offline = discord.Client(intents=discord.Intents.default())
    try:
        with pytest.raises(DeliveryError) as raised:
            await DiscordSink(offline, box.adb, clock=clock).send(alert)
    finally:
        await offline.close()
    assert raised.value.retry_after == 5 and not raised.value.permanent
    assert discord_at_fake.calls == []


async def test_a_later_copy_of_a_story_edits_the_first_message_or_replaces_a_deleted_one(
    box: Outbox, clock: Clock, discord_at_fake: FakeDiscord, client: discord.Client
) -> None:
    fake = discord_at_fake
    sub = await box.subscribe(target=f"discord:{fake.channel.id}", guild_id=fake.guild.id)
    await box.enqueue(sub)
    dispatcher = Dispatcher(box.adb, {"discord": DiscordSink(client, box.adb, clock=clock)}, clock=clock)
    assert await dispatcher.drain() == DrainResult(sent=1)
    [first] = fake.messages(fake.channel.id)

    headline = real_entries()[0]  # the first alert's item

    async def copy_from(name: str, n: int) -> None:
        # The same headline from another outlet, a moment later: the same story.
        source = await box.call(sources.add, SourceConfig(name, f"https://copies.example/{n}/rss"), clock())
        link = f"https://copies.example/{n}/story"
        copy = NewItem(
            f"copy-{n}",
            None,
            link,
            canonical_link(link),
            link_key(link),
            headline.title,
            headline.text,
            clock(),
        )
        alert = NewAlert(0, sub, f"discord:{fake.channel.id}", (headline.title.split()[0],))
        await box.call(
            items.store_poll,
            source.id,
            clock(),
            clock(),
            [copy],
            [alert],
            etag=None,
            last_modified=None,
            body_hash=None,
            story_window=timedelta(hours=48),
        )

    await copy_from("Wire service", 1)
    clock.advance(minutes=5)
    assert await dispatcher.drain() == DrainResult(sent=1)
    [edit] = fake.requests("PATCH", rf"^/channels/{fake.channel.id}/messages/{first['id']}$")
    [edited] = fake.messages(fake.channel.id)
    assert edited["id"] == first["id"]
    also = [f for f in edited["embeds"][0]["fields"] if f["name"] == "Also reported by"]
    assert len(also) == 1 and "Wire service" in also[0]["value"]
    assert edit.json["allowed_mentions"]["parse"] == []

    fake.message_store.delete(int(first["id"]))  # a moderator removed the story's first alert
    await copy_from("Another wire", 2)
    clock.advance(minutes=5)
    assert await dispatcher.drain() == DrainResult(sent=1)
    [replacement] = fake.messages(fake.channel.id)
    assert replacement["id"] != first["id"]
    assert await box.statuses() == ["sent", "sent", "sent"]


async def test_a_guild_notice_goes_to_the_first_channel_that_takes_it(
    discord_at_fake: FakeDiscord, client: discord.Client
) -> None:
    fake = discord_at_fake
    channel_id = await alerts_channel(fake, client)
    assert await post_guild_notice(client, fake.guild.id, "Source 1 works again.")
    [posted] = fake.messages(fake.channel.id)  # the system channel first
    assert posted["content"] == "Source 1 works again." and posted["mention_everyone"] is False

    fake.inject("POST", rf"^/channels/{fake.channel.id}/messages$", 403)
    assert await post_guild_notice(client, fake.guild.id, "@everyone Source 2 is failing.")
    [fallback] = fake.messages(channel_id)
    assert fallback["mention_everyone"] is False  # the text is not trusted to ping
    assert not await post_guild_notice(client, 1234567890, "not a server the bot is in")
