"""The gateway role: the Discord client on a range of shards answers slash commands and polls nothing."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.chat.client import ShardedRegwatchBot
from bot.domain.errors import ConfigError
from bot.roles import run_gateway, serve_gateway
from bot.settings import load_settings
from tests.chat.running import FEED, regwatch_at
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
