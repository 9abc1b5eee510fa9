"""The tick on a real database and real polls of local feeds: due sources by the injected clock, limits, stop.

Requests that must stay in flight are held by a local server until the test releases them, so
nothing here depends on how fast the machine is.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest
from aiohttp import web

from bot.domain.vendors import VendorCatalog
from bot.pipeline.matching import MatcherCache
from bot.pipeline.poll_scheduler import PollScheduler
from bot.pipeline.poller import Poller, PollPolicy, PollResult
from bot.sources.http import Fetcher
from bot.storage import sources
from bot.storage.db import AsyncDatabase, connect
from bot.storage.sources import Source, SourceConfig
from tests.delivery.harness import Clock
from tests.delivery.kit import tomorrow_at, wait_until
from tests.feedserver import FeedServer
from tests.helpers import fixture_bytes

NASA = "spec_rss2sample_nasa_liftoff.xml"
INTERVAL = 900


class HeldFeeds:
    """A local feed server that holds every request until the test lets some through."""

    def __init__(self) -> None:
        self.body = fixture_bytes(NASA)
        self.in_flight = 0
        self.max_in_flight = 0
        self.served: list[str] = []
        self._tickets = asyncio.Semaphore(0)
        self._runner: web.AppRunner | None = None
        self.port = 0

    def let_through(self, count: int = 1) -> None:
        """Answer `count` held (or future) requests."""
        for _ in range(count):
            self._tickets.release()

    async def _handle(self, request: web.Request) -> web.Response:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await self._tickets.acquire()
        finally:
            self.in_flight -= 1
        self.served.append(request.path)
        return web.Response(body=self.body, content_type="application/rss+xml")

    def url(self, path: str) -> str:
        """Return the URL of a path on this server."""
        return f"http://127.0.0.1:{self.port}{path}"

    async def __aenter__(self) -> HeldFeeds:
        app = web.Application()
        app.router.add_get("/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, handler_cancellation=True, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.let_through(100)  # never leave a handler waiting
        if self._runner is not None:
            await self._runner.cleanup()


@dataclass
class Rig:
    """A real database, poller and scheduler on the injected clock; poll results as they come."""

    adb: AsyncDatabase
    clock: Clock
    poller: Poller
    results: list[PollResult] = field(default_factory=list)

    def scheduler(self, concurrency: int = 4) -> PollScheduler:
        """Return a scheduler over the rig's poller."""
        return PollScheduler(
            self.adb,
            self.poller,
            concurrency=concurrency,
            tick_seconds=1,
            clock=self.clock,
            on_result=self.results.append,
        )

    async def add(self, name: str, url: str, *, at: timedelta = timedelta(0)) -> Source:
        """Add a source first due `at` after the clock's now."""
        return await self.adb.call(sources.add, SourceConfig(name, url), self.clock() + at)

    async def polled(self, count: int) -> list[PollResult]:
        """Wait until `count` polls have finished in all; return their results."""
        await wait_until(lambda: len(self.results) >= count, what=f"{count} finished polls")
        return self.results


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    """Yield the rig on a fresh SQLite file; polls are never jittered so due times are exact."""
    clock = Clock(tomorrow_at(12))
    adb = AsyncDatabase(connect(tmp_path / "regwatch.db"))
    vendors = VendorCatalog.load_default()
    try:
        async with Fetcher(
            user_agent="regwatch-tests", timeout=30, connect_timeout=10, allow_private=True
        ) as fetcher:
            policy = PollPolicy(interval_seconds=INTERVAL, jitter=0.0)
            yield Rig(adb, clock, Poller(adb, fetcher, MatcherCache(adb, vendors), policy, clock=clock))
    finally:
        await adb.close()


async def test_a_tick_polls_the_sources_due_by_the_injected_clock(rig: Rig, feed_server: FeedServer) -> None:
    now = rig.clock()
    feed_server.serve_fixture("/a.xml", NASA)
    feed_server.serve_fixture("/b.xml", NASA)
    feed_server.serve_fixture("/c.xml", NASA)
    a = await rig.add("A", feed_server.url("/a.xml"))
    b = await rig.add("B", feed_server.url("/b.xml"), at=timedelta(minutes=10))
    c = await rig.add("C", feed_server.url("/c.xml"))
    await rig.adb.call(lambda db: db.execute("UPDATE sources SET enabled = 0 WHERE id = ?", (c.id,)))
    scheduler = rig.scheduler()

    assert await scheduler.tick() == 1
    [first] = await rig.polled(1)
    assert (first.source_id, first.status) == (a.id, "primed")
    polled_a = await rig.adb.call(sources.get, a.id)
    assert polled_a is not None and polled_a.next_check_at == now + timedelta(seconds=INTERVAL)

    rig.clock.advance(minutes=9, seconds=59)
    assert await scheduler.tick() == 0
    rig.clock.advance(seconds=1)
    assert await scheduler.tick() == 1
    assert [r.source_id for r in await rig.polled(2)] == [a.id, b.id]
    rig.clock.now = now + timedelta(seconds=INTERVAL)
    assert await scheduler.tick() == 1
    assert [r.source_id for r in await rig.polled(3)] == [a.id, b.id, a.id]
    assert rig.results[-1].status == "unchanged"
    assert (feed_server.hits("/a.xml"), feed_server.hits("/b.xml"), feed_server.hits("/c.xml")) == (2, 1, 0)


async def test_a_source_still_being_polled_is_not_started_twice(rig: Rig) -> None:
    async with HeldFeeds() as held:
        source = await rig.add("Held", held.url("/held.xml"))
        scheduler = rig.scheduler()
        assert await scheduler.tick() == 1
        await wait_until(lambda: held.in_flight == 1, what="the held request")
        rig.clock.advance(hours=1)  # overdue again, but its poll has not finished
        assert await scheduler.tick() == 0
        held.let_through()
        [result] = await rig.polled(1)
        assert (result.source_id, result.status) == (source.id, "primed")
        assert held.served == ["/held.xml"]
        await scheduler.stop(grace=5)


async def test_no_more_polls_run_at_once_than_the_concurrency_allows(rig: Rig) -> None:
    async with HeldFeeds() as held:
        for n in range(3):
            await rig.add(f"Source {n}", held.url(f"/{n}.xml"))
        scheduler = rig.scheduler(concurrency=1)
        assert await scheduler.tick() == 3
        for done in range(1, 4):
            await wait_until(lambda: held.in_flight == 1, what="the next poll's request")
            held.let_through()
            await rig.polled(done)
        assert held.max_in_flight == 1
        assert sorted(held.served) == ["/0.xml", "/1.xml", "/2.xml"]


async def test_a_crashing_poll_is_reported_and_the_other_sources_still_run(
    rig: Rig, feed_server: FeedServer
) -> None:
    feed_server.serve_fixture("/ok.xml", NASA)
    broken = await rig.add("Broken row", feed_server.url("/broken.xml"))
    # A row no code path writes (options must be a table): polling it raises inside the poller.
    await rig.adb.call(lambda db: db.execute("UPDATE sources SET options = '[]' WHERE id = ?", (broken.id,)))
    ok = await rig.add("OK", feed_server.url("/ok.xml"))
    scheduler = rig.scheduler()

    assert await scheduler.tick() == 2
    results = {r.source_id: r for r in await rig.polled(2)}
    assert results[ok.id].status == "primed"
    crashed = results[broken.id]
    assert crashed.status == "failed" and crashed.error is not None
    assert crashed.error.startswith("internal error: AttributeError")
    assert scheduler.running is False  # tick() was called directly; nothing was scheduled
    rig.clock.advance(seconds=1)
    assert await scheduler.tick() == 1  # the broken source is still due: it is tried again


async def test_stop_lets_polls_in_flight_finish_within_the_grace_and_cancels_the_rest(rig: Rig) -> None:
    async with HeldFeeds() as held:
        finishing = await rig.add("Finishing", held.url("/finishing.xml"))
        scheduler = rig.scheduler(concurrency=1)
        assert await scheduler.tick() == 1
        await wait_until(lambda: held.in_flight == 1, what="the held request")
        stopping = asyncio.create_task(scheduler.stop(grace=60))
        held.let_through()
        await asyncio.wait_for(stopping, timeout=30)
        [result] = rig.results
        assert (result.source_id, result.status) == (finishing.id, "primed")

        stuck = await rig.add("Stuck", held.url("/stuck.xml"))
        scheduler = rig.scheduler()
        assert await scheduler.tick() == 1
        await wait_until(lambda: held.in_flight == 1, what="the held request")
        await scheduler.stop(grace=0.01)  # the request is never answered: the poll is cancelled
        source = await rig.adb.call(sources.get, stuck.id)
        assert source is not None and source.last_polled_at is None and not source.primed
        assert len(rig.results) == 1


async def test_start_runs_the_first_tick_at_once_whatever_the_injected_clock_says(
    rig: Rig, feed_server: FeedServer
) -> None:
    feed_server.serve_fixture("/a.xml", NASA)
    source = await rig.add("A", feed_server.url("/a.xml"))
    rig.clock.advance(days=30)  # the domain clock is far from the wall clock APScheduler runs on
    scheduler = rig.scheduler()
    scheduler.start()
    try:
        assert scheduler.running
        [result] = await rig.polled(1)
        assert result.source_id == source.id
    finally:
        with contextlib.suppress(Exception):
            await scheduler.stop(grace=5)
    assert not scheduler.running
