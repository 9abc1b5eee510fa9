"""The gateway role: the Discord client on a range of shards answers slash commands and polls nothing."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest

from bot.chat.client import ShardedRegwatchBot
from bot.domain.errors import ConfigError
from bot.roles import run_gateway, serve_gateway, start_gateway_notices
from bot.settings import load_settings
from bot.storage import notices, sources, subscriptions
from tests.chat.running import FEED, regwatch_at
from tests.delivery.kit import wait_until
from tests.fakediscord import FakeDiscord
from tests.feedserver import FeedServer


async def test_a_gateway_on_shard_1_of_2_identifies_so_and_answers_commands(
    discord_at_fake: FakeDiscord, feed_server: FeedServer, tmp_path: Path
):
    fake = discord_at_fake
    async with regwatch_at(fake, feed_server, tmp_path, discord_shard_count=2, discord_shard_ids="1") as app:
        assert isinstance(app.bot, ShardedRegwatchBot)
        assert [i["shard"] for i in fake.gateway.identifies] == [[1, 2]]
        result = await fake.invoke("watch keywords", options={"query": "kaspersky"})
        assert "subscription" in result.content
        listed = await fake.invoke("watch list")
        assert "kaspersky" in listed.content
        # The gateway role polls nothing: nothing here started the scheduler.
        assert not app.services.scheduler.running
        assert feed_server.hits(FEED) == 0
        stop = asyncio.Event()
        stop.set()
        assert await serve_gateway(app.bot, stop) == 0


async def test_the_gateway_needs_a_token(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    settings = load_settings(database_path=tmp_path / "regwatch.db", discord_token="")
    with pytest.raises(ConfigError, match="REGWATCH_DISCORD_TOKEN"):
        await run_gateway(settings)


def test_shard_ids_are_a_range_or_a_list_below_the_count():
    assert load_settings(discord_shard_count=8, discord_shard_ids="0-2,5").shard_ids == [0, 1, 2, 5]
    assert load_settings(discord_shard_count=8).shard_ids is None
    for bad, reason in [
        ({"discord_shard_ids": "1"}, "needs REGWATCH_DISCORD_SHARD_COUNT"),
        ({"discord_shard_count": 2, "discord_shard_ids": "1-2"}, "not below"),
        ({"discord_shard_count": 2, "discord_shard_ids": "one"}, "written 0-3 or 0,2,5"),
        ({"discord_shard_count": 4, "discord_shard_ids": "3-1"}, "backwards"),
    ]:
        with pytest.raises(ConfigError, match=reason) as raised:
            load_settings(**bad)
        assert str(raised.value).startswith("REGWATCH_DISCORD_SHARD_IDS")


async def test_gateways_post_the_servers_source_notices_that_workers_keep_once_between_them(
    discord_at_fake: FakeDiscord, feed_server: FeedServer, tmp_path: Path, pg_url: str
):
    fake = discord_at_fake
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    async with (
        regwatch_at(fake, feed_server, tmp_path / "a", database_url=pg_url) as one,
        regwatch_at(fake, feed_server, tmp_path / "b", database_url=pg_url) as two,
    ):
        adb, now = one.services.adb, one.clock()
        # What a worker leaves: a failing source used by this server, its notices raised.
        await adb.call(
            subscriptions.add, "kaspersky", f"discord:{fake.channel.id}", now, guild_id=fake.guild.id
        )
        [source] = await adb.call(sources.list_sources)
        await adb.call(sources.record_failure, source.id, now, "HTTP 503 Service Unavailable", now)
        raised = await adb.call(
            notices.raise_due,
            now,
            failing_after=timedelta(0),
            silent_after=None,
            retry_cap=timedelta(hours=6),
        )
        assert raised == 2  # the console and the server

        async def only_the_consoles_left() -> bool:
            # The workers print the console's notice; the server's is posted and recorded.
            return [n.target for n in await adb.call(notices.pending)] == ["console"]

        tasks = [
            start_gateway_notices(app.services, app.bot, f"gateway-{n}") for n, app in enumerate((one, two))
        ]
        try:
            await wait_until(only_the_consoles_left, what="the server's notice posted and recorded")
            # Each gateway drains again (a tick) with nothing left to post.
            for app in (one, two):
                assert await app.services.notices.drain() == 0
        finally:
            for task in tasks:
                task.cancel()
        posted = [m for m in fake.messages(fake.channel.id) if "has been failing since" in m["content"]]
        assert len(posted) == 1
