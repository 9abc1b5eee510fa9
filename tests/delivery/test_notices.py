"""Source notices: raised once per episode in real SQLite, delivered to the console and to servers."""

from __future__ import annotations

import io
from datetime import timedelta
from functools import partial
from typing import TextIO

import discord

from bot.delivery.discord_sink import post_guild_notice
from bot.delivery.notices import MAX_ATTEMPTS, NoticeBoard
from bot.storage import leases, notices, sources
from tests.delivery.harness import Clock
from tests.delivery.kit import Outbox
from tests.fakediscord import FakeDiscord

FAILING_AFTER = timedelta(hours=24)
RETRY_CAP = timedelta(hours=6)


async def raise_due(box: Outbox, silent_after: timedelta | None = None) -> int:
    """Raise the notices due at the clock's now, as the service's check after each tick does."""
    return await box.call(
        notices.raise_due,
        box.clock(),
        failing_after=FAILING_AFTER,
        silent_after=silent_after,
        retry_cap=RETRY_CAP,
    )


async def fail_poll(box: Outbox, error: str = "HTTP 503 Service Unavailable") -> None:
    """Record a failed poll of the source now."""
    now = box.clock()
    await box.call(sources.record_failure, box.source_id, now, error, now + timedelta(minutes=15))


async def test_a_failing_source_is_told_once_per_episode_to_the_console_and_each_server(
    box: Outbox, clock: Clock, discord_at_fake: FakeDiscord, client: discord.Client
) -> None:
    fake = discord_at_fake
    other = fake.add_guild("Other server")
    await fake.wait_for(lambda: client.get_guild(other.id), what="the second server in the cache")
    other_channel = other.system_channel_id
    assert other_channel is not None
    for guild_id in (fake.guild.id, other.id):
        await box.subscribe(target=f"discord:{fake.channel.id}", guild_id=guild_id)
    await box.subscribe()  # a console subscription: no server to tell
    out = io.StringIO()
    board = NoticeBoard(box.adb, stream=out, clock=clock)
    board.set_poster(partial(post_guild_notice, client))

    await fail_poll(box)
    clock.advance(hours=23)
    await fail_poll(box)
    assert await raise_due(box) == 0  # not failing long enough yet
    clock.advance(hours=1)
    assert await raise_due(box) == 3  # the console and both servers
    assert await board.drain() == 3
    console = out.getvalue()
    assert console.count("regwatch notice: ") == 1
    assert f"Source {box.source_id} (Guardian US) has been failing since" in console
    assert "2 polls in a row: HTTP 503 Service Unavailable" in console
    [here] = fake.messages(fake.channel.id)
    [there] = fake.messages(other_channel)
    assert here["content"] == there["content"] and "has been failing since" in here["content"]

    clock.advance(hours=5)
    await fail_poll(box)
    assert await raise_due(box) == 0 and await board.drain() == 0  # same episode: told already

    now = clock()
    await box.call(
        sources.record_success, box.source_id, now, now, etag=None, last_modified=None, body_hash=None
    )
    assert await raise_due(box) == 3
    assert await board.drain() == 3
    assert "works again" in fake.messages(fake.channel.id)[-1]["content"]
    assert "works again" in fake.messages(other_channel)[-1]["content"]
    assert out.getvalue().count("regwatch notice: ") == 2
    assert await raise_due(box) == 0


async def test_server_notices_wait_for_discord_and_a_server_that_never_takes_one_drops_it(
    box: Outbox, clock: Clock
) -> None:
    gone = 424242424242424242  # a server the bot is no longer in
    await box.subscribe(target="discord:1", guild_id=gone)
    out = io.StringIO()
    board = NoticeBoard(box.adb, stream=out, clock=clock)
    await fail_poll(box)
    clock.advance(days=1)
    assert await raise_due(box) == 2

    assert await board.drain() == 1  # the console now; the server's waits for Discord
    [waiting] = await box.call(notices.pending)
    assert (waiting.target, waiting.attempts) == (f"guild:{gone}", 0)

    tried: list[int] = []

    async def refusing(guild_id: int, text: str) -> bool:
        tried.append(guild_id)
        return False

    board.set_poster(refusing)
    for _ in range(MAX_ATTEMPTS - 1):
        assert await board.drain() == 0
    [still] = await box.call(notices.pending)
    assert still.attempts == MAX_ATTEMPTS - 1
    assert await board.drain() == 1  # given up after MAX_ATTEMPTS, and logged
    assert await box.call(notices.pending) == []
    assert tried == [gone] * MAX_ATTEMPTS


async def test_a_silent_source_is_told_once_and_news_closes_the_episode(box: Outbox, clock: Clock) -> None:
    sub = await box.subscribe()
    await box.enqueue(sub)  # a poll with a new item: last_ok_at and last_new_item_at are now
    out = io.StringIO()
    board = NoticeBoard(box.adb, stream=out, clock=clock)
    quiet = timedelta(days=2)

    clock.advance(days=1)
    assert await raise_due(box, quiet) == 0
    clock.advance(days=1)
    assert await raise_due(box, quiet) == 1  # console only: no server uses the source
    assert await board.drain() == 1
    assert "answers but has had no new items since" in out.getvalue() and "more than 2 days" in out.getvalue()
    clock.advance(days=3)
    assert await raise_due(box, quiet) == 0  # still the same silence

    await box.enqueue(sub)  # news again
    assert await raise_due(box, quiet) == 0  # the episode closes without a notice
    source = await box.call(sources.get, box.source_id)
    assert source is not None and source.notice is None
    clock.advance(days=2)
    assert await raise_due(box, quiet) == 1  # a new silence is a new episode


async def test_a_console_notice_that_cannot_be_printed_waits_for_the_next_drain(
    box: Outbox, clock: Clock, broken_pipe: TextIO
) -> None:
    await fail_poll(box)
    clock.advance(days=1)
    assert await raise_due(box) == 1
    assert await NoticeBoard(box.adb, stream=broken_pipe, clock=clock).drain() == 0  # the reader went away
    [waiting] = await box.call(notices.pending)
    assert waiting.target == "console"

    out = io.StringIO()
    assert await NoticeBoard(box.adb, stream=out, clock=clock).drain() == 1
    assert out.getvalue().count("has been failing since") == 1
    assert await box.call(notices.pending) == []


async def test_gateways_post_each_server_notice_once_and_leave_the_console_to_the_workers(
    box: Outbox, clock: Clock, discord_at_fake: FakeDiscord, client: discord.Client
) -> None:
    fake = discord_at_fake
    other = fake.add_guild("Other server")
    await fake.wait_for(lambda: client.get_guild(other.id), what="the second server in the cache")
    for guild_id in (fake.guild.id, other.id):
        await box.subscribe(target=f"discord:{fake.channel.id}", guild_id=guild_id)
    await fail_poll(box)
    clock.advance(days=1)
    assert await raise_due(box) == 3  # the console and both servers

    # Two gateways on one database, both with both servers in their cache (unsharded).
    first = NoticeBoard(box.adb, clock=clock)
    second = NoticeBoard(box.adb, clock=clock)
    first.share("gateway-a", 30, lambda guild_id: True)
    second.share("gateway-b", 30, lambda guild_id: True)
    second.set_poster(partial(post_guild_notice, client))
    while_posting: list[int] = []

    async def post_while_the_other_drains(guild_id: int, text: str) -> bool:
        # The first gateway holds its claim mid-post while the second drains: the second must
        # leave that notice alone (and may post the other server's).
        while_posting.append(await second.drain())
        return await post_guild_notice(client, guild_id, text)

    first.set_poster(post_while_the_other_drains)
    # The first read both notices, then found the second's posted under its claim: not again.
    assert await first.drain() == 1
    assert while_posting == [1]
    assert await second.drain() == 0
    assert [len(fake.messages(fake.channel.id)), len(fake.messages(other.system_channel_id or 0))] == [1, 1]
    [console] = await box.call(notices.pending)  # printed by the workers' notices chore, not here
    assert console.target == "console"
    assert await box.call(leases.held, "notice") == []  # every claim given up


async def test_a_gateway_posts_only_the_notices_of_servers_on_its_shards(
    box: Outbox, clock: Clock, discord_at_fake: FakeDiscord, client: discord.Client
) -> None:
    fake = discord_at_fake
    await box.subscribe(target=f"discord:{fake.channel.id}", guild_id=fake.guild.id)
    await fail_poll(box)
    clock.advance(days=1)
    assert await raise_due(box) == 2
    elsewhere = NoticeBoard(box.adb, clock=clock)
    elsewhere.share("gateway-a", 30, lambda guild_id: guild_id != fake.guild.id)
    elsewhere.set_poster(partial(post_guild_notice, client))
    assert await elsewhere.drain() == 0
    waiting = [n for n in await box.call(notices.pending) if n.target.startswith("guild:")]
    assert [n.attempts for n in waiting] == [0]  # not counted as a failed attempt: not its server
    assert fake.messages(fake.channel.id) == []
