"""Concurrent polls' documents go to the parse workers in batches, each keeping its own outcome."""

from __future__ import annotations

import asyncio
import time

import pytest

from bot.domain.errors import ParseError
from bot.pipeline.parse_batches import Coalescing
from bot.sources.adapters import parse_document
from bot.sources.workers import ParseTimeout, WorkerPool, WorkerStopped
from tests.helpers import fixture_bytes

NASA = "spec_rss2sample_nasa_liftoff.xml"
FOREVER = 3600.0  # a call that never ends by itself: only the deadline or close() stops it


class Counted(WorkerPool):
    """The real pool, counting its round trips."""

    def __init__(self, size: int, timeout: float) -> None:
        super().__init__(size, timeout)
        self.batches: list[int] = []

    async def run_many(self, calls):  # type: ignore[no-untyped-def]
        self.batches.append(len(calls))
        return await super().run_many(calls)


async def test_documents_asked_for_together_share_round_trips_and_come_back_whole() -> None:
    body = fixture_bytes(NASA)
    pool = Counted(1, timeout=60)
    work = Coalescing(pool, pool.size)
    try:
        parsed = await asyncio.gather(
            *(work.run(parse_document, "feed", body, url=f"https://www.nasa.gov/rss/{n}") for n in range(12))
        )
    finally:
        await work.close()
    assert parsed == [parse_document("feed", body, url=f"https://www.nasa.gov/rss/{n}") for n in range(12)]
    assert sum(pool.batches) == 12
    assert len(pool.batches) < 12  # the first goes alone; those asked for meanwhile go together


async def test_a_failing_or_overrunning_document_fails_alone() -> None:
    pool = Counted(1, timeout=5)
    work = Coalescing(pool, pool.size)
    try:
        outcomes = await asyncio.gather(
            work.run(len, "ab"),
            work.run(time.sleep, FOREVER),
            work.run(parse_document, "feed", b"plain text, not a feed"),
            work.run(divmod, 7, 2),
            return_exceptions=True,
        )
    finally:
        await work.close()
    assert outcomes[0] == 2 and outcomes[3] == (3, 1)
    assert isinstance(outcomes[1], ParseTimeout) and isinstance(outcomes[2], ParseError)


async def test_close_stops_waiting_and_later_calls() -> None:
    pool = WorkerPool(1, timeout=FOREVER)
    work = Coalescing(pool, pool.size)
    running = asyncio.create_task(work.run(time.sleep, FOREVER))
    waiting = asyncio.create_task(work.run(len, "abc"))  # behind the first: the only slot is busy
    deadline = time.monotonic() + 120
    while pool.in_flight == 0:
        assert time.monotonic() < deadline, "the call never reached a worker"
        await asyncio.sleep(0.01)
    await work.close()
    for call in (running, waiting):
        with pytest.raises(WorkerStopped):
            await asyncio.wait_for(call, 60)
    with pytest.raises(WorkerStopped):
        await work.run(len, "abc")


async def test_a_cancelled_caller_does_not_stop_the_others() -> None:
    pool = WorkerPool(1, timeout=60)
    work = Coalescing(pool, pool.size)
    try:
        first = asyncio.create_task(work.run(len, "a"))
        gone = asyncio.create_task(work.run(len, "bb"))
        kept = asyncio.create_task(work.run(len, "ccc"))
        await asyncio.sleep(0)
        gone.cancel()
        assert await first == 1 and await kept == 3
        assert gone.cancelled()
    finally:
        await work.close()
