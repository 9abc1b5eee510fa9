"""A long-running worker's polling (bot/roles.py share_work): it claims only what its free poll
slots can start, and claims again as each poll ends, on a real SQLite file and a local feed server.

A worker that claimed only at its ticks polled at most REGWATCH_POLL_CONCURRENCY sources per tick
and idled between them: 300 feeds answering in 200 ms took it 150 s to prime where `regwatch run`
took 30 s. Here one tick is all the worker gets, so without the refill the polls stop at two.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from bot.app import build_services
from bot.roles import share_work
from bot.storage import leases, sources
from bot.storage.db import connect
from tests.delivery.kit import wait_until
from tests.feedserver import FeedServer
from tests.helpers import local_settings, sources_toml, with_items
from tests.pipeline.test_poll_scheduler import HeldFeeds

NASA = "spec_rss2sample_nasa_liftoff.xml"
FEEDS = 12
SLOTS = 2


def _primed(db: object) -> int:
    return sum(1 for s in sources.list_sources(db) if s.primed)  # type: ignore[arg-type]


async def test_a_worker_claims_again_as_each_poll_ends_and_keeps_to_its_slots(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    # Slow answers, so that polls overlap and a slot is reused while the other is busy.
    urls = [(f"F{n}", feed_server.set(f"/f{n}.xml", with_items(NASA), delay=0.05)) for n in range(FEEDS)]
    # The per-host limit is above the slots: only the worker's claims keep it to two at once.
    settings = local_settings(tmp_path, sources_toml(*urls), poll_concurrency=SLOTS, http_per_host=FEEDS)
    async with build_services(settings) as services:
        share_work(services, leases.new_owner("worker"))
        scheduler = services.scheduler
        assert await scheduler.tick() == SLOTS  # claims what its free slots can start, no more
        await _until_primed(services.adb, FEEDS)
        await scheduler.stop(grace=30)
        assert scheduler.busy == 0
    assert feed_server.max_in_flight <= SLOTS
    assert sorted(r.path for r in feed_server.requests) == sorted(f"/f{n}.xml" for n in range(FEEDS))


async def _until_primed(adb: object, count: int) -> None:
    async def primed() -> bool:
        return await adb.call(_primed) >= count  # type: ignore[attr-defined,no-any-return]

    await wait_until(primed, timeout=60, what=f"{count} sources polled after one tick")


async def test_a_stopping_worker_claims_nothing_more_as_its_last_polls_end(tmp_path: Path) -> None:
    async with HeldFeeds() as held:
        urls = [(f"H{n}", held.url(f"/h{n}.xml")) for n in range(FEEDS)]
        settings = local_settings(tmp_path, sources_toml(*urls), poll_concurrency=SLOTS)
        async with build_services(settings) as services:
            share_work(services, leases.new_owner("worker"))
            assert await services.scheduler.tick() == SLOTS
            await wait_until(lambda: held.in_flight == SLOTS, what="the first claims' requests")
            stopping = asyncio.create_task(services.scheduler.stop(grace=30))
            # stop() has begun and waits for the held polls (a condition, not a time)
            await wait_until(lambda: services.scheduler._stopping, what="the scheduler stopping")
            assert not stopping.done() and held.in_flight == SLOTS
            held.let_through(SLOTS)  # the polls end while the worker stops: no claim follows them
            await asyncio.wait_for(stopping, timeout=30)
            assert await services.adb.call(_primed) == SLOTS
        assert len(held.served) == SLOTS and held.in_flight == 0
        # The sources not polled were not claimed either: still due at once for the next worker.
        db = connect(settings.database_path)
        unpolled = [s for s in sources.list_sources(db) if not s.primed]
        db.conn.close()
        assert len(unpolled) == FEEDS - SLOTS
        assert all(s.created_at is not None and s.next_check_at <= s.created_at for s in unpolled)
