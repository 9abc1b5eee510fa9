"""A regwatch with an injected clock, a console sink writing to a buffer, and one local feed."""

from __future__ import annotations

import contextlib
import io
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from bot.app import Services, build_services
from bot.delivery.console import ConsoleSink
from bot.domain.delivery_schedule import parse_schedule
from bot.settings import load_settings
from bot.storage import delivery_settings, subscriptions
from tests.feedserver import FeedServer
from tests.helpers import rss_item, with_items

NASA = "spec_rss2sample_nasa_liftoff.xml"
FEED = "/feed.xml"


class Clock:
    """The injected clock: a fixed time a test moves forward."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> None:
        self.now += timedelta(**kw)


@dataclass
class Bot:
    """One run of regwatch (a process's life): services, its console output, the feed."""

    services: Services
    clock: Clock
    feeds: FeedServer
    out: io.StringIO
    items: list[str] = field(default_factory=list)

    def printed(self) -> str:
        """Return what was printed so far and forget it."""
        text = self.out.getvalue()
        self.out.seek(0)
        self.out.truncate()
        return text

    def publish(self, title: str, link: str, **kw: Any) -> None:
        """Put a new item on top of the feed, published a minute before the clock's now."""
        published = kw.pop("published", self.clock() - timedelta(minutes=1))
        self.items.insert(0, rss_item(title, link, guid=link, published=published, **kw))
        self.feeds.set(FEED, with_items(NASA, *self.items))

    async def poll(self) -> None:
        """Poll the feed and drain the outbox, as the running service does."""
        await self.services.scheduler.poll_all()
        await self.services.dispatcher.drain()

    async def call(self, fn: Any, *args: Any, **kw: Any) -> Any:
        return await self.services.adb.call(fn, *args, **kw)

    async def subscribe(
        self, query: str, mode: str = "instant", at: str | None = None, day: str | None = None, **kw: Any
    ) -> int:
        sub = await self.call(subscriptions.add, query, "console", self.clock())
        schedule = parse_schedule(mode, at, day, **kw)
        await self.call(delivery_settings.set_schedule, sub.id, schedule, self.clock())
        return int(sub.id)


@contextlib.asynccontextmanager
async def running(tmp_path: Path, feeds: FeedServer, clock: Clock, items: list[str]) -> AsyncIterator[Bot]:
    """Start regwatch's services on tmp_path's database (kept across runs: a restart is a new run)."""
    feeds.set(FEED, with_items(NASA, *items))
    sources = tmp_path / "sources.toml"
    sources.write_text(f'[[source]]\nname = "Local news"\nurl = "{feeds.url(FEED)}"\n')
    no_subs = tmp_path / "subscriptions.toml"
    no_subs.write_text("")
    settings = load_settings(
        database_path=tmp_path / "regwatch.db",
        sources_file=sources,
        subscriptions_file=no_subs,
        allow_private_networks=True,
        poll_interval_seconds=5,
        discord_token=None,
    )
    out = io.StringIO()
    async with build_services(settings, sinks={"console": ConsoleSink(out)}, clock=clock) as services:
        bot = Bot(services, clock, feeds, out, items)
        assert services.digests is not None
        await services.digests.start()
        try:
            yield bot
        finally:
            await services.digests.stop()
