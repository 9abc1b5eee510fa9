"""A running regwatch wired to the fake Discord and a local feed server, for chat-level tests.

`regwatch_at` runs the app's own composition (build_services + start_discord) in this process;
the `app` fixture (tests/chat/conftest.py) yields one whose single source is not yet polled.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bot.app import Services, build_services, start_discord
from bot.chat.client import RegwatchBot
from bot.domain.clock import utcnow
from bot.pipeline.poller import PollResult
from bot.settings import load_settings
from tests.fakediscord import FakeDiscord
from tests.feedserver import FeedServer
from tests.helpers import rss_item, with_items

NASA = "spec_rss2sample_nasa_liftoff.xml"
MESSAGES = r"^/channels/\d+/messages$"
FEED = "/feed.xml"
KASPERSKY_TITLE = "Commerce bans Kaspersky Lab software from US networks"
KASPERSKY_LINK = "https://www.bis.gov/press/kaspersky-final-determination"
SUBSCRIBED = re.compile(r"\(subscription (\d+)\)")
# What Discord's markdown shows for "\x": the character x (any ASCII punctuation can be escaped).
DISCORD_ESCAPE = re.compile(r"\\([^0-9A-Za-z\s])")


class ShiftedClock:
    """The real time plus an offset a test can move forward (regwatch's injected clock)."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return utcnow() + self.offset


@dataclass
class Regwatch:
    """A running regwatch (services + Discord client) wired to the fake Discord and a feed server."""

    fake: FakeDiscord
    feeds: FeedServer
    services: Services
    bot: RegwatchBot
    clock: ShiftedClock
    items: list[str] = field(default_factory=list)

    async def prime(self) -> None:
        """Poll once so the source is primed (its first poll records and alerts nothing)."""
        [result] = await self.services.scheduler.poll_all()
        assert result.status == "primed", result

    def publish(self, *items: str) -> None:
        """Put new items at the top of the local feed (they stay there for later polls)."""
        self.items[:0] = items
        self.feeds.set(FEED, with_items(NASA, *self.items))

    async def poll_and_deliver(self) -> tuple[PollResult, int]:
        """Poll the feed and drain the outbox; return the poll result and how many alerts were sent."""
        [result] = await self.services.scheduler.poll_all()
        drained = await self.services.dispatcher.drain()
        return result, drained.sent

    async def outbox_rows(self) -> list[tuple[Any, ...]]:
        """Return (id, status, target, subscription_id, external_id) of every outbox row."""
        return await self.services.adb.call(
            lambda db: db.execute(
                "SELECT id, status, target, subscription_id, external_id FROM outbox ORDER BY id"
            ).fetchall()
        )

    async def add_alerts_channel(self) -> Any:
        """Add a text channel to the fake server and wait until the bot has it in its cache."""
        channel = self.fake.add_channel("vendor-alerts")
        guild = self.bot.get_guild(self.fake.guild.id)
        assert guild is not None
        await self.fake.wait_for(lambda: guild.get_channel(channel.id))
        return channel

    async def subscribe(self, query: str, **kw: Any) -> int:
        """Run /watch keywords as the admin and return the new subscription's id."""
        result = await self.fake.invoke(
            "watch keywords", options={"query": query, **kw.pop("options", {})}, **kw
        )
        found = SUBSCRIBED.search(result.content)
        assert found, result.content
        return int(found.group(1))


def kaspersky_item(title: str = KASPERSKY_TITLE, link: str = KASPERSKY_LINK, **kw: Any) -> str:
    """Return a fresh RSS item about Kaspersky."""
    return rss_item(
        title,
        link,
        guid=link,
        published=kw.pop("published", datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)),
        description=kw.pop(
            "description",
            "The Commerce Department prohibits the sale of Kaspersky Lab antivirus software. "
            "Existing users have until September to switch.",
        ),
    )


def shown(text: str) -> str:
    """Return what Discord displays for escaped text: escapes resolved, zero-width spaces invisible."""
    return DISCORD_ESCAPE.sub(r"\1", text).replace("\u200b", "")


@contextlib.asynccontextmanager
async def regwatch_at(
    fake: FakeDiscord, feeds: FeedServer, tmp_path: Path, **overrides: Any
) -> AsyncIterator[Regwatch]:
    """Start regwatch's services and Discord client against the fake; stop them afterwards."""
    feeds.set(FEED, with_items(NASA))
    sources = tmp_path / "sources.toml"
    sources.write_text(f'[[source]]\nname = "Local news"\nurl = "{feeds.url(FEED)}"\n')
    no_console_subscriptions = tmp_path / "subscriptions.toml"
    no_console_subscriptions.write_text("")
    settings = load_settings(
        **{
            "database_path": tmp_path / "regwatch.db",
            "sources_file": sources,
            "subscriptions_file": no_console_subscriptions,
            "allow_private_networks": True,
            "poll_interval_seconds": 5,
            "http_timeout_seconds": 5,
            "discord_token": fake.token,
            "discord_api_base": fake.api_base,
            "discord_gateway_url": fake.gateway_url,
            "discord_dev_guild_id": None,
            **overrides,
        }
    )
    clock = ShiftedClock()
    async with build_services(settings, clock=clock) as services:
        bot = await start_discord(services, guild_ready_timeout=0.01)
        assert bot.connection_task is not None
        try:
            ready = asyncio.create_task(bot.ready.wait())
            done, _ = await asyncio.wait(
                {ready, bot.connection_task}, timeout=30, return_when=asyncio.FIRST_COMPLETED
            )
            ready.cancel()
            assert ready in done, f"bot not ready: {bot.connection_task}"
            yield Regwatch(fake, feeds, services, bot, clock)
            assert not bot.connection_task.done(), "the Discord connection ended during the test"
        finally:
            await bot.close()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(bot.connection_task, 30)
